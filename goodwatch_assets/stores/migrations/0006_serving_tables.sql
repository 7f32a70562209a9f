-- The serving tables the web app reads (filled by the combine): one row per title with TMDB details, every
-- source's scores (original, normalised to percent, counts), the aggregated user / official / overall
-- scores, tropes and DNA, and per-source *_updated_at; streaming providers and links.
CREATE TABLE movies (
    tmdb_id                                      integer PRIMARY KEY,
    shard                                        smallint NOT NULL,
    title                                        text     NOT NULL,
    original_title                               text,
    overview                                     text,
    original_language                            text,
    release_date                                 date,
    release_year                                 integer,
    runtime                                      integer,
    status                                       text,
    adult                                        boolean,
    popularity                                   double precision,
    certification                                text,
    imdb_id                                      text,
    genres                                       text[]   NOT NULL DEFAULT '{}',
    keywords                                     text[]   NOT NULL DEFAULT '{}',
    cast_names                                   text[]   NOT NULL DEFAULT '{}',
    directors                                    text[]   NOT NULL DEFAULT '{}',
    alternative_titles                           text[]   NOT NULL DEFAULT '{}',
    tmdb_user_score_original                     real,
    tmdb_user_score_normalized_percent           real,
    tmdb_user_score_rating_count                 integer,
    imdb_user_score_original                     real,
    imdb_user_score_normalized_percent           real,
    imdb_user_score_rating_count                 integer,
    metacritic_url                               text,
    metacritic_meta_score_original               integer,
    metacritic_meta_score_normalized_percent     real,
    metacritic_meta_score_review_count           integer,
    metacritic_user_score_original               real,
    metacritic_user_score_normalized_percent     real,
    metacritic_user_score_rating_count           integer,
    rotten_tomatoes_url                          text,
    rotten_tomatoes_tomato_score_original        integer,
    rotten_tomatoes_tomato_score_normalized_percent real,
    rotten_tomatoes_tomato_score_review_count    integer,
    rotten_tomatoes_audience_score_original      integer,
    rotten_tomatoes_audience_score_normalized_percent real,
    rotten_tomatoes_audience_score_rating_count  integer,
    aggregated_user_score_normalized_percent     real,
    aggregated_user_score_rating_count           bigint,
    aggregated_official_score_normalized_percent real,
    aggregated_official_score_review_count       bigint,
    aggregated_overall_score_normalized_percent  real,
    aggregated_overall_score_voting_count        bigint,
    trope_names                                  text[]   NOT NULL DEFAULT '{}',
    dna                                          jsonb,
    dna_label_ids                                integer[] NOT NULL DEFAULT '{}',
    streaming_country_codes                      text[]   NOT NULL DEFAULT '{}',
    tmdb_details_updated_at                      timestamptz,
    imdb_ratings_updated_at                      timestamptz,
    metacritic_updated_at                        timestamptz,
    rotten_tomatoes_updated_at                   timestamptz,
    tvtropes_updated_at                          timestamptz,
    dna_updated_at                               timestamptz,
    created_at                                   timestamptz NOT NULL DEFAULT now(),
    updated_at                                   timestamptz NOT NULL DEFAULT now()
);
-- The app's queries: most popular, best rated, by genre or DNA label, by title, by where to stream.
CREATE INDEX movies_popularity ON movies (popularity DESC NULLS LAST, tmdb_id);
CREATE INDEX movies_overall_score ON movies (aggregated_overall_score_normalized_percent DESC NULLS LAST,
                                             aggregated_overall_score_voting_count DESC NULLS LAST);
CREATE INDEX movies_genres ON movies USING gin (genres);
CREATE INDEX movies_dna_labels ON movies USING gin (dna_label_ids);
CREATE INDEX movies_streaming_countries ON movies USING gin (streaming_country_codes);
-- Title search is full text ('simple': no stemming, any language); the embedded PostgreSQL has no pg_trgm.
CREATE INDEX movies_title_search ON movies
    USING gin (to_tsvector('simple'::regconfig, title || ' ' || coalesce(original_title, '')));

-- TV shows: the same columns (and indexes), plus seasons and episodes; release_date is the first air date.
CREATE TABLE tv_shows (LIKE movies INCLUDING ALL);
ALTER TABLE tv_shows ADD COLUMN number_of_seasons integer, ADD COLUMN number_of_episodes integer;

-- Both media in one relation, for queries over the whole catalog (search).
CREATE VIEW titles AS
    SELECT 'movie'::text AS media, tmdb_id, title, release_year, popularity,
           aggregated_overall_score_normalized_percent, aggregated_overall_score_voting_count FROM movies
    UNION ALL
    SELECT 'tv'::text, tmdb_id, title, release_year, popularity,
           aggregated_overall_score_normalized_percent, aggregated_overall_score_voting_count FROM tv_shows;

CREATE TABLE streaming_providers (
    provider_id      integer PRIMARY KEY,
    name             text    NOT NULL,
    logo_path        text,
    display_priority integer,
    updated_at       timestamptz NOT NULL DEFAULT now()
);

-- Who streams, rents or sells a title in which country. A link gone upstream gets obsolete_at (kept, not
-- deleted); one that comes back is revived.
CREATE TABLE streaming_links (
    media            text     NOT NULL,
    tmdb_id          integer  NOT NULL,
    country_code     char(2)  NOT NULL,
    provider_id      integer  NOT NULL,
    stream_type      text     NOT NULL,
    display_priority integer,
    link             text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    obsolete_at      timestamptz,
    PRIMARY KEY (media, tmdb_id, country_code, provider_id, stream_type)
);
CREATE INDEX streaming_links_current ON streaming_links (country_code, provider_id, stream_type, media)
    WHERE obsolete_at IS NULL;
