"""Bulk ingest of the daily files, and page parse cost per site.

1. A TMDB export pair of N lines in all (default 1.2M: 1M movies + 200k shows), ingested into a fresh
   embedded store the way ``tmdb_daily_export`` does it (read and check the file, sync the details queue,
   mark absent titles deleted); then the next day's pair (unchanged), and a day on which popularity moved
   for 30% of titles. Targets: under 30 s, peak RSS under 1.5 GB.
2. An IMDb ratings file of M rows (default 1.5M), joined to the catalog's IMDb ids and stored, as
   ``imdb_ratings`` does; then the next day's file with 10% of ratings changed. Targets: under 20 s, peak RSS
   under 1.5 GB.
Every ingest runs in a fresh child process, so its peak RSS is its own. Each prints rows/s and its ratio to a
plain COPY of the same rows into an empty table, measured in the same run, then where its time went: reading
and checking the file, each SQL statement (timed at the client, COPY included), the rest of the Python work;
and what the writes cost the table: rows inserted, updated (HOT: without touching an index), dead rows left,
index blocks touched per index, WAL written.
3. lxml parse cost per page for each site's parser, on the replica's pages and on the real fixtures.

    .venv/bin/python benchmarks/ingest.py [--export-lines 1200000] [--ratings-rows 1500000]
"""

from __future__ import annotations

import argparse
import gzip
import multiprocessing
import re
import resource
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import polars as pl
import psycopg
from psycopg import sql

from goodwatch_assets.lib.ingest import ingest_export, ingest_imdb_ratings
from goodwatch_assets.settings import StoreSettings
from goodwatch_assets.sources import imdb, tmdb
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets.stores.serving_db import ServingDb, open_serving_db

RSS_TARGET_MB = 1500


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def export_file(media: str, lines: int, start_id: int, moved_share: float = 0.0) -> bytes:
    """A synthetic export of ``lines`` titles; ``moved_share`` of them with a different popularity."""
    ids = pl.int_range(lines, eager=True)
    moved = (ids % 100) < int(moved_share * 100)
    popularity = (0.6 + (ids % 997) / 10 + moved.cast(pl.Float64)).round(3)
    tmdb_ids = start_id + ids * 2
    if media == "movie":
        frame = pl.DataFrame({"adult": False, "id": tmdb_ids, "original_title": "Title " + tmdb_ids.cast(str),
                              "popularity": popularity, "video": False})
    else:
        frame = pl.DataFrame({"id": tmdb_ids, "original_name": "Show " + tmdb_ids.cast(str), "popularity": popularity})
    return gzip.compress(frame.write_ndjson().encode(), compresslevel=3)


def ratings_file(rows: int, changed_share: float = 0.0) -> bytes:
    n = pl.int_range(rows, eager=True)
    changed = (n % 100) < int(changed_share * 100)
    frame = pl.DataFrame({
        "tconst": "tt" + (1_000_000 + n * 3).cast(str).str.zfill(7),
        "averageRating": (1 + (n % 90) / 10).round(1),
        "numVotes": n % 100_000 + changed.cast(pl.Int64) * 7,
    })
    return gzip.compress(frame.write_csv(separator="\t").encode(), compresslevel=3)


def plain_copy_seconds(db: ServingDb, frame: pl.DataFrame) -> float:
    """The baseline: COPY the same rows into an empty unindexed table."""
    columns = ", ".join(f"{name} {'integer' if dtype.is_integer() else 'text'}" for name, dtype in frame.schema.items())
    with db.connect() as conn:
        conn.execute("DROP TABLE IF EXISTS copy_baseline")
        conn.execute(f"CREATE UNLOGGED TABLE copy_baseline ({columns})")
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY copy_baseline FROM STDIN (FORMAT csv)") as copy:
            for piece in frame.iter_slices(100_000):
                copy.write(piece.write_csv(include_header=False))
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE copy_baseline")
    return elapsed


PHASES: Counter[str] = Counter()
"""Seconds per phase of the ingest running in this process (a child's own)."""


@contextmanager
def timed(phase: str) -> Iterator[None]:
    started = time.perf_counter()
    try:
        yield
    finally:
        PHASES[phase] += time.perf_counter() - started


def statement_phase(statement: Any, cursor: psycopg.Cursor) -> str:
    """A statement's phase name: what it writes (``INSERT INTO raw.documents + UPDATE raw.documents`` for a merge
    in one statement), else its first words."""
    text = " ".join((statement.as_string(cursor) if isinstance(statement, sql.Composable) else str(statement)).split())
    writes = re.findall(r"\b(?:INSERT INTO|UPDATE|DELETE FROM|COPY|ANALYZE) [\w.]+", text)
    return "sql: " + (" + ".join(dict.fromkeys(writes)) if writes else text[:64])


