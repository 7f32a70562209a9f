"""The page-finding sources' candidates, as assets: each catalog partition's Wikidata ids, and each site's sitemaps.

Both run weekly, after TMDB details (whose titles fill the page sources' queues) and before the page sources, whose
assets depend on them. A run that gets an unusable answer (a timed-out query, a short answer, a broken sitemap)
fails before writing anything; the candidates of the week before stay.
"""

import asyncio

import dagster as dg

from goodwatch_assets.defs.freshness import freshness_policy
from goodwatch_assets.defs.partitions import CatalogPartition, all_catalog_partitions, catalog_partitions
from goodwatch_assets.defs.resources import DocumentStoreResource, FetchResource
from goodwatch_assets.defs.run_resources import FETCHING, run_tags
from goodwatch_assets.defs.runs import LANE1_TAGS
from goodwatch_assets.lib.page_candidates import refresh_sitemap_matches, refresh_wikidata_ids
from goodwatch_assets.sources import tmdb, wikidata
from goodwatch_assets.sources.registry import PER_TITLE_SOURCES
from goodwatch_assets.sources.spec import WEEKLY, SourceSpec

GROUP = "sources"
WIKIDATA_SOURCES = [spec for spec in PER_TITLE_SOURCES if spec.finding and spec.finding.wikidata_property]
"""The page-finding sources whose pages Wikidata names."""


@dg.asset(
    name=wikidata.SPEC.name,
    partitions_def=catalog_partitions,
    deps=[tmdb.SPEC.name],
    group_name=GROUP,
    kinds={"python", "postgres"},
    pool=wikidata.SITE.name,
    op_tags=FETCHING.tags(),
    freshness_policy=freshness_policy(wikidata.SPEC.freshness),
    description=wikidata.SPEC.description,
)
def wikidata_ids(context: dg.AssetExecutionContext, documents: DocumentStoreResource,
                 fetch: FetchResource) -> dg.MaterializeResult:
    partition = CatalogPartition.from_key(context.partition_key)

    async def go():
        async with fetch.client(wikidata.SITE) as client:
            return await refresh_wikidata_ids(documents.store, client, partition.media, partition.shard,
                                              WIKIDATA_SOURCES)

    metadata = asyncio.run(go())
    return dg.MaterializeResult(metadata={"dagster/row_count": metadata["with_item"], **metadata})


def sitemap_asset_name(spec: SourceSpec) -> str:
    return f"{spec.name}_sitemap"


def sitemap_asset(spec: SourceSpec) -> dg.AssetsDefinition:
    """The asset of a site's sitemaps: every page it lists, matched to the source's titles."""

    @dg.asset(
        name=sitemap_asset_name(spec),
        deps=[dg.AssetDep(tmdb.SPEC.name, partition_mapping=dg.AllPartitionMapping())],
        group_name=GROUP,
        kinds={"python", "postgres"},
        pool=spec.site.name,
        op_tags=FETCHING.tags(),
        freshness_policy=freshness_policy(WEEKLY),
        description=f"The pages {spec.site.name}'s sitemaps list, matched to the titles of the {spec.name} queue by "
                    "their names' slugs: candidates tried before any guessed URL.",
    )
    def _asset(documents: DocumentStoreResource, fetch: FetchResource) -> dg.MaterializeResult:
        async def go():
            async with fetch.client(spec.site) as client:
                return await refresh_sitemap_matches(documents.store, client, spec)

        metadata = asyncio.run(go())
        return dg.MaterializeResult(metadata={"dagster/row_count": metadata["pages_listed"], **metadata})

    return _asset


SITEMAP_ASSETS = {spec.name: sitemap_asset(spec) for spec in PER_TITLE_SOURCES if spec.finding and spec.finding.sitemap}
"""Source name -> the asset of its site's sitemaps."""


@dg.schedule(name="wikidata_ids_weekly", cron_schedule="0 3 * * 1", target=dg.AssetSelection.assets(wikidata_ids),
             execution_timezone="UTC", description="Every catalog partition's Wikidata ids, Mondays.")
def wikidata_weekly(context: dg.ScheduleEvaluationContext):
    tick = context.scheduled_execution_time.isoformat()
    tags = {**LANE1_TAGS, **run_tags(wikidata_ids)}
    return [dg.RunRequest(run_key=f"wikidata_ids:{partition.key}:{tick}", partition_key=partition.key, tags=tags)
            for partition in all_catalog_partitions()]


sitemaps_weekly = dg.ScheduleDefinition(
    name="sitemaps_weekly", cron_schedule="0 2 * * 1", execution_timezone="UTC",
    target=dg.AssetSelection.assets(*SITEMAP_ASSETS.values()),
    tags={**LANE1_TAGS, **run_tags(*SITEMAP_ASSETS.values())},
    description="The page-finding sites' sitemaps, matched to their sources' titles, Mondays.",
)
