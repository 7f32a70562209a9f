"""Concurrency pools: one per site, so that runs of every source that fetches from a site share its rate limit.

Each run paces at the site's rate divided by the pool's limit on the instance (``FetchResource.run_policy``), so the
pool's runs together stay under the upstream's limit. A site's planned limit is ``SitePolicy.pool_limit`` (1 gives
one run the whole rate; TMDB's API takes 4 runs of 10 requests/s, so four shards refresh at once). Dagster keeps pool
limits on the instance: ``goodwatch pools apply`` writes the planned ones there (the instances' ``dagster.yaml`` set
``default_limit: 1`` for any pool not written yet, so an unset pool runs one run at the site's whole rate).
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from goodwatch_assets.sources.registry import SITES

POOL_LIMITS = {site.name: site.pool_limit for site in SITES}
"""Pool (the site's name) -> runs of it at once."""


def apply_pool_limits(instance: dg.DagsterInstance) -> dict[str, int]:
    """Write every pool's limit on the instance (what ``dagster instance concurrency set`` does)."""
    for pool, limit in POOL_LIMITS.items():
        instance.event_log_storage.set_concurrency_slots(pool, limit)
    return dict(POOL_LIMITS)


def pool_limit(instance: dg.DagsterInstance | None, pool: str) -> int:
    """Runs of ``pool`` the instance lets run at once: its limit there, else the site's planned one."""
    planned = POOL_LIMITS.get(pool, 1)
    storage = instance.event_log_storage if instance is not None else None
    if storage is None or not storage.supports_global_concurrency_limits:
        return planned
    limit = storage.get_concurrency_info(pool).limit
    return planned if limit is None else max(1, limit)


@dataclass(frozen=True)
class PoolState:
    """A pool as the instance holds it: its limit there (None: never set, the instance's default applies), the
    planned one, the runs holding its slots (run id -> partition) and the steps waiting for one."""

    pool: str
    limit: int | None
    planned: int
    holders: dict[str, str | None]
    waiting: int


def pool_states(instance: dg.DagsterInstance) -> list[PoolState]:
    """Every site's pool, and any other pool the instance has a limit for, by name."""
    storage = instance.event_log_storage
    names = sorted(set(POOL_LIMITS) | set(storage.get_concurrency_keys()))
    states = []
    for pool in names:
        info = storage.get_concurrency_info(pool)
        holders = {}
        for run_id in sorted(info.active_run_ids):
            run = instance.get_run_by_id(run_id)
            holders[run_id] = run.tags.get("dagster/partition") if run else None
        states.append(PoolState(pool, None if info.using_default_limit else info.limit, POOL_LIMITS.get(pool, 1),
                                holders, info.pending_step_count))
    return states
