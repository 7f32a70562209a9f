"""The combine at full scale: raw documents into movies, tv_shows, streaming_links and streaming_providers.

A fresh embedded store gets a synthetic catalog (``goodwatch synth``: default 1M movies, 200k shows, 10M
streaming links; writing it is setup, reported but not judged). Then:

1. Full combine: all 32 catalog partitions, two at a time (this machine's two cores, as two Dagster runs
   would), into empty serving tables. Target: under 150 s, and at least 0.3 of the plain COPY's rows/s.
2. Incremental combine: revision 1 of the catalog changes 1% of titles (a vote count, an audience score, one
   streaming offer more); every partition's combine reads only what changed. Target: under 10 s.
3. Baseline, in the same run: a plain COPY of the same rows (the combined tables, exported) into empty tables
   without indexes. Each combine prints rows/s, wall time and its ratio to that COPY.

Each combine also prints where its time went: the combine's phases (wall seconds summed over partitions, so
about twice the wall time with two at a time), and the database's side from ``pg_stat_statements``: the
statements that took longest, with the WAL each wrote (index maintenance shows there, as WAL and full-page
images), and the WAL the whole combine wrote.

Peak RSS: of this process (it runs the combines) and of the PostgreSQL backends that did the work (VmHWM
of each backend, read from /proc: the server runs on this machine). Target: under 2 GB each.

    .venv/bin/python benchmarks/combine.py [--movies 1000000] [--shows 200000] [--links 10000000]
"""

from __future__ import annotations

import argparse
import multiprocessing
import resource
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from goodwatch_assets.defs.partitions import all_catalog_partitions
from goodwatch_assets.lib.synth import synthesize
from goodwatch_assets.settings import StoreSettings
from goodwatch_assets.stores.combine import Combine, CombineStats
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets.stores.serving_db import ServingDb, open_serving_db

TABLES = ("movies", "tv_shows", "streaming_links")
FULL_TARGET_S, INCREMENTAL_TARGET_S, RSS_TARGET_MB = 150, 10, 2048
FULL_TARGET_RATIO = 0.3


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PostgresPeakRss:
    """The highest VmHWM of any PostgreSQL process, sampled from /proc while the block runs (a backend's own
    high-water mark, read before it exits; shared buffers it touched count too)."""

    def __init__(self, interval: float = 0.1):
        self.peak_mb = 0.0
        self._interval = interval
        self._done = threading.Event()

    def _sample(self) -> None:
        while not self._done.wait(self._interval):
            for status in Path("/proc").glob("[0-9]*/status"):
                try:
                    text = status.read_text()
                except OSError:
                    continue
                if text.startswith("Name:\tpostgres"):
                    for line in text.splitlines():
                        if line.startswith("VmHWM:"):
                            self.peak_mb = max(self.peak_mb, int(line.split()[1]) / 1024)

    def __enter__(self) -> PostgresPeakRss:
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join()


class DatabaseTime:
    """The statements that took longest while the block ran (``pg_stat_statements``, reset on entry) and the WAL
    the server wrote meanwhile (every backend: the combines are all that runs)."""

    def __init__(self, db: ServingDb, top: int = 8):
        self._db = db
        self._top = top
        self.lines: list[str] = []

    def __enter__(self) -> DatabaseTime:
        with self._db.connect(autocommit=True) as conn:
            conn.execute("CREATE EXTENSION IF NOT EXISTS pg_stat_statements")
            conn.execute("SELECT pg_stat_statements_reset()")
            self._wal_start = conn.execute("SELECT pg_current_wal_lsn()").fetchone()[0]
        return self

    def __exit__(self, *exc: object) -> None:
        with self._db.connect(autocommit=True) as conn:
            wal = conn.execute("SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), %s::pg_lsn)",
                               (self._wal_start,)).fetchone()[0]
            self.lines.append(f"WAL written: {wal / 2**20:,.0f} MB")
            for calls, seconds, wal_mb, fpi, query in conn.execute("""
                    SELECT calls, total_exec_time / 1000, wal_bytes / 2^20, wal_fpi,
                           left(regexp_replace(query, '\\s+', ' ', 'g'), 90)
                    FROM pg_stat_statements ORDER BY total_exec_time DESC LIMIT %s""", (self._top,)).fetchall():
                self.lines.append(f"{seconds:8.1f} s {calls:>6} calls {wal_mb:>8,.0f} MB WAL {fpi:>9,} full pages  {query}")


def where_time_went(stats: CombineStats, database: DatabaseTime) -> None:
    phases = sorted(stats.seconds.items(), key=lambda item: -item[1])
    total = sum(stats.seconds.values())
    print("  phases (s, summed over partitions): " + ", ".join(
        f"{phase} {seconds:.1f} ({seconds / total:.0%})" for phase, seconds in phases))
    for line in database.lines:
        print(f"  {line}")


def combine_all(db: ServingDb, store: PostgresDocumentStore, *, full: bool,
                workers: int = 2) -> tuple[float, CombineStats, float]:
    """Every partition's combine, ``workers`` at a time: (seconds, summed stats, peak PostgreSQL RSS in MB)."""

    def one(partition) -> CombineStats:
        return Combine(db, store).combine_partition(partition.media, partition.shard, full=full)

    with DatabaseTime(db) as database:
        started = time.perf_counter()
        with PostgresPeakRss() as backend, ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(one, all_catalog_partitions()))
        seconds = time.perf_counter() - started
    total = CombineStats()
    for stats in results:
        total += stats
    where_time_went(total, database)
    return seconds, total, backend.peak_mb


