"""A spec's freshness (``sources/spec.py``: warn and fail windows, free of Dagster) as Dagster's policy.

A partitioned asset is as fresh as its newest materialization of any partition: the sweeps and the priority lane
materialize some partition of each per-title source every hour, so a policy fails when a source stopped altogether
(a cool-down that never ends, a broken key), not when one shard lags. Per-title staleness is the ``coverage``
check's job (age p50/p90/max).
"""

from __future__ import annotations

import dagster as dg

from goodwatch_assets.sources.spec import Freshness


def freshness_policy(freshness: Freshness) -> dg.FreshnessPolicy:
    return dg.FreshnessPolicy.time_window(fail_window=freshness.fail_after, warn_window=freshness.warn_after)
