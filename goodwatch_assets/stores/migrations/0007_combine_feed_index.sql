-- The combine reads each source's change feed one catalog partition at a time (and a full rebuild reads a
-- partition's every change): index the feed by partition, so a partition's read costs that partition's rows.
DROP INDEX raw.documents_changes;
CREATE INDEX documents_changes ON raw.documents (source, media, shard, change_xid) WHERE change_xid IS NOT NULL;
