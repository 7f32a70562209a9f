-- DNA: the LLM's request budget, labels stored once, title↔label links, vectors for similarity search.
CREATE EXTENSION IF NOT EXISTS vector;

-- Requests sent to each model per UTC day: the daily budget is checked and taken in one statement.
CREATE TABLE llm_budget (
    model    text    NOT NULL,
    day      date    NOT NULL,
    requests integer NOT NULL DEFAULT 0,
    PRIMARY KEY (model, day)
);

-- Each distinct text embedded once per model (labels above all: the same label recurs across titles).
CREATE TABLE text_embeddings (
    model     text        NOT NULL,
    text      text        NOT NULL,
    embedding vector(384) NOT NULL,
    PRIMARY KEY (model, text)
);

-- Distinct normalised labels, once per category. A near-duplicate (by embedding, as it arrives) points to
-- the canonical label it was merged into; titles link to canonical labels only.
CREATE TABLE dna_labels (
    id           serial PRIMARY KEY,
    category     text    NOT NULL,
    label        text    NOT NULL,
    canonical_id integer REFERENCES dna_labels (id),  -- NULL: this label is canonical
    similarity   real,                                -- to the canonical label, when merged
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (category, label)
);
CREATE INDEX dna_labels_canonical ON dna_labels (category) WHERE canonical_id IS NULL;

-- A title's DNA as links to canonical labels: filtering by DNA is relational.
CREATE TABLE title_dna (
    media    text    NOT NULL,
    tmdb_id  integer NOT NULL,
    label_id integer NOT NULL REFERENCES dna_labels (id),
    PRIMARY KEY (media, tmdb_id, label_id)
);
CREATE INDEX title_dna_by_label ON title_dna (label_id, media, tmdb_id);

-- One vector per title: its DNA text embedded (again only when the text changes).
CREATE TABLE title_vectors (
    media      text        NOT NULL,
    tmdb_id    integer     NOT NULL,
    shard      smallint    NOT NULL,
    title      text,
    year       integer,
    model      text        NOT NULL,
    text_hash  text        NOT NULL,
    embedding  vector(384) NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (media, tmdb_id)
);
CREATE INDEX title_vectors_hnsw ON title_vectors USING hnsw (embedding vector_cosine_ops);

-- How far each incremental consumer has read a source's change feed, per catalog partition. Advanced in
-- the transaction that writes what was read.
CREATE TABLE feed_watermarks (
    consumer   text     NOT NULL,
    source     text     NOT NULL,
    media      text     NOT NULL,
    shard      smallint NOT NULL,
    watermark  text     NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, source, media, shard)
);
