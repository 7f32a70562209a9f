"""What the asset of every per-title source does in a catalog partition: one run through its queue, reported.

A run takes the partition's due titles (lane 1: at most ``max_items`` of them), or exactly the titles lane 2 asks
for (``tmdb_ids``), fetches them through the site's client, and stores each batch before the next
(``lib/title_fetching.py``); the titles it fetched are queued for the sources it feeds first.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import dagster as dg

from goodwatch_assets.defs.partitions import CatalogPartition
from goodwatch_assets.defs.resources import DocumentStoreResource, FetchResource, QueuesResource
from goodwatch_assets.fetching.client import SourceClient
from goodwatch_assets.lib.status_counts import StatusCounts
from goodwatch_assets.lib.title_fetching import fetch_titles
from goodwatch_assets.models.queue import FetchedDocument
from goodwatch_assets.models.shards import shard_of
from goodwatch_assets.sources import registry
from goodwatch_assets.sources.spec import GroupHandle, Handle, SourceSpec


class TitlesConfig(dg.Config):
    """Which titles of the partition a run takes."""

    max_items: int | None = None
    """Lane 1: at most this many due titles (None: every due title of the partition)."""
    tmdb_ids: list[int] | None = None
    """Lane 2 (the priority sensor): only these titles of the partition, fetched now however recently they were."""


def run_titles(
    context: dg.AssetExecutionContext,
    spec: SourceSpec,
    handle: Handle | GroupHandle,
    config: TitlesConfig,
    *,
    documents: DocumentStoreResource,
    fetch: FetchResource,
    queues: QueuesResource,
    client: SourceClient | None = None,
    before_storing: Callable[[list[FetchedDocument]], None] | None = None,
) -> dict:
    """One run of ``spec`` over the context's catalog partition; its metadata, with the partition's share of titles
    with data and share quarantined after the run (``client``: the site's client for this run, when the caller adds
    headers of its own)."""
    partition = CatalogPartition.from_key(context.partition_key)
    only = config.tmdb_ids
    if only is not None and (outside := [i for i in only if shard_of(i) != partition.shard]):
        raise ValueError(f"tmdb_ids {outside[:5]} are not in partition {partition.key}")
    client = client or fetch.client(spec.site)

    async def go():
        async with client:
            return await fetch_titles(documents.store, client, spec.name, queues.settings(spec), media=partition.media,
                                      shard=partition.shard, handle=handle, max_items=config.max_items, only=only,
                                      feeds=registry.fed_by(spec.name), before_storing=before_storing,
                                      shared_pages=spec.finding is not None,
                                      on_batch=lambda report, taken: context.log.info(
                                          f"{spec.name} {partition.key}: "
                                          f"{report.progress_line(taken, config.max_items, client)}"))

    with fetch.serving_db.db.outage_named(f"{spec.name} ran {partition.key}",
                                          "Every batch stored before is kept; the titles in flight are taken again when "
                                          "their lease ends."):
        report = asyncio.run(go())
        counts = StatusCounts.read(documents.store, spec.name, [{"media": partition.media, "shard": partition.shard}])
    metadata = report.as_metadata(client)
    if report.stopped_by:
        context.log.warning(f"{spec.site.name}: run stopped, progress kept ({report.stopped_by})")
    context.log.info(f"{spec.name} {partition.key}: {metadata}")
    lane = {} if only is None else {"lane": "priority", "titles_asked": len(only)}
    return {**metadata, **lane, "partition": partition.key, "base_url": client.policy.base_url,
            "pool_limit": fetch.pool_limit(spec.site),
            # the partition's shares after the run, as its checks judge them: the asset's plots show them over time
            "share_with_data": round(counts.share_with_data, 4), "quarantine_share": round(counts.quarantine_share, 4)}
