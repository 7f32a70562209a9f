"""DNA vectors: embedding throughput, label de-duplication, and similar-title queries at scale.

1. Embedding throughput: the pipeline's indexing path (``DnaIndex.write_titles``: label registration and
   merging, title texts embedded, links and vectors written) over the DNA of N replica titles, against
   ``model.encode`` of the same title texts alone, in the same run. Target: at least 85%.
2. De-duplication: label occurrences in those titles' DNA against the label texts actually embedded.
3. Similar titles at M titles (default 100k): median latency of ``Search.similar_to_title`` (HNSW, cosine)
   and recall@10 against exact search (a sequential scan) over Q query titles. Targets: under 10 ms,
   recall at least 0.95. Embedding 100k DNA texts would take ~15 minutes on these 2 cores, so these title
   vectors are composed instead: each title's vector is the normalised sum of its labels' embeddings plus a
   little noise (the replica's DNA: 40 archetypes sharing most labels, so the data is as clustered as the
   end-to-end tests' and neighbours are close together, the hard case for an approximate index).

    .venv/bin/python benchmarks/dna.py [--titles 2000] [--search-titles 100000] [--queries 200]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from pgvector.psycopg import register_vector

from goodwatch_assets.lib.embedding import Embedder
from goodwatch_assets.lib.search import Search
from goodwatch_assets.models.labels import dna_text, normalise_dna
from goodwatch_assets.models.shards import shard_of
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.settings import StoreSettings
from goodwatch_assets.stores.dna_index import DnaIndex, IndexedTitle, IndexStats
from goodwatch_assets.stores.serving_db import ServingDb, open_serving_db


def replica_titles(count: int, seed: int = 3) -> list[IndexedTitle]:
    catalog = SyntheticCatalog(count, seed=seed)
    return [IndexedTitle(e.media, e.tmdb_id, e.title, e.year, normalise_dna(catalog.details(e).dna))
            for e in catalog.entries]


def bench_throughput(db: ServingDb, embedder: Embedder, count: int) -> None:
    titles = replica_titles(count)
    texts = [dna_text(t.dna) for t in titles]
    embedder.encode(texts[:64])  # load the model and warm up, outside both timings
    started = time.perf_counter()
    embedder.encode(texts)
    plain = time.perf_counter() - started

    index, stats = DnaIndex(db, embedder), IndexStats()
    started = time.perf_counter()
    for i in range(0, len(titles), 500):
        stats += index.write_titles(titles[i:i + 500])
    pipeline = time.perf_counter() - started
    ratio = plain / pipeline
    print(f"embedding throughput   {count:,} titles: pipeline {count / pipeline:7.1f} titles/s ({pipeline:.1f} s), "
          f"model.encode alone {count / plain:7.1f} titles/s ({plain:.1f} s): {ratio:.1%} "
          f"(target >= 85%: {'PASS' if ratio >= 0.85 else 'FAIL'})")
    occurrences = sum(len(labels) for t in titles for labels in t.dna.values())
    print(f"label de-duplication   {occurrences:,} label occurrences, {stats.label_embeddings:,} label texts embedded: "
          f"{1 - stats.label_embeddings / occurrences:.2%} of label embeddings saved; {stats.labels_new} labels stored, "
          f"{stats.labels_merged} merged into a near-duplicate")


def composed_vectors(titles: list[IndexedTitle], embedder: Embedder, rng: np.random.Generator) -> np.ndarray:
    labels = sorted({f"{category}: {label}" for t in titles for category, labels in t.dna.items() for label in labels})
    label_vectors = dict(zip(labels, embedder.encode(labels), strict=True))
    vectors = np.stack([sum(label_vectors[f"{c}: {label}"] for c, ls in t.dna.items() for label in ls) for t in titles])
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    vectors += rng.normal(0, 0.02, vectors.shape).astype(np.float32)
    return (vectors / np.linalg.norm(vectors, axis=1, keepdims=True)).astype(np.float32)


def load_vectors(db: ServingDb, titles: list[IndexedTitle], vectors: np.ndarray) -> float:
    """Bulk-load title vectors (binary COPY) and build the HNSW index; returns the index build seconds."""
    with db.connect() as conn:
        register_vector(conn)
        conn.execute("TRUNCATE title_vectors")
        conn.execute("DROP INDEX IF EXISTS title_vectors_hnsw")
        with conn.cursor() as cur, cur.copy(
                "COPY title_vectors (media, tmdb_id, shard, title, year, model, text_hash, embedding) FROM STDIN "
                "WITH (FORMAT BINARY)") as copy:
            copy.set_types(["text", "int4", "int2", "text", "int4", "text", "text", "vector"])
            for t, vector in zip(titles, vectors, strict=True):
                copy.write_row((t.media, t.tmdb_id, shard_of(t.tmdb_id), t.title, t.year, "composed", "-", vector))
        conn.commit()
        conn.execute("SET maintenance_work_mem = '1GB'")
        started = time.perf_counter()
        conn.execute("CREATE INDEX title_vectors_hnsw ON title_vectors USING hnsw (embedding vector_cosine_ops)")
        conn.execute("ANALYZE title_vectors")
        conn.commit()
        return time.perf_counter() - started


def exact_neighbours(db: ServingDb, media: str, tmdb_id: int, vector: np.ndarray, k: int) -> list[tuple[str, int]]:
    with db.connect() as conn:
        register_vector(conn)
        conn.execute("SET enable_indexscan = off")
        rows = conn.execute(
            """SELECT media, tmdb_id FROM title_vectors WHERE NOT (media = %s AND tmdb_id = %s)
               ORDER BY embedding <=> %s LIMIT %s""", (media, tmdb_id, vector, k)).fetchall()
    return [tuple(row) for row in rows]


def bench_search(db: ServingDb, embedder: Embedder, count: int, queries: int) -> None:
    rng = np.random.default_rng(7)
    titles = replica_titles(count, seed=9)
    vectors = composed_vectors(titles, embedder, rng)
    build = load_vectors(db, titles, vectors)
    search = Search(db, embedder)
    picks = rng.choice(len(titles), size=queries, replace=False)
    latencies, recalls = [], []
    for i in picks:
        t = titles[i]
        search.similar_to_title(t.media, t.tmdb_id, limit=10)  # warm the connection path
        started = time.perf_counter()
        hits = search.similar_to_title(t.media, t.tmdb_id, limit=10)
        latencies.append((time.perf_counter() - started) * 1000)
        exact = set(exact_neighbours(db, t.media, t.tmdb_id, vectors[i], 10))
        recalls.append(len(exact & {(h.media, h.tmdb_id) for h in hits}) / len(exact))
    median, recall = statistics.median(latencies), statistics.mean(recalls)
    print(f"similar titles         {count:,} titles (HNSW built in {build:.1f} s), {queries} queries: median "
          f"{median:.2f} ms (p95 {np.percentile(latencies, 95):.2f} ms; target < 10 ms: "
          f"{'PASS' if median < 10 else 'FAIL'}), recall@10 {recall:.3f} against exact search "
          f"(target >= 0.95: {'PASS' if recall >= 0.95 else 'FAIL'})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--titles", type=int, default=2000)
    parser.add_argument("--search-titles", type=int, default=100_000)
    parser.add_argument("--queries", type=int, default=200)
    args = parser.parse_args()
    embedder = Embedder()
    with tempfile.TemporaryDirectory(prefix="goodwatch-bench-") as data_dir:
        db = open_serving_db(StoreSettings(data_dir=Path(data_dir)))
        bench_throughput(db, embedder, args.titles)
        bench_search(db, embedder, args.search_titles, args.queries)


if __name__ == "__main__":
    main()
