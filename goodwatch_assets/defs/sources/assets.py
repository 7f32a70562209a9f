"""The upstreams' assets: TMDB's daily id exports (the catalog's universe) and changes feed, one asset per per-title
source (built from its spec), IMDb's daily ratings file, and TMDB's trending lists."""


import asyncio
from datetime import date

import dagster as dg

from goodwatch_assets.defs.freshness import freshness_policy
from goodwatch_assets.defs.partitions import MEDIA_TYPES, CatalogPartition, catalog_partitions, daily_partitions
from goodwatch_assets.defs.resources import (
    DocumentStoreResource,
    FetchResource,
    QueuesResource,
    ServingDatabaseResource,
)
from goodwatch_assets.defs.retries import TRANSIENT_RETRY, not_retried_unless_transient
from goodwatch_assets.defs.run_resources import FETCHING, FILES
from goodwatch_assets.defs.sources.page_candidates import sitemap_asset_name
from goodwatch_assets.defs.title_runs import TitlesConfig, run_titles
from goodwatch_assets.lib.demand import mark_refreshed, store_trending
from goodwatch_assets.lib.ingest import ingest_export, ingest_imdb_ratings
from goodwatch_assets.models.queue import FetchedDocument, QueueEntry
from goodwatch_assets.sources import imdb, tmdb, wikidata
from goodwatch_assets.sources.registry import PER_TITLE_SOURCES
from goodwatch_assets.sources.spec import DAILY, HOURLY, SourceSpec

GROUP = "sources"


@dg.asset(
    partitions_def=daily_partitions,
    group_name=GROUP,
    kinds={"python", "postgres"},
    pool=tmdb.FILES.name,
    op_tags=FILES.tags(),
    freshness_policy=freshness_policy(DAILY),
    description="TMDB's daily id exports (movies and TV): every title with its popularity. Titles missing from the "
                f"day's file are marked deleted, not dropped. Feeds the {tmdb.SPEC.name} queue.",
)
def tmdb_daily_export(context: dg.AssetExecutionContext, documents: DocumentStoreResource,
                      fetch: FetchResource) -> dg.MaterializeResult:
    day = date.fromisoformat(context.partition_key)
    names = {media: tmdb.export_file_name(media, day) for media in MEDIA_TYPES}
    bodies = fetch.download(tmdb.FILES, [f"/p/exports/{name}" for name in names.values()])
    files = dict(zip(names.values(), bodies, strict=True))
    metadata = {f"{media}/{key}": value for media, name in names.items()
                for key, value in ingest_export(documents.store, media, files[name]).items()}
    rows = sum(metadata[f"{media}/rows"] for media in names)
    return dg.MaterializeResult(metadata={"dagster/row_count": rows, "day": str(day), **metadata})


@dg.asset(
    partitions_def=daily_partitions,
    group_name=GROUP,
    kinds={"python", "postgres"},
    pool=tmdb.API.name,
    op_tags=FETCHING.tags(),
    freshness_policy=freshness_policy(DAILY),
    description=f"TMDB's changes feed of the day (movies and TV): the titles it lists are due for their "
                f"{tmdb.SPEC.name} at once, so details follow upstream within a day without re-fetching the unchanged "
                "catalog.",
)
def tmdb_changes(context: dg.AssetExecutionContext, documents: DocumentStoreResource,
                 fetch: FetchResource) -> dg.MaterializeResult:
    day = date.fromisoformat(context.partition_key)

    async def go():
        async with fetch.client(tmdb.API) as client:
            return {media: await tmdb.fetch_changes(client, media, day) for media in MEDIA_TYPES}

    changed = asyncio.run(go())
    due = documents.store.make_due(tmdb.SPEC.name, [(media, i) for media, ids in changed.items() for i in ids])
    listed = sum(len(ids) for ids in changed.values())
    return dg.MaterializeResult(metadata={"dagster/row_count": listed, "day": str(day), "made_due": due,
                                          **{f"{media}/listed": len(ids) for media, ids in changed.items()}})


