"""How fresh each asset must be, from its source's nature: one table, which every asset's decorator reads.

| assets | warn after | fail after | why |
|---|---|---|---|
| `tmdb_trending` | 2 h | 3 h | lane 2's input, fetched hourly |
| `tmdb_daily_export`, `imdb_ratings` | 26 h | 30 h | a new file every day |
| `tmdb_details`, `metacritic_scores`, `rotten_tomatoes_scores` | 7 d | 8 d | scores and offers move weekly |
| `tvtropes_tropes`, `dna`, `dna_vectors` | 31 d | 35 d | tropes and DNA hardly change |
| the serving tables, `store_inventory` | 26 h | 30 h | reconciled daily, and eagerly on every change |

A partitioned asset is as fresh as its newest materialization of any partition: the sweeps and the priority
lane materialize some partition of each per-title source every hour, so a policy fails when a source stopped
altogether (a cool-down that never ends, a broken key), not when one shard lags. Per-title staleness is the
``coverage`` asset check's job (age p50/p90/max).
"""

from __future__ import annotations

from datetime import timedelta

import dagster as dg

HOURLY = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=3), warn_window=timedelta(hours=2))
DAILY = dg.FreshnessPolicy.time_window(fail_window=timedelta(hours=30), warn_window=timedelta(hours=26))
WEEKLY = dg.FreshnessPolicy.time_window(fail_window=timedelta(days=8), warn_window=timedelta(days=7))
MONTHLY = dg.FreshnessPolicy.time_window(fail_window=timedelta(days=35), warn_window=timedelta(days=31))

FRESHNESS = {
    "tmdb_trending": HOURLY,
    "tmdb_daily_export": DAILY,
    "imdb_ratings": DAILY,
    "tmdb_details": WEEKLY,
    "metacritic_scores": WEEKLY,
    "rotten_tomatoes_scores": WEEKLY,
    "tvtropes_tropes": MONTHLY,
    "dna": MONTHLY,
    "dna_vectors": MONTHLY,
    "movies": DAILY,
    "tv_shows": DAILY,
    "streaming_links": DAILY,
    "streaming_providers": DAILY,
    "store_inventory": DAILY,
}
