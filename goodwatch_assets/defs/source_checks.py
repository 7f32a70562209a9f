"""Asset checks of every source: quarantine share, values in range, and coverage with data age.

One factory serves every source; the value ranges are the spec's (``SourceSpec.check_ranges``). A catalog-partitioned
source's checks are partitioned too: each reads only the documents of the partition its run materialized (a range
run: each partition of it), never the whole source in every partition's run.
"""


import dagster as dg
import polars as pl

from goodwatch_assets.defs.partitions import CatalogPartition, catalog_partitions
from goodwatch_assets.defs.resources import DocumentStoreResource
from goodwatch_assets.lib.status_counts import StatusCounts
from goodwatch_assets.models.queue import Status
from goodwatch_assets.sources.spec import SourceSpec

QUARANTINE_SHARE_LIMIT = 0.05


def source_checks(spec: SourceSpec) -> list[dg.AssetChecksDefinition]:
    """The checks of the source's asset (its key is the source's name)."""
    source, ranges, asset = spec.name, spec.check_ranges, dg.AssetKey(spec.name)
    partitions_def = catalog_partitions if spec.partitions == "catalog" else None

    def where(context: dg.AssetCheckExecutionContext) -> list[dict]:
        """The (media, shard) filters of the partitions the run checks: all of the source when unpartitioned."""
        if partitions_def is None:
            return [{}]
        return [{"media": p.media, "shard": p.shard}
                for p in (CatalogPartition.from_key(key) for key in context.partition_keys)]

    @dg.asset_check(asset=asset, name="quarantine_share", partitions_def=partitions_def,
                    description=f"Quarantined {source} titles stay under {QUARANTINE_SHARE_LIMIT:.0%} of those tried.")
    def quarantine_share(context: dg.AssetCheckExecutionContext,
                         documents: DocumentStoreResource) -> dg.AssetCheckResult:
        counts = StatusCounts.read(documents.store, source, where(context))
        return dg.AssetCheckResult(passed=counts.quarantine_share <= QUARANTINE_SHARE_LIMIT, metadata={
            "quarantined": counts[Status.QUARANTINED], "tried": counts.tried, "share": round(counts.quarantine_share, 4)})

    @dg.asset_check(asset=asset, name="values_in_range", partitions_def=partitions_def,
                    description=f"Stored {source} values are within their scales (percentages 0-100, ratings 0-10, "
                                "counts >= 0).")
    def values_in_range(context: dg.AssetCheckExecutionContext,
                        documents: DocumentStoreResource) -> dg.AssetCheckResult:
        checked, outside_count, outside = 0, 0, []
        for one in where(context):
            for field, (low, high) in ranges.items():
                values = documents.store.field_values(source, field, **one)
                number = pl.col("value").cast(pl.Float64, strict=False)  # text that is not a number is outside
                bad = values.filter(number.is_null() | (number < low)
                                    | (number > (float("inf") if high is None else high)))
                checked += values.height
                outside += [f"{media} {tmdb_id} {field}={value}" for media, tmdb_id, value in bad.head(5).iter_rows()]
                outside_count += bad.height
        return dg.AssetCheckResult(passed=not outside_count, metadata={
            "values_checked": checked, "outside": outside_count, "examples": ", ".join(outside[:5]) or "none"})

    @dg.asset_check(asset=asset, name="coverage", partitions_def=partitions_def,
                    description=f"Share of {source} titles with data, and how old the fetched data is.")
    def coverage(context: dg.AssetCheckExecutionContext, documents: DocumentStoreResource) -> dg.AssetCheckResult:
        filters = where(context)
        counts = StatusCounts.read(documents.store, source, filters)
        ages = documents.store.fetch_ages(source, **filters[0]) if len(filters) == 1 else {}
        return dg.AssetCheckResult(
            passed=counts.share_pending <= 0.5, severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "titles": counts.known, "with_data": counts[Status.OK], "not_found_upstream": counts[Status.NOT_FOUND],
                "duplicates": counts[Status.DUPLICATE],
                "share_with_data": round(counts.share_with_data, 4),
                "share_pending": round(counts.share_pending, 4),
                **{f"age_p{int(q * 100)}_hours": round(a.total_seconds() / 3600, 2) if a else None
                   for q, a in ages.items()},
            },
        )

    return [quarantine_share, values_in_range, coverage]
