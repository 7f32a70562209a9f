-- Page-finding sources (Metacritic, Rotten Tomatoes, TV Tropes): several titles may claim one page, and the best
-- claimant keeps it; claimants are found by the page's canonical URL among the documents that hold a page.
CREATE INDEX documents_held_pages ON raw.documents (source, source_url) WHERE status = 'ok' AND source_url IS NOT NULL;

-- Blocks of a site (a challenge, an empty 202, pages without data): each one logged, besides the cool-down it sets.
CREATE TABLE site_blocks (
    site        text        NOT NULL,
    blocked_at  timestamptz NOT NULL DEFAULT now(),
    until       timestamptz NOT NULL,
    reason      text        NOT NULL
);
CREATE INDEX site_blocks_by_site ON site_blocks (site, blocked_at);
