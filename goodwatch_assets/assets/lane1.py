"""What every per-title source asset does in a catalog partition: one lane-1 run, reported."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import dagster as dg

from goodwatch_assets.automation.pools import pool_share
from goodwatch_assets.fetching.client import SourceClient
from goodwatch_assets.fetching.policy import SourcePolicy
from goodwatch_assets.partitions import CatalogPartition
from goodwatch_assets.resources import DocumentStoreResource, ServingDatabaseResource, UpstreamsResource
from goodwatch_assets.shards import shard_of
from goodwatch_assets.stores.cooldowns import PostgresCooldowns
from goodwatch_assets.workqueue import GroupHandle, Handle, QueueSettings, run_lane1

# Per source: how old data may get before lane 1 refreshes it, and how much one run takes at most.
QUEUES = {
    "tmdb_details": QueueSettings("tmdb_details", refresh_age=timedelta(days=7), batch_size=100),
    "metacritic": QueueSettings("metacritic", refresh_age=timedelta(days=14), batch_size=25),
    "rotten_tomatoes": QueueSettings("rotten_tomatoes", refresh_age=timedelta(days=14), batch_size=25),
    "tvtropes": QueueSettings("tvtropes", refresh_age=timedelta(days=60), batch_size=25),
    # The DNA of a title hardly changes: extracted once, refreshed yearly. Its handle re-asks unusable answers
    # itself, so what is still unusable is quarantined at once.
    "dna": QueueSettings("dna", refresh_age=timedelta(days=365), batch_size=25, quarantine_rejected=True),
}


class Lane1Config(dg.Config):
    max_items: int | None = None
    """At most this many titles in one run (None: every due title of the partition)."""
    tmdb_ids: list[int] | None = None
    """Lane 2 (the priority sensor): only these titles of the partition, fetched now however recently they were."""


def run_partition(
    context: dg.AssetExecutionContext,
    *,
    source: str,
    site: str,
    handle: Handle | GroupHandle,
    config: Lane1Config,
    documents: DocumentStoreResource,
    serving_db: ServingDatabaseResource,
    upstreams: UpstreamsResource,
    before_storing=None,
    policy: SourcePolicy | None = None,
) -> dg.MaterializeResult:
    partition = CatalogPartition.from_key(context.partition_key)
    policy = pool_share(policy or upstreams.policies()[site])
    only = config.tmdb_ids
    if only is not None and (outside := [i for i in only if shard_of(i) != partition.shard]):
        raise ValueError(f"tmdb_ids {outside[:5]} are not in partition {partition.key}")

    async def go():
        async with SourceClient(policy, PostgresCooldowns(serving_db.db)) as client:
            report = await run_lane1(documents.store, client, QUEUES[source], media=partition.media,
                                     shard=partition.shard, handle=handle, max_items=config.max_items,
                                     only=only, before_storing=before_storing)
            return report, client

    with serving_db.db.outage_named(f"{source} ran {partition.key}",
                                    "Every batch stored before is kept; the titles in flight are taken again when "
                                    "their lease ends."):
        report, client = asyncio.run(go())
    metadata = report.as_metadata(client)
    if report.stopped_by:
        context.log.warning(f"{site}: run stopped, progress kept ({report.stopped_by})")
    context.log.info(f"{source} {partition.key}: {metadata}")
    lane = {} if only is None else {"lane": "priority", "titles_asked": len(only)}
    return dg.MaterializeResult(metadata={**metadata, **lane, "partition": partition.key, "base_url": policy.base_url})
