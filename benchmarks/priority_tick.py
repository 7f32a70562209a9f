"""One priority-sensor tick over a full catalog: 1.2M titles in the serving tables, 100k app events.

A fresh embedded store gets 1M movies and 200k shows (serving rows with popularity), 100k events over 30k
titles in the last three weeks (views, impressions, requests), TMDB's four trending lists, and 50k titles lane 2
refreshed in the last 14 days (half within the last 7 days: left out). Each measured tick is the sensor itself,
evaluated with ``build_sensor_context`` after one new event (so it ranks instead of skipping): read lane 2's failed
runs, rank, build the run requests. Also timed: a tick with nothing new (the cursor skips it), and, as the baseline
measured in the same run, reading the 100k events once (``COPY … TO STDOUT``). Target: a ranking tick under 1 s.

    .venv/bin/python benchmarks/priority_tick.py [--titles 1200000] [--events 100000] [--ticks 7]
"""

from __future__ import annotations

import argparse
import io
import statistics
import tempfile
import time
from datetime import timedelta
from pathlib import Path

import dagster as dg
import numpy as np
import polars as pl

from goodwatch_assets.defs.priority.sensor import MAX_TITLES_PER_TICK, priority_sensor
from goodwatch_assets.defs.resources import ServingDatabaseResource
from goodwatch_assets.lib.demand import record_event, store_trending
from goodwatch_assets.models.shards import shard_column
from goodwatch_assets.settings import StoreSettings
from goodwatch_assets.sources import tmdb
from goodwatch_assets.stores.documents import utc_now
from goodwatch_assets.stores.serving_db import ServingDb, open_serving_db
from goodwatch_assets.stores.staging import stage_frame

TARGET_S = 1.0


def fill(db: ServingDb, titles: int, events: int) -> None:
    rng = np.random.default_rng(7)
    movies = titles * 5 // 6
    with db.connect() as conn, conn.cursor() as cur:
        for table, count in (("movies", movies), ("tv_shows", titles - movies)):
            ids = pl.int_range(1, count + 1, eager=True).alias("tmdb_id")
            frame = pl.DataFrame({"tmdb_id": ids, "popularity": np.round(rng.pareto(1.5, count) * 2, 3)}).select(
                "tmdb_id", shard_column(pl.col("tmdb_id")), title=pl.format("Title {}", "tmdb_id"), popularity="popularity")
            stage_frame(cur, f"bench_{table}", "tmdb_id integer, shard smallint, title text, popularity float8", frame)
            cur.execute(f"INSERT INTO {table} (tmdb_id, shard, title, popularity) SELECT * FROM bench_{table}")
        now = utc_now()
        hot = rng.integers(1, movies, 30_000)
        picks = hot[rng.zipf(1.3, events) % len(hot)]
        frame = pl.DataFrame({
            "media": np.where(picks % 6 == 0, "tv", "movie"), "tmdb_id": np.where(picks % 6 == 0, picks // 6 + 1, picks),
            "kind": rng.choice(["view", "impression", "request"], events, p=[0.45, 0.5, 0.05]),
            "occurred_at": [now - timedelta(seconds=float(s)) for s in rng.uniform(0, 21 * 86400, events)],
        })
        stage_frame(cur, "bench_events", "media text, tmdb_id integer, kind text, occurred_at timestamptz", frame)
        cur.execute("INSERT INTO title_events (media, tmdb_id, kind, occurred_at) SELECT * FROM bench_events")
        refreshed = rng.choice(movies, 50_000, replace=False) + 1
        cur.execute("""INSERT INTO priority_refreshes (media, tmdb_id, refreshed_at)
                       SELECT 'movie', id, now() - (random() * interval '14 days') FROM unnest(%s::int[]) AS id""",
                    (refreshed.tolist(),))
    store_trending(db, {(media, window): [(int(i), float(i % 97)) for i in rng.integers(1, movies, 20)]
                        for media in ("movie", "tv") for window in ("day", "week")})
    with db.connect(autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")


def read_events(db: ServingDb) -> float:
    started = time.perf_counter()
    with db.connect() as conn, conn.cursor() as cur:
        buffer = io.BytesIO()
        with cur.copy("COPY (SELECT media, tmdb_id, kind, occurred_at FROM title_events) TO STDOUT") as copy:
            for chunk in copy:
                buffer.write(chunk)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--titles", type=int, default=1_200_000)
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--ticks", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="goodwatch-tick-") as data_dir, dg.instance_for_test() as instance:
        db = open_serving_db(StoreSettings(data_dir=Path(data_dir)))
        started = time.perf_counter()
        fill(db, args.titles, args.events)
        print(f"setup: {args.titles:,} serving rows, {args.events:,} events, 50,000 earlier requests in "
              f"{time.perf_counter() - started:.0f} s")
        resources = {"serving_db": ServingDatabaseResource(data_dir=data_dir)}
        cursor, seconds, asked = None, [], []
        for number in range(args.ticks):
            record_event(db, "movie", 2_000_000 + number, "request")
            context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
            started = time.perf_counter()
            result = priority_sensor(context)
            seconds.append(time.perf_counter() - started)
            cursor = result.cursor
            asked.append(sum(len(r.run_config["ops"][tmdb.SPEC.name]["config"]["tmdb_ids"]) for r in result.run_requests))
        context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
        started = time.perf_counter()
        skipped = priority_sensor(context)
        skip_s = time.perf_counter() - started
        baseline = min(read_events(db) for _ in range(3))
        median = statistics.median(seconds)
        print(f"ranking tick (median of {args.ticks}): {median * 1000:.0f} ms (min {min(seconds) * 1000:.0f}, max "
              f"{max(seconds) * 1000:.0f}); titles asked per tick {asked} (at most {MAX_TITLES_PER_TICK}); "
              f"target < {TARGET_S:.0f} s: {'PASS' if median < TARGET_S else 'FAIL'}")
        print(f"tick with nothing new: {skip_s * 1000:.0f} ms ({type(skipped).__name__})")
        print(f"baseline, reading the {args.events:,} events once: {baseline * 1000:.0f} ms; ranking tick / baseline "
              f"= {median / baseline:.1f}")


if __name__ == "__main__":
    main()
