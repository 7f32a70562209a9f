-- Cool-downs after an upstream answered "too many requests": shared by every run of a source, so
-- no other run hammers the upstream until it is over.
CREATE TABLE source_cooldowns (
    source      text PRIMARY KEY,
    until       timestamptz NOT NULL,
    reason      text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
