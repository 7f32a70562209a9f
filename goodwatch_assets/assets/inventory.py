"""``store_inventory``: what the stores hold, recorded over time in the asset's metadata."""


import dagster as dg

from goodwatch_assets.assets.dna import dna_vectors
from goodwatch_assets.assets.guessed import metacritic_scores, rotten_tomatoes_scores, tvtropes_tropes
from goodwatch_assets.assets.imdb import imdb_ratings
from goodwatch_assets.assets.tmdb import tmdb_daily_export, tmdb_details
from goodwatch_assets.automation.freshness import FRESHNESS
from goodwatch_assets.resources import DocumentStoreResource, ServingDatabaseResource
from goodwatch_assets.stores.inventory import take_inventory


@dg.asset(
    # It reads what the sources stored, so it runs after them.
    deps=[tmdb_daily_export, tmdb_details, imdb_ratings, metacritic_scores, rotten_tomatoes_scores, tvtropes_tropes,
          dna_vectors],
    group_name="observability",
    freshness_policy=FRESHNESS["store_inventory"],
    kinds={"postgres"},
    description="Documents per source and status in the raw layer, and the serving schema's version. "
    "Each materialization records the counts, so the asset's plots show the catalog filling up.",
)
def store_inventory(serving_db: ServingDatabaseResource, documents: DocumentStoreResource) -> dg.MaterializeResult:
    inventory = take_inventory(serving_db.db, documents.store)
    per_source = {
        f"documents/{source}": sum(counts.values()) for source, counts in inventory.status_counts.items()
    }
    return dg.MaterializeResult(
        metadata={
            "dagster/row_count": inventory.total_documents,
            "schema_version": inventory.schema_version,
            "serving_database": "embedded" if inventory.serving_db_embedded else inventory.serving_db_url,
            "document_store": inventory.document_backend,
            "status_counts": dg.MetadataValue.md(inventory.as_markdown()),
            **per_source,
        }
    )