class TimedCursor(psycopg.Cursor):
    """A cursor that adds each statement's time, as its client sees it, to :data:`PHASES`."""

    def execute(self, query, params=None, **kwargs):
        with timed(statement_phase(query, self)):
            return super().execute(query, params, **kwargs)

    @contextmanager
    def copy(self, statement, params=None, **kwargs):
        with timed(statement_phase(statement, self)), super().copy(statement, params, **kwargs) as copy:
            yield copy


class TimedDb:
    """A serving database whose connections time their statements (everything else passes through)."""

    def __init__(self, db: ServingDb):
        self._db = db
        self._connections: list[psycopg.Connection] = []

    def connect(self, **kwargs) -> psycopg.Connection:
        conn = self._db.connect(**kwargs)
        conn.cursor_factory = TimedCursor
        self._connections.append(conn)
        return conn

    def flush_statistics(self) -> None:
        """Have each open connection's server process publish its table statistics now (not at some later idle
        moment), so the parent reads this ingest's whole cost."""
        for conn in self._connections:
            if not conn.closed:
                conn.execute("SELECT pg_stat_force_next_flush()")
                conn.commit()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._db, name)


def time_calls(module: Any, name: str, phase: str) -> None:
    """Add each call of ``module.name`` to :data:`PHASES` under ``phase``."""
    function: Callable[..., Any] = getattr(module, name)

    def timed_function(*args, **kwargs):
        with timed(phase):
            return function(*args, **kwargs)

    setattr(module, name, timed_function)


def _timed_child(data_dir: str, job: str, files: dict[str, bytes], results) -> None:
    time_calls(tmdb, "read_export", "read and check the file")
    time_calls(imdb, "read_ratings", "read and check the file")
    db = TimedDb(open_serving_db(StoreSettings(data_dir=Path(data_dir))))
    store = PostgresDocumentStore(db)
    started = time.perf_counter()
    if job == "export":
        outcome = {media: ingest_export(store, media, body) for media, body in files.items()}
    else:
        outcome = ingest_imdb_ratings(store, files["ratings"])
    elapsed = time.perf_counter() - started
    PHASES["other Python work"] = elapsed - sum(PHASES.values())
    db.flush_statistics()
    results.put((elapsed, peak_rss_mb(), outcome, dict(PHASES)))
    store.close()


def in_child(data_dir: str, job: str, files: dict[str, bytes]) -> tuple[float, float, dict, dict[str, float]]:
    """Run one ingest in a fresh process: (seconds, peak RSS in MB, outcome, seconds per phase)."""
    context = multiprocessing.get_context("spawn")
    results = context.Queue()
    child = context.Process(target=_timed_child, args=(data_dir, job, files, results))
    child.start()
    outcome = results.get()
    child.join()
    return outcome


def table_costs(db: ServingDb) -> Counter[str]:
    """Cumulative write counters of ``raw.documents`` (rows, HOT updates, dead rows, index blocks touched per index)
    and of the server's WAL: two snapshots' difference is what the work between them cost."""
    with db.connect() as conn:
        rows = conn.execute(
            """SELECT n_tup_ins, n_tup_upd, n_tup_hot_upd, n_dead_tup FROM pg_stat_user_tables
               WHERE schemaname = 'raw' AND relname = 'documents'""").fetchone()
        costs = Counter(dict(zip(("inserted", "updated", "HOT", "dead"), rows, strict=True)))
        for index, blocks in conn.execute(
                """SELECT indexrelname, idx_blks_hit + idx_blks_read FROM pg_statio_user_indexes
                   WHERE schemaname = 'raw' AND relname = 'documents'"""):
            costs[f"index {index}"] = blocks
        costs["WAL MB"] = conn.execute("SELECT wal_bytes / 1e6 FROM pg_stat_wal").fetchone()[0]
    return costs


def measured(db: ServingDb, data_dir: str, job: str, files: dict[str, bytes]
             ) -> tuple[float, float, dict, dict[str, float], Counter[str]]:
    """:func:`in_child`'s figures and what the ingest cost the table (:func:`table_costs`' difference)."""
    before = table_costs(db)
    seconds, rss, outcome, phases = in_child(data_dir, job, files)
    after = table_costs(db)
    after.subtract(before)
    after["dead"] += before["dead"]  # a level, not a counter
    return seconds, rss, outcome, phases, after


def report(label: str, rows: int, seconds: float, rss: float, baseline: float, target: float, note: str) -> None:
    verdict = "PASS" if seconds < target and rss < RSS_TARGET_MB else "FAIL"
    print(f"{label:<30} {rows:>9,} rows  {seconds:6.2f} s  {rows / seconds:>9,.0f} rows/s  peak RSS {rss:5,.0f} MB  "
          f"plain COPY {baseline:5.2f} s  ratio {seconds / baseline:5.1f}x  target < {target:.0f} s: {verdict}  {note}")


