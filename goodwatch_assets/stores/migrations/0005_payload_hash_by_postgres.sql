-- PostgreSQL now computes the change hash itself, md5 of the stored JSONB's text (0003 onwards); hashes of
-- documents written before were another function of the payload. Recomputed once, so the next write of an
-- unchanged payload is seen as unchanged instead of passing through every change feed again.
UPDATE raw.documents SET payload_hash = md5(payload::text)
WHERE payload IS NOT NULL AND payload_hash IS DISTINCT FROM md5(payload::text);
