"""The serving tables the web app reads: ``movies``, ``tv_shows``, ``streaming_links``, ``streaming_providers``.

One combine per catalog partition writes all four (``stores/combine.py``), so they are one multi-asset: a
partition's rows update together, as soon as that partition's sources change (eager automation). Every
partition materializes all four: ``movies`` in a TV partition (and ``tv_shows`` in a movie partition) records
zero rows, so partition health shows what was combined, not a half-missing table.

The combine only reads and writes the database, so a backfill combines its whole range in one run
(``BackfillPolicy.single_run``), each partition in a transaction of its own: on Kubernetes a run is a pod, and 32
pods for one sweep of combines is waste.
"""


import dagster as dg

from goodwatch_assets.defs.freshness import freshness_policy
from goodwatch_assets.defs.partitions import CatalogPartition, catalog_partitions, range_metadata
from goodwatch_assets.defs.resources import DocumentStoreResource, ServingDatabaseResource
from goodwatch_assets.defs.run_resources import COMBINE
from goodwatch_assets.models.shards import MEDIA_TYPES
from goodwatch_assets.sources import tmdb
from goodwatch_assets.sources.spec import DAILY
from goodwatch_assets.stores.combine import Combine, CombineStats
from goodwatch_assets.stores.serving_columns import SERVING_SOURCES, SERVING_TABLES
from goodwatch_assets.stores.serving_quality import percents_out_of_range

GROUP = "serving"
COMBINE_INPUTS = [
    # A daily whole-file source (IMDb's ratings): each partition's rows follow its newest day.
    dg.AssetDep(spec.serving.combined_after or spec.name,
                partition_mapping=dg.LastPartitionMapping() if spec.partitions == "daily" else None)
    for spec in SERVING_SOURCES
]
"""What the combine reads: every serving source's asset (or the asset that makes its columns ready)."""
DESCRIPTIONS = {
    "movies": "One row per movie: TMDB details, every source's scores (original, percent, counts), aggregated "
              "user / official / overall scores, tropes, DNA labels, streaming countries, per-source *_updated_at.",
    "tv_shows": "One row per TV show, as movies, plus seasons and episodes.",
    "streaming_links": "Who streams, rents or sells each title in which country; links gone upstream get "
                       "obsolete_at (kept), returning ones are revived.",
    "streaming_providers": "The streaming services seen in the links, by TMDB provider id.",
}


SERVING_CHECKS = [
    *(dg.AssetCheckSpec("percents_in_range", asset=table, blocking=True,
                        description="Every score the app shows as a percentage (each source's and the aggregates) is "
                                    "within 0-100 in the partitions the run combined; blocking.")
      for table in SERVING_TABLES.values()),
    *(dg.AssetCheckSpec("rows_cover_the_catalog", asset=table,
                        description="At least one serving row per title with TMDB details in the partitions the run "
                                    "combined (titles gone upstream keep their rows).")
      for table in SERVING_TABLES.values()),
]
"""The checks of the tables the app reads, evaluated by the combine's run over the partitions it wrote."""


def serving_check_results(db, documents, partitions: list[CatalogPartition]) -> list[dg.AssetCheckResult]:
    results = []
    for media, table in SERVING_TABLES.items():
        shards = [p.shard for p in partitions if p.media == media]
        checked = percents_out_of_range(db, media, shards)
        with_details = sum(documents.count_by_status(tmdb.SPEC.name, media=media, shard=shard).get("ok", 0)
                           for shard in shards)
        scope = {"shards": len(shards), "rows": checked.rows}
        results += [
            dg.AssetCheckResult(asset_key=table, check_name="percents_in_range", passed=not checked.outside,
                                metadata={**scope, "outside": checked.outside,
                                          "examples": ", ".join(checked.examples) or "none"}),
            dg.AssetCheckResult(asset_key=table, check_name="rows_cover_the_catalog",
                                passed=checked.rows >= with_details,
                                metadata={**scope, "titles_with_details": with_details}),
        ]
    return results


COMBINE_ON_CHANGE = dg.AutomationCondition.eager().without(~dg.AutomationCondition.any_deps_missing())
"""Eager, except that a source never materialized for the partition (or IMDb's file of the day not in yet) does not
hold the combine back: the combine reads whatever each source has stored."""


class CombineConfig(dg.Config):
    full_rebuild: bool = False
    """Recombine every title of the partition, not only those whose documents changed since the last combine."""


@dg.multi_asset(
    specs=[dg.AssetSpec(name, deps=COMBINE_INPUTS, description=description, group_name=GROUP,
                        kinds={"postgres"}, partitions_def=catalog_partitions,
                        automation_condition=COMBINE_ON_CHANGE, freshness_policy=freshness_policy(DAILY))
           for name, description in DESCRIPTIONS.items()],
    name="serving_tables",
    check_specs=SERVING_CHECKS,
    backfill_policy=dg.BackfillPolicy.single_run(),
    op_tags=COMBINE.tags(),
)
def serving_tables(context: dg.AssetExecutionContext, config: CombineConfig, documents: DocumentStoreResource,
                   serving_db: ServingDatabaseResource):
    partitions = [CatalogPartition.from_key(key) for key in context.partition_keys]
    combine = Combine(serving_db.db, documents.store)
    by_media = {media: CombineStats() for media in MEDIA_TYPES}
    rebuild = " (full rebuild)" if config.full_rebuild else ""
    for number, partition in enumerate(partitions):
        with serving_db.db.outage_named(
                f"the serving tables of {partition.key} were combined",
                f"The partition's transaction was rolled back: its serving rows and feed positions are as before"
                f"{f'; the {number} partitions combined before it in this run are stored' if number else ''}."):
            stats = combine.combine_partition(partition.media, partition.shard, full=config.full_rebuild)
        context.log.info(f"combine {partition.key}{rebuild}: {stats}")
        by_media[partition.media] += stats
    total = CombineStats()
    for stats in by_media.values():
        total += stats
    common = {**range_metadata(partitions), "full_rebuild": config.full_rebuild,
              "changed_titles": total.changed_titles}
    for media, table in SERVING_TABLES.items():
        stats = by_media[media]
        yield dg.MaterializeResult(asset_key=table, metadata={
            **common, "rows_written": stats.rows_inserted + stats.rows_updated,
            "dagster/row_count": stats.rows_inserted + stats.rows_updated,
            "rows_inserted": stats.rows_inserted, "rows_updated": stats.rows_updated,
            **{f"changed_{source}": n for source, n in stats.changed_by_source.items()}})
    links_written = total.links_inserted + total.links_updated + total.links_obsoleted
    yield dg.MaterializeResult(asset_key="streaming_links", metadata={
        **common, "rows_written": links_written, "dagster/row_count": links_written,
        "links_inserted": total.links_inserted, "links_updated": total.links_updated,
        "links_obsoleted": total.links_obsoleted})
    yield dg.MaterializeResult(asset_key="streaming_providers", metadata={
        **common, "rows_written": total.providers_written, "dagster/row_count": total.providers_written})
    yield from serving_check_results(serving_db.db, documents.store, partitions)


serving_full_rebuild = dg.define_asset_job(
    "serving_full_rebuild",
    selection=dg.AssetSelection.assets(serving_tables),
    config={"ops": {"serving_tables": {"config": {"full_rebuild": True}}}},
    description="Recombine every title of the selected partitions (backfill all 32 for a full rebuild). Values "
                "kept because an upstream lost them stay kept.",
)
