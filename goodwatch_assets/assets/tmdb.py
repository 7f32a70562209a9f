"""TMDB assets: the daily id exports (the catalog's universe) and per-title details."""


import asyncio
from datetime import date

import dagster as dg

from goodwatch_assets.assets.lane1 import Lane1Config, run_partition
from goodwatch_assets.fetching.client import download
from goodwatch_assets.ingest import ingest_export
from goodwatch_assets.partitions import MEDIA_TYPES, catalog_partitions, daily_partitions
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

    def queue_for_next_sources(stored: list[FetchedDocument]) -> None:
        described = [d for d in stored if d.record and "title" in d.record]
        entries = [QueueEntry(d.media, d.tmdb_id, d.popularity, TitleHints.for_queue(d.record)) for d in described]
        for source in GUESSED_SOURCES:
            store.enqueue(source, entries)
        store.enqueue(DNA_SOURCE, [QueueEntry(d.media, d.tmdb_id, d.popularity) for d in described])

    return run_partition(
        context, source="tmdb_details", site="tmdb_api",
        handle=tmdb.details_handle(upstreams.tmdb_api_key, upstreams.tmdb_bearer_token),
        config=config, documents=documents, serving_db=serving_db, upstreams=upstreams, on_stored=queue_for_next_sources,
    )
