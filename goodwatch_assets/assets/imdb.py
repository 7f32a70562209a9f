"""``imdb_ratings``: every IMDb rating of the catalog, every day, from IMDb's own dataset file."""


import asyncio

import dagster as dg

from goodwatch_assets.assets.tmdb import tmdb_details
from goodwatch_assets.automation.freshness import FRESHNESS
from goodwatch_assets.fetching.client import download
from goodwatch_assets.ingest import ingest_imdb_ratings
from goodwatch_assets.partitions import daily_partitions
from goodwatch_assets.resources import DocumentStoreResource, ServingDatabaseResource, UpstreamsResource
from goodwatch_assets.sources import imdb
from goodwatch_assets.stores.cooldowns import PostgresCooldowns


@dg.asset(
    partitions_def=daily_partitions,
    # The join needs the IMDb ids of every shard's details.
    deps=[dg.AssetDep(tmdb_details, partition_mapping=dg.AllPartitionMapping())],
    group_name="sources",
    kinds={"python", "polars", "postgres"},
    pool="imdb_datasets",
    freshness_policy=FRESHNESS["imdb_ratings"],
    description="IMDb ratings and votes of every catalog title with an IMDb id, joined from IMDb's daily "
    "title.ratings.tsv.gz (one download instead of one page per title).",
)
def imdb_ratings(
    context: dg.AssetExecutionContext,
    documents: DocumentStoreResource,
    serving_db: ServingDatabaseResource,
    upstreams: UpstreamsResource,
) -> dg.MaterializeResult:
    (body,) = asyncio.run(download(upstreams.policies()["imdb_datasets"], PostgresCooldowns(serving_db.db),
                                   [f"/{imdb.RATINGS_FILE}"]))
    metadata = ingest_imdb_ratings(documents.store, body)
    return dg.MaterializeResult(metadata={"dagster/row_count": metadata["stored"], **metadata})
