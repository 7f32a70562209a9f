"""TMDB assets: the daily id exports (the catalog's universe) and per-title details."""


import asyncio
from datetime import date

import dagster as dg

from goodwatch_assets.assets.lane1 import Lane1Config, run_partition
from goodwatch_assets.automation.freshness import FRESHNESS
from goodwatch_assets.automation.pools import pool_share
from goodwatch_assets.demand import mark_refreshed, store_trending
from goodwatch_assets.fetching.client import SourceClient, download
from goodwatch_assets.ingest import ingest_export
from goodwatch_assets.partitions import MEDIA_TYPES, CatalogPartition, catalog_partitions, daily_partitions
from goodwatch_assets.resources import DocumentStoreResource, ServingDatabaseResource, UpstreamsResource
from goodwatch_assets.sources import tmdb
from goodwatch_assets.sources.guessing import TitleHints
from goodwatch_assets.stores.cooldowns import PostgresCooldowns
from goodwatch_assets.stores.documents import FetchedDocument, QueueEntry

GUESSED_SOURCES = ("metacritic", "rotten_tomatoes", "tvtropes")
DNA_SOURCE = "dna"


@dg.asset(
    partitions_def=daily_partitions,
    group_name="sources",
    kinds={"python", "postgres"},
    pool="tmdb_files",
    freshness_policy=FRESHNESS["tmdb_daily_export"],
    description="TMDB's daily id exports (movies and TV): every title with its popularity. Titles missing "
    "from the day's file are marked deleted, not dropped. Feeds the TMDB details queue.",
)
def tmdb_daily_export(
    context: dg.AssetExecutionContext,
    documents: DocumentStoreResource,
    serving_db: ServingDatabaseResource,
    upstreams: UpstreamsResource,
) -> dg.MaterializeResult:
    day = date.fromisoformat(context.partition_key)
    names = {media: tmdb.export_file_name(media, day) for media in MEDIA_TYPES}
    bodies = asyncio.run(download(upstreams.policies()["tmdb_files"], PostgresCooldowns(serving_db.db),
                                  [f"/p/exports/{name}" for name in names.values()]))
    files = dict(zip(names.values(), bodies, strict=True))
    metadata = {f"{media}/{key}": value for media, name in names.items()
                for key, value in ingest_export(documents.store, media, files[name]).items()}
    rows = sum(metadata[f"{media}/rows"] for media in names)
    return dg.MaterializeResult(metadata={"dagster/row_count": rows, "day": str(day), **metadata})


@dg.asset(
    partitions_def=catalog_partitions,
    # Every shard works from the newest export's titles.
    deps=[dg.AssetDep(tmdb_daily_export, partition_mapping=dg.LastPartitionMapping())],
    group_name="sources",
    kinds={"python", "postgres"},
    pool="tmdb_api",
    freshness_policy=FRESHNESS["tmdb_details"],
    description="TMDB details with external ids, watch providers (streaming offers per country, provider and "
    "type), keywords, credits, certifications and alternative titles. Queues each title for the guessed-URL "
    "sources with its names and year, and for DNA.",
)
def tmdb_details(
    context: dg.AssetExecutionContext,
    config: Lane1Config,
    documents: DocumentStoreResource,
    serving_db: ServingDatabaseResource,
    upstreams: UpstreamsResource,
) -> dg.MaterializeResult:
    store = documents.store
    if config.tmdb_ids:  # lane 2 may ask for titles not in any export yet: they are fetched by id
        store.enqueue(tmdb.SOURCE, [QueueEntry(CatalogPartition.from_key(context.partition_key).media, tmdb_id)
                                    for tmdb_id in config.tmdb_ids])

    def queue_for_next_sources(fetched: list[FetchedDocument]) -> None:
        """Before the batch is stored, so that no stored title can be missing from the next sources' queues."""
        if config.tmdb_ids:
            mark_refreshed(serving_db.db, [(d.media, d.tmdb_id) for d in fetched])
        described = [d for d in fetched if d.record and "title" in d.record]
        entries = [QueueEntry(d.media, d.tmdb_id, d.popularity, TitleHints.for_queue(d.record)) for d in described]
        for source in GUESSED_SOURCES:
            store.enqueue(source, entries)
        store.enqueue(DNA_SOURCE, [QueueEntry(d.media, d.tmdb_id, d.popularity) for d in described])

    return run_partition(
        context, source="tmdb_details", site="tmdb_api",
        handle=tmdb.details_handle(upstreams.tmdb_api_key, upstreams.tmdb_bearer_token),
        config=config, documents=documents, serving_db=serving_db, upstreams=upstreams, before_storing=queue_for_next_sources,
    )


@dg.asset(
    group_name="sources",
    kinds={"python", "postgres"},
    pool="tmdb_api",
    freshness_policy=FRESHNESS["tmdb_trending"],
    description="TMDB's trending movies and shows of the day and of the week (one page each): with app demand, what "
    "the priority sensor refreshes first.",
)
def tmdb_trending(serving_db: ServingDatabaseResource, upstreams: UpstreamsResource) -> dg.MaterializeResult:
    async def go():
        async with SourceClient(pool_share(upstreams.policies()["tmdb_api"]), PostgresCooldowns(serving_db.db)) as client:
            return await tmdb.fetch_trending(client, upstreams.tmdb_api_key, upstreams.tmdb_bearer_token)

    lists = asyncio.run(go())
    stored = store_trending(serving_db.db, lists)
    return dg.MaterializeResult(metadata={"dagster/row_count": stored,
                                          **{f"{media}/{window}": len(items) for (media, window), items in lists.items()}})
