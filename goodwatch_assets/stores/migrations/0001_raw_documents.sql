-- The raw layer on PostgreSQL (the document-store backend used when MONGODB_URI is unset).
-- One row per (source, media, tmdb_id): the source's payload, its canonical record, and the
-- work-queue state of that title for that source.
CREATE SCHEMA IF NOT EXISTS raw;

CREATE TABLE raw.documents (
    source          text        NOT NULL,
    media           text        NOT NULL CHECK (media IN ('movie', 'tv')),
    tmdb_id         integer     NOT NULL,
    shard           smallint    NOT NULL,
    popularity      double precision,
    hints           jsonb       NOT NULL DEFAULT '{}'::jsonb,
    payload         jsonb,
    record          jsonb,
    payload_hash    text,
    source_url      text,
    status          text        NOT NULL DEFAULT 'pending',
    attempts        integer     NOT NULL DEFAULT 0,
    error           text,
    quarantine_body bytea,       -- the raw body that could not be used, byte for byte
    next_attempt_at timestamptz,
    reserved_until  timestamptz,
    fetched_at      timestamptz,
    changed_at      timestamptz,
    -- Transaction that last changed the payload: the change feed reads ids below the oldest
    -- running transaction, so a write that commits late is never skipped by a watermark.
    change_xid      xid8,
    created_at      timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (source, media, tmdb_id)
);

-- Lane 1: never fetched, most popular first ...
CREATE INDEX documents_never_fetched ON raw.documents (source, media, shard, popularity DESC NULLS LAST)
    WHERE fetched_at IS NULL;
-- ... then least recently fetched.
CREATE INDEX documents_by_fetched_at ON raw.documents (source, media, shard, fetched_at)
    WHERE fetched_at IS NOT NULL;
CREATE INDEX documents_changes ON raw.documents (source, change_xid);
CREATE INDEX documents_status ON raw.documents (source, status);
