-- The combine reads a partition's changed keys from each source's change feed (a full combine reads every key of
-- the partition). With the title's id in the feed's index that read is an index-only scan, instead of a visit to
-- each changed document's heap page: on 1.2M titles, 72 s of a full combine (summed over partitions) before.
DROP INDEX raw.documents_changes;
CREATE INDEX documents_changes ON raw.documents (source, media, shard, change_xid) INCLUDE (tmdb_id)
    WHERE change_xid IS NOT NULL;
