-- What lane 2 asked for and has not refreshed yet comes from its runs (their tags and config), not from rows the
-- priority sensor wrote while it evaluated: a sensor preview or a tick whose runs were never submitted changed
-- what the next tick asked for. priority_refreshes keeps only what the chain refreshed.
ALTER TABLE priority_refreshes DROP COLUMN requested_at, DROP COLUMN score;
