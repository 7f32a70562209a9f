-- Lane 2, priority: what the app's users ask for, what TMDB says is trending, and what the lane requested.

-- App demand: detail views, search impressions, requests for a title not in the catalog yet.
CREATE TABLE title_events (
    id          bigserial   PRIMARY KEY,
    media       text        NOT NULL CHECK (media IN ('movie', 'tv')),
    tmdb_id     integer     NOT NULL CHECK (tmdb_id > 0),
    kind        text        NOT NULL CHECK (kind IN ('view', 'impression', 'request')),
    occurred_at timestamptz NOT NULL DEFAULT now()
);
-- The sensor reads the events of its decay window (and checks for new ones by id).
CREATE INDEX title_events_recent ON title_events (occurred_at) INCLUDE (media, tmdb_id, kind);

-- TMDB's trending lists (day and week), as last fetched: replaced whole by each tmdb_trending run.
CREATE TABLE trending_titles (
    media      text             NOT NULL,
    tmdb_id    integer          NOT NULL,
    time_window text            NOT NULL CHECK (time_window IN ('day', 'week')),
    rank       integer          NOT NULL,
    popularity double precision,
    fetched_at timestamptz      NOT NULL DEFAULT now(),
    PRIMARY KEY (time_window, media, tmdb_id)
);

-- Titles lane 2 asked for (the sensor) and refreshed (the chain's TMDB details): a title refreshed within 7 days,
-- or asked for within the last hours and not refreshed since, is not asked for again.
CREATE TABLE priority_refreshes (
    media        text        NOT NULL,
    tmdb_id      integer     NOT NULL,
    requested_at timestamptz,
    refreshed_at timestamptz,
    score        real,
    PRIMARY KEY (media, tmdb_id)
);