def report_costs(phases: dict[str, float], costs: Counter[str]) -> None:
    """Where an ingest's time went (phases of at least 0.01 s, longest first), then what it wrote."""
    for phase, seconds in sorted(phases.items(), key=lambda item: -item[1]):
        if seconds >= 0.01:
            print(f"    {seconds:6.2f} s  {phase}")
    written = ", ".join(f"{name} {value:,.0f}" for name, value in costs.items() if value)
    print(f"    table raw.documents: {written or 'nothing written'}")


def bench_export(db: ServingDb, data_dir: str, lines: int) -> None:
    movies, shows = lines * 5 // 6, lines - lines * 5 // 6
    days = {
        "export, first day": (0.0, "new titles"),
        "export, same file again": (0.0, "nothing changed"),
        "export, 30% popularity moved": (0.3, "popularity moved"),
    }
    baseline = None
    for label, (moved, note) in days.items():
        files = {"movie": export_file("movie", movies, 2, moved), "tv": export_file("tv", shows, 3, moved)}
        if baseline is None:
            rows = pl.concat([pl.read_ndjson(gzip.decompress(body)).select("id", pl.lit(media).alias("media"),
                                                                            pl.lit("{}").alias("payload"))
                              for media, body in files.items()])
            baseline = plain_copy_seconds(db, rows)
        seconds, rss, outcome, phases, costs = measured(db, data_dir, "export", files)
        new = sum(o["new"] for o in outcome.values())
        report(label, lines, seconds, rss, baseline, 30, f"({note}; {new:,} new)")
        report_costs(phases, costs)


def bench_ratings(db: ServingDb, data_dir: str, rows: int, catalog: int) -> None:
    ids = pl.DataFrame({"n": pl.int_range(catalog, eager=True)}).select(
        media=pl.lit("movie"), tmdb_id=pl.col("n") + 1,
        record=pl.format('{{"imdb_id": "tt{}"}}', (1_000_000 + (pl.col("n") * rows // catalog) * 3).cast(str).str.zfill(7)))
    store = PostgresDocumentStore(db)
    store.upsert_frame(tmdb.SPEC.name, ids.with_columns(payload=pl.lit("{}"), status=pl.lit("ok")))
    store.close()
    baseline = plain_copy_seconds(db, ids.select("media", "tmdb_id", payload="record"))
    for label, changed in (("IMDb ratings, first day", 0.0), ("IMDb ratings, 10% changed", 0.1)):
        seconds, rss, outcome, phases, costs = measured(db, data_dir, "ratings", {"ratings": ratings_file(rows, changed)})
        report(label, rows, seconds, rss, baseline, 20,
               f"({outcome['changed']:,} written, {outcome['unchanged']:,} unchanged of {catalog:,} catalog titles)")
        report_costs(phases, costs)


def bench_parsers() -> None:
    from goodwatch_assets.replica.catalog import SyntheticCatalog
    from goodwatch_assets.replica.title_pages import title_pages
    from goodwatch_assets.sources import metacritic, rotten_tomatoes, tvtropes

    catalog = SyntheticCatalog(3000, seed=1)
    real = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"
    cases = [
        ("rotten_tomatoes", rotten_tomatoes.parse_page,
         real / "rottentomatoes" / "gergoabraham_2020-01_m_shawshank_redemption_mop-ratings_era.html"),
        ("metacritic", metacritic.parse_page,
         real / "metacritic" / "pawelkrupinski_2026-06_movie_fight-club_score_blocks_EXCERPT.html"),
        ("tvtropes", tvtropes.parse_article,
         real / "tvtropes" / "rzepinskip_2020_Literature_AkataWitch.html"),
    ]
    for name, parse, fixture in cases:
        site = title_pages(name)
        pages = [site.render(catalog, e, catalog.details(e).pages[name]) for e in catalog.entries if name in e.sites][:300]
        started = time.perf_counter()
        for page in pages:
            parse(page)
        per_page = (time.perf_counter() - started) / len(pages) * 1000
        line = f"parse {name:<16} replica pages {per_page:6.2f} ms/page"
        if fixture.exists():
            text = fixture.read_text(encoding="utf-8", errors="replace")
            started = time.perf_counter()
            for _ in range(20):
                parse(text)
            line += f"   real page ({len(text) // 1024} KB) {(time.perf_counter() - started) / 20 * 1000:6.2f} ms"
        print(line)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--export-lines", type=int, default=1_200_000)
    parser.add_argument("--ratings-rows", type=int, default=1_500_000)
    parser.add_argument("--catalog", type=int, default=1_000_000, help="catalog titles with an IMDb id")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="goodwatch-bench-") as data_dir:
        db = open_serving_db(StoreSettings(data_dir=Path(data_dir)))
        bench_export(db, data_dir, args.export_lines)
        bench_ratings(db, data_dir, args.ratings_rows, min(args.catalog, args.ratings_rows))
    bench_parsers()


if __name__ == "__main__":
    main()
