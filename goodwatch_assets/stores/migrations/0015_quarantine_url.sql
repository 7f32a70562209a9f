-- A quarantined title keeps, beside the body that could not be used, the URL that body came from and when it was
-- quarantined: a page-finding source's replay verifies the kept page by its URL (source_url stays the last verified
-- page, which the next fetch tries first), and `goodwatch quarantine list` shows the newest first. Both are NULL while
-- a title is not quarantined; titles quarantined before this migration have no time and no URL.
ALTER TABLE raw.documents
    ADD COLUMN quarantine_url text,
    ADD COLUMN quarantined_at timestamptz;