def copy_baseline(db: ServingDb, spool: Path) -> tuple[float, int]:
    """Seconds to COPY the combined tables' rows into empty unindexed tables, and the rows copied. The rows are
    exported to a file first, so only the COPY in is timed, and memory stays bounded."""
    rows, seconds = 0, 0.0
    with db.connect() as conn, conn.cursor() as cur:
        for table in TABLES:
            with spool.open("wb") as out, cur.copy(f"COPY {table} TO STDOUT") as copy:
                for chunk in copy:
                    out.write(chunk)
            cur.execute(f"CREATE TEMP TABLE baseline_{table} (LIKE {table})")
            started = time.perf_counter()
            with spool.open("rb") as source, cur.copy(f"COPY baseline_{table} FROM STDIN") as copy:
                while chunk := source.read(8 << 20):
                    copy.write(chunk)
            seconds += time.perf_counter() - started
            rows += cur.execute(f"SELECT count(*) FROM baseline_{table}").fetchone()[0]
        conn.rollback()
    spool.unlink()
    return seconds, rows


def _synthesize(data_dir: str, results: multiprocessing.Queue, **options) -> None:
    db = open_serving_db(StoreSettings(data_dir=Path(data_dir)))
    store = PostgresDocumentStore(db)
    started = time.perf_counter()
    made = synthesize(store, **options)
    store.close()
    results.put({"seconds": time.perf_counter() - started, "rss": peak_rss_mb(), "report": made})


def synthesize_in_child(data_dir: str, **options) -> dict:
    """Write the synthetic catalog from a child process: this process's peak RSS stays the combine's own."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_synthesize, args=(data_dir, results), kwargs=options)
    child.start()
    outcome = results.get()
    child.join()
    return outcome


def report(label: str, seconds: float, rows: int, baseline_s: float, baseline_rows: int, target: float,
           rss: float, backend_mb: float, min_ratio: float = 0.0) -> None:
    rate = rows / seconds if seconds else 0.0
    baseline_rate = baseline_rows / baseline_s if baseline_s else 0.0
    ratio = rate / baseline_rate if baseline_rate else 0.0
    verdict = ("PASS" if seconds < target and ratio >= min_ratio and rss < RSS_TARGET_MB and backend_mb < RSS_TARGET_MB
               else "FAIL")
    ratio_target = f"ratio >= {min_ratio}, " if min_ratio else ""
    print(f"{label:<22} {rows:>11,} rows in {seconds:7.1f} s = {rate:>9,.0f} rows/s; plain COPY {baseline_rate:>9,.0f} "
          f"rows/s (ratio {ratio:.2f}); peak RSS {rss:,.0f} MB (combine process, peak so far), "
          f"{backend_mb:,.0f} MB (PostgreSQL backend); target < {target:.0f} s, {ratio_target}< {RSS_TARGET_MB} MB: "
          f"{verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--movies", type=int, default=1_000_000)
    parser.add_argument("--shows", type=int, default=200_000)
    parser.add_argument("--links", type=int, default=10_000_000)
    parser.add_argument("--changed-share", type=float, default=0.01)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="goodwatch-combine-") as data_dir:
        db = open_serving_db(StoreSettings(data_dir=Path(data_dir)))
        store = PostgresDocumentStore(db)
        made = synthesize_in_child(data_dir, movies=args.movies, shows=args.shows, links=args.links)
        print(f"setup: synthetic catalog written in {made['seconds']:.0f} s (peak RSS {made['rss']:,.0f} MB): "
              f"{made['report']}")
        with db.connect(autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE raw.documents")

        full_s, full, full_backend = combine_all(db, store, full=True)
        full_rss = peak_rss_mb()
        print(f"full combine: {full}")
        baseline_s, baseline_rows = copy_baseline(db, Path(data_dir) / "baseline.copy")
        full_rows = full.rows_inserted + full.rows_updated + full.links_inserted + full.links_updated
        report("full combine", full_s, full_rows, baseline_s, baseline_rows, FULL_TARGET_S, full_rss, full_backend,
               FULL_TARGET_RATIO)

        changed = synthesize_in_child(data_dir, movies=args.movies, shows=args.shows, links=args.links, revision=1,
                                      changed_share=args.changed_share)
        print(f"setup: revision 1 ({args.changed_share:.0%} of titles) written in {changed['seconds']:.1f} s: "
              f"{changed['report']}")
        inc_s, inc, inc_backend = combine_all(db, store, full=False)
        print(f"incremental combine: {inc}")
        inc_rows = inc.rows_inserted + inc.rows_updated + inc.links_inserted + inc.links_updated + inc.links_obsoleted
        report("incremental combine", inc_s, inc_rows, baseline_s, baseline_rows, INCREMENTAL_TARGET_S, peak_rss_mb(),
               inc_backend)

        again_s, again, _ = combine_all(db, store, full=False)
        print(f"incremental again, nothing changed: {again_s:.2f} s, rows written "
              f"{again.rows_inserted + again.rows_updated + again.links_inserted + again.links_updated}")
        store.close()


if __name__ == "__main__":
    main()
