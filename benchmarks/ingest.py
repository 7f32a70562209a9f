"""Bulk ingest of the daily files, and page parse cost per site.

1. A TMDB export pair of N lines in all (default 1.2M: 1M movies + 200k shows), ingested into a fresh
   embedded store the way ``tmdb_daily_export`` does it (validate, upsert, queue for details, mark
   absent titles deleted). Targets: under 30 s, peak RSS under 1.5 GB.
2. An IMDb ratings file of M rows (default 1.5M), joined to the catalog's IMDb ids and stored, as
   ``imdb_ratings`` does. Targets: under 20 s, peak RSS under 1.5 GB.
Each prints rows/s and its ratio to a plain COPY of the same rows into an empty table, in the same run.
3. lxml parse cost per page for each site's parser, on the replica's pages and on the real fixtures.

    .venv/bin/python benchmarks/ingest.py [--export-lines 1200000] [--ratings-rows 1500000]
"""

from __future__ import annotations

import argparse
import gzip
import resource
import tempfile
import time
from pathlib import Path

import orjson

from goodwatch_assets.ingest import ingest_export, ingest_imdb_ratings
from goodwatch_assets.settings import StoreSettings
from goodwatch_assets.stores.documents import FetchedDocument
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets.stores.serving_db import open_serving_db


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def export_file(media: str, lines: int, start_id: int) -> bytes:
    rows = []
    for n in range(lines):
        tmdb_id = start_id + n * 2
        if media == "movie":
            rows.append(orjson.dumps({"adult": False, "id": tmdb_id, "original_title": f"Title {tmdb_id}",
                                      "popularity": round(0.6 + (n % 997) / 10, 3), "video": False}))
        else:
            rows.append(orjson.dumps({"id": tmdb_id, "original_name": f"Show {tmdb_id}",
                                      "popularity": round(0.6 + (n % 991) / 10, 3)}))
    return gzip.compress(b"\n".join(rows) + b"\n", compresslevel=3)


def plain_copy_seconds(db, rows: list[tuple]) -> float:
    """The baseline: COPY the same (media, id, payload) rows into an empty unindexed table."""
    with db.connect() as conn:
        conn.execute("DROP TABLE IF EXISTS copy_baseline")
        conn.execute("CREATE UNLOGGED TABLE copy_baseline (media text, tmdb_id integer, payload jsonb)")
        started = time.perf_counter()
        with conn.cursor() as cur, cur.copy("COPY copy_baseline FROM STDIN") as copy:
            for row in rows:
                copy.write_row(row)
        elapsed = time.perf_counter() - started
        conn.execute("DROP TABLE copy_baseline")
    return elapsed


def bench_export(db, store, lines: int) -> None:
    movies, shows = lines * 5 // 6, lines - lines * 5 // 6
    files = {"movie": export_file("movie", movies, 2), "tv": export_file("tv", shows, 3)}
    started = time.perf_counter()
    results = {media: ingest_export(store, media, body) for media, body in files.items()}
    elapsed = time.perf_counter() - started
    rows = [(media, orjson.loads(line)["id"], line.decode())
            for media, body in files.items() for line in gzip.decompress(body).splitlines()]
    baseline = plain_copy_seconds(db, rows)
    print(f"export ingest      {lines:>9,} lines  {elapsed:7.2f} s  {lines / elapsed:>10,.0f} rows/s   "
          f"plain COPY {baseline:5.2f} s  ratio {elapsed / baseline:5.1f}x   target < 30 s: "
          f"{'PASS' if elapsed < 30 else 'FAIL'}   ({results['movie']['new']:,} + {results['tv']['new']:,} new)")
    started = time.perf_counter()
    for media, body in files.items():
        ingest_export(store, media, body)
    print(f"export re-ingest   {lines:>9,} lines  {time.perf_counter() - started:7.2f} s  (the next day: unchanged rows)")


def bench_ratings(db, store, rows: int, catalog: int) -> None:
    ids = [f"tt{1_000_000 + n * 3:07d}" for n in range(rows)]
    store.upsert("tmdb_details", (FetchedDocument("movie", n + 1, {}, record={"imdb_id": ids[n * rows // catalog]})
                                  for n in range(catalog)), batch_size=50_000)
    lines = ["tconst\taverageRating\tnumVotes", *(f"{tt}\t{1 + (n % 90) / 10:.1f}\t{n % 100_000}"
                                                for n, tt in enumerate(ids))]
    body = gzip.compress(("\n".join(lines) + "\n").encode(), compresslevel=3)
    started = time.perf_counter()
    result = ingest_imdb_ratings(store, body)
    elapsed = time.perf_counter() - started
    baseline = plain_copy_seconds(db, [("movie", n, '{"r": 1}') for n in range(rows)])
    print(f"IMDb ratings       {rows:>9,} rows   {elapsed:7.2f} s  {rows / elapsed:>10,.0f} rows/s   "
          f"plain COPY {baseline:5.2f} s  ratio {elapsed / baseline:5.1f}x   target < 20 s: "
          f"{'PASS' if elapsed < 20 else 'FAIL'}   ({result['stored']:,} catalog titles stored)")


def bench_parsers() -> None:
    from goodwatch_assets.replica import metacritic as mc_page
    from goodwatch_assets.replica import rotten_tomatoes as rt_page
    from goodwatch_assets.replica import tvtropes as tt_page
    from goodwatch_assets.replica.catalog import SyntheticCatalog
    from goodwatch_assets.sources import metacritic, rotten_tomatoes, tvtropes

    catalog = SyntheticCatalog(3000, seed=1)
    real = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"
    cases = [
        ("rotten_tomatoes", rotten_tomatoes.parse_page, rt_page.page, "rotten_tomatoes",
         real / "rottentomatoes" / "gergoabraham_2020-01_m_shawshank_redemption_mop-ratings_era.html"),
        ("metacritic", metacritic.parse_page, mc_page.page, "metacritic",
         real / "metacritic" / "pawelkrupinski_2026-06_movie_fight-club_score_blocks_EXCERPT.html"),
        ("tvtropes", tvtropes.parse_article, tt_page.article, "tvtropes",
         real / "tvtropes" / "rzepinskip_2020_Literature_AkataWitch.html"),
    ]
    for name, parse, render, site, fixture in cases:
        pages = [render(catalog, e) for e in catalog.entries if site in e.sites][:300]
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
        store = PostgresDocumentStore(db)
        bench_export(db, store, args.export_lines)
        bench_ratings(db, store, args.ratings_rows, min(args.catalog, args.ratings_rows))
        store.close()
    bench_parsers()
    print(f"peak RSS of this process {peak_rss_mb():,.0f} MB (target < 1,500 MB; PostgreSQL runs in its own processes)")


if __name__ == "__main__":
    main()
