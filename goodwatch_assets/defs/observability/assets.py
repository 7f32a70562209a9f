"""``store_inventory``: what the stores hold, recorded over time in the asset's metadata."""


import dagster as dg

from goodwatch_assets.defs.freshness import freshness_policy
from goodwatch_assets.defs.resources import DocumentStoreResource, ServingDatabaseResource
from goodwatch_assets.defs.run_resources import FETCHING
from goodwatch_assets.defs.serving.assets import COMBINE_INPUTS
from goodwatch_assets.defs.sources.assets import tmdb_daily_export
from goodwatch_assets.sources.spec import DAILY
from goodwatch_assets.stores.inventory import take_inventory


@dg.asset(
    # It reads what the sources stored, so it runs after them (DNA after its vectors, as the combine does).
    deps=[tmdb_daily_export, *(dep.asset_key for dep in COMBINE_INPUTS)],
    group_name="observability",
    freshness_policy=freshness_policy(DAILY),
    kinds={"postgres"},
    op_tags=FETCHING.tags(),
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
