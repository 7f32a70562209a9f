"""The guessed-URL sources as assets: Metacritic and Rotten Tomatoes scores, TV Tropes tropes.

One factory builds all three: they differ only in their source module (candidate URLs, parser).
"""


import dagster as dg

from goodwatch_assets.assets.lane1 import Lane1Config, run_partition
from goodwatch_assets.assets.tmdb import tmdb_details
from goodwatch_assets.automation.freshness import FRESHNESS
from goodwatch_assets.partitions import catalog_partitions
from goodwatch_assets.resources import DocumentStoreResource, ServingDatabaseResource, UpstreamsResource
from goodwatch_assets.sources import metacritic, rotten_tomatoes, tvtropes


def guessed_source_asset(name: str, module, description: str) -> dg.AssetsDefinition:
    @dg.asset(
        name=name,
        partitions_def=catalog_partitions,
        deps=[tmdb_details],
        group_name="sources",
        kinds={"python", "postgres"},
        pool=module.SITE,
        freshness_policy=FRESHNESS[name],
        description=description,
    )
    def _asset(
        context: dg.AssetExecutionContext,
        config: Lane1Config,
        documents: DocumentStoreResource,
        serving_db: ServingDatabaseResource,
        upstreams: UpstreamsResource,
    ) -> dg.MaterializeResult:
        return run_partition(context, source=module.SOURCE, site=module.SITE, handle=module.fetch, config=config,
                             documents=documents, serving_db=serving_db, upstreams=upstreams)

    return _asset


metacritic_scores = guessed_source_asset(
    "metacritic_scores", metacritic,
    "Metascore and user score with their counts, from the title's Metacritic page (URL guessed, page verified "
    "by title and year, match confidence stored).",
)
rotten_tomatoes_scores = guessed_source_asset(
    "rotten_tomatoes_scores", rotten_tomatoes,
    "Tomatometer and Popcornmeter with their counts, from the title's Rotten Tomatoes page (URL guessed, page "
    "verified by title and year, match confidence stored).",
)
tvtropes_tropes = guessed_source_asset(
    "tvtropes_tropes", tvtropes,
    "The tropes of the title's TV Tropes article, sub-pages followed (URL guessed, page verified).",
)
