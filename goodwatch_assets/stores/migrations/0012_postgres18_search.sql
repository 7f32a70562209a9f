-- PostgreSQL 16+ with pgvector 0.8 and the contrib modules (checked before any migration runs):
-- pgvector's iterative index scans for filtered similarity search, and title search that tolerates typos and
-- accents (pg_trgm + unaccent) in place of the full-text index nothing queried.
ALTER EXTENSION vector UPDATE;
CREATE EXTENSION IF NOT EXISTS pg_trgm;
CREATE EXTENSION IF NOT EXISTS unaccent;

-- A title as it is searched: accents dropped, lower case. Immutable (unaccent with its dictionary named), so
-- it can be indexed.
CREATE FUNCTION searchable_title(title text, original_title text) RETURNS text
    LANGUAGE sql IMMUTABLE PARALLEL SAFE
    RETURN lower(public.unaccent('public.unaccent'::regdictionary,
                                 coalesce(title, '') || ' ' || coalesce(original_title, '')));

DROP INDEX movies_title_search;
DROP INDEX tv_shows_to_tsvector_idx;
CREATE INDEX movies_title_trigrams ON movies USING gin (searchable_title(title, original_title) gin_trgm_ops);
CREATE INDEX tv_shows_title_trigrams ON tv_shows USING gin (searchable_title(title, original_title) gin_trgm_ops);