def _deps(spec: SourceSpec) -> list:
    """What a per-title source's asset follows: the source that feeds it (the first, TMDB details, follows the newest
    daily export and changes feed), and a page-finding source's candidates."""
    if spec.fed_by is None:
        return [dg.AssetDep(asset, partition_mapping=dg.LastPartitionMapping())
                for asset in (tmdb_daily_export, tmdb_changes)]
    deps: list = [spec.fed_by.source]
    if spec.finding and spec.finding.wikidata_property:
        deps.append(wikidata.SPEC.name)
    if spec.finding and spec.finding.sitemap:
        deps.append(sitemap_asset_name(spec))
    return deps


def per_title_source_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    """The asset of a per-title source: one run over a catalog partition's titles.

    Lane 2 may ask the first source (TMDB details) for titles no export lists yet (a request for a title the catalog
    does not have): they are queued here and fetched by id, and their refresh is recorded.
    """
    deps = _deps(spec)

    @dg.asset(
        name=spec.name,
        partitions_def=catalog_partitions,
        deps=deps,
        group_name=GROUP,
        kinds={"python", "postgres"},
        pool=spec.site.name,
        op_tags=FETCHING.tags(),
        retry_policy=TRANSIENT_RETRY,
        freshness_policy=freshness_policy(spec.freshness),
        description=spec.description,
    )
    @not_retried_unless_transient()
    def _asset(context: dg.AssetExecutionContext, config: TitlesConfig, documents: DocumentStoreResource,
               fetch: FetchResource, queues: QueuesResource) -> dg.MaterializeResult:
        before_storing = None
        if spec.fed_by is None and config.tmdb_ids:
            media = CatalogPartition.from_key(context.partition_key).media
            documents.store.enqueue(spec.name, [QueueEntry(media, tmdb_id) for tmdb_id in config.tmdb_ids])

            def before_storing(fetched: list[FetchedDocument]) -> None:
                mark_refreshed(fetch.serving_db.db, [(d.media, d.tmdb_id) for d in fetched])

        return dg.MaterializeResult(metadata=run_titles(context, spec, queues.handle(spec), config, documents=documents,
                                                        fetch=fetch, queues=queues, before_storing=before_storing))

    return _asset


PER_TITLE_SPECS = [spec for spec in PER_TITLE_SOURCES if spec.handle is not None]
"""The per-title sources whose handle needs nothing at run time (DNA's asset builds its own, in ``defs/dna``)."""
PER_TITLE_ASSETS = {spec.name: per_title_source_asset(spec) for spec in PER_TITLE_SPECS}
"""Source name -> its asset."""


@dg.asset(
    name=imdb.SPEC.name,
    partitions_def=daily_partitions,
    # The join needs the IMDb ids of every shard's details.
    deps=[dg.AssetDep(tmdb.SPEC.name, partition_mapping=dg.AllPartitionMapping())],
    group_name=GROUP,
    kinds={"python", "polars", "postgres"},
    pool=imdb.SPEC.site.name,
    op_tags=FILES.tags(),
    freshness_policy=freshness_policy(imdb.SPEC.freshness),
    description=imdb.SPEC.description,
)
def imdb_ratings(documents: DocumentStoreResource, fetch: FetchResource) -> dg.MaterializeResult:
    (body,) = fetch.download(imdb.SPEC.site, [f"/{imdb.RATINGS_FILE}"])
    metadata = ingest_imdb_ratings(documents.store, body)
    return dg.MaterializeResult(metadata={"dagster/row_count": metadata["stored"], **metadata})


@dg.asset(
    group_name=GROUP,
    kinds={"python", "postgres"},
    pool=tmdb.API.name,
    op_tags=FETCHING.tags(),
    freshness_policy=freshness_policy(HOURLY),
    description="TMDB's trending movies and shows of the day and of the week (one page each): with app demand, what "
                "the priority sensor refreshes first.",
)
def tmdb_trending(serving_db: ServingDatabaseResource, fetch: FetchResource) -> dg.MaterializeResult:
    async def go():
        async with fetch.client(tmdb.API) as client:
            return await tmdb.fetch_trending(client)

    lists = asyncio.run(go())
    stored = store_trending(serving_db.db, lists)
    return dg.MaterializeResult(metadata={"dagster/row_count": stored,
                                          **{f"{media}/{window}": len(items) for (media, window), items in lists.items()}})
