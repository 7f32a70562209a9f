"""``imdb_ratings``: every IMDb rating of the catalog, every day, from IMDb's own dataset file."""


import asyncio
import io

import dagster as dg
import polars as pl

from goodwatch_assets.assets.tmdb import tmdb_details
from goodwatch_assets.errors import ParseError
from goodwatch_assets.fetching.client import SourceClient
from goodwatch_assets.partitions import daily_partitions
from goodwatch_assets.resources import DocumentStoreResource, ServingDatabaseResource, UpstreamsResource
from goodwatch_assets.sources import imdb
from goodwatch_assets.stores.cooldowns import PostgresCooldowns
from goodwatch_assets.stores.documents import FetchedDocument, Status

SOURCE = "imdb_ratings"


async def _download(policy, cooldowns) -> bytes:
    async with SourceClient(policy, cooldowns) as client:
        response = await client.get(f"/{imdb.RATINGS_FILE}")
        if response.status_code != 200:
            raise ParseError(f"{imdb.RATINGS_FILE}: IMDb answered HTTP {response.status_code}")
        return response.content


def rating_documents(ratings: pl.DataFrame, catalog_ids: pl.DataFrame) -> list[FetchedDocument]:
    """One document per catalog title with an IMDb id: its rating, or "not found" when IMDb has none."""
    joined = catalog_ids.join(ratings, on="imdb_id", how="left")
    documents = []
    for media, tmdb_id, imdb_id, rating, votes in joined.iter_rows():
        if rating is None:
            documents.append(FetchedDocument(media, tmdb_id, None, status=Status.NOT_FOUND,
                                             record={"not_found": "no rating in IMDb's dataset", "imdb_id": imdb_id}))
        else:
            values = {"imdb_id": imdb_id, "rating": rating, "votes": votes}
            documents.append(FetchedDocument(media, tmdb_id, values, record=values))
    return documents


@dg.asset(
    partitions_def=daily_partitions,
    # The join needs the IMDb ids of every shard's details.
    deps=[dg.AssetDep(tmdb_details, partition_mapping=dg.AllPartitionMapping())],
    group_name="sources",
    kinds={"python", "polars", "postgres"},
    description="IMDb ratings and votes of every catalog title with an IMDb id, joined from IMDb's daily "
    "title.ratings.tsv.gz (one download instead of one page per title).",
)
def imdb_ratings(
    context: dg.AssetExecutionContext,
    documents: DocumentStoreResource,
    serving_db: ServingDatabaseResource,
    upstreams: UpstreamsResource,
) -> dg.MaterializeResult:
    body = asyncio.run(_download(upstreams.policies()["imdb_datasets"], PostgresCooldowns(serving_db.db)))
    ratings = imdb.read_ratings(io.BytesIO(body))  # the whole file is read before anything is written
    store = documents.store
    catalog_ids = pl.DataFrame(
        list(store.field_values("tmdb_details", "imdb_id")), schema=["media", "tmdb_id", "imdb_id"], orient="row"
    )
    outcome = store.upsert(SOURCE, rating_documents(ratings, catalog_ids))
    return dg.MaterializeResult(metadata={
        "dagster/row_count": outcome.written, "file_rows": ratings.height, "catalog_titles_with_imdb_id": catalog_ids.height,
        "changed": outcome.inserted + outcome.changed, "unchanged": outcome.unchanged,
    })
