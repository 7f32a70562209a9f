"""Concurrency pools: runs of one source share a pool, and the pool's size splits the source's rate limit.

Every run paces its requests at the source's rate divided by its pool's size, so however many of the pool's
runs the instance starts at once (at most the size), together they stay under the upstream's limit. A pool of
1 gives one run the whole rate; TMDB's API (40 requests/s) takes 4 runs of 10/s, so four shards refresh in
parallel. Dagster keeps pool limits on the instance: ``goodwatch pools apply`` writes this table there (the
instances' ``dagster.yaml`` set ``default_limit: 1`` for any pool not written yet).
"""

from __future__ import annotations

from dataclasses import replace

import dagster as dg

from goodwatch_assets.fetching.policy import SourcePolicy

POOL_LIMITS = {
    "tmdb_files": 1,
    "tmdb_api": 4,
    "imdb_datasets": 1,
    "metacritic": 1,
    "rotten_tomatoes": 1,
    "tvtropes": 1,
    "llm": 2,
}
"""Pool (the source's fetch policy name) -> runs of it at once."""


def pool_share(policy: SourcePolicy) -> SourcePolicy:
    """The policy one run of the source's pool paces at."""
    return replace(policy, requests_per_second=policy.requests_per_second / POOL_LIMITS.get(policy.source, 1))


def apply_pool_limits(instance: dg.DagsterInstance) -> dict[str, int]:
    """Write every pool's limit on the instance (what ``dagster instance concurrency set`` does)."""
    for pool, limit in POOL_LIMITS.items():
        instance.event_log_storage.set_concurrency_slots(pool, limit)
    return dict(POOL_LIMITS)
