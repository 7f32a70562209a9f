-- The pace a source's runs keep, as a share of its policy's rate. A rate-limit answer halves it and each run
-- that ends without one gives a quarter back (up to the policy's rate): a site whose limit fell below the
-- policy still gets whole titles fetched between cool-downs, instead of every run being cut off part-way.
ALTER TABLE source_cooldowns ADD COLUMN pace double precision NOT NULL DEFAULT 1.0
    CONSTRAINT pace_is_a_share CHECK (pace > 0 AND pace <= 1);
