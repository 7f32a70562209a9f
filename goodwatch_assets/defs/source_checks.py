"""Asset checks of every source: quarantine share, values in range, and coverage with data age.

One factory serves every source; the value ranges are the spec's (``SourceSpec.check_ranges``).
"""


import dagster as dg
import polars as pl

from goodwatch_assets.defs.resources import DocumentStoreResource
from goodwatch_assets.sources.spec import SourceSpec

QUARANTINE_SHARE_LIMIT = 0.05


def source_checks(spec: SourceSpec) -> list[dg.AssetChecksDefinition]:
    """The checks of the source's asset (its key is the source's name)."""
    source, ranges, asset = spec.name, spec.check_ranges, dg.AssetKey(spec.name)

    @dg.asset_check(asset=asset, name="quarantine_share", description=f"Quarantined {source} titles stay under "
                    f"{QUARANTINE_SHARE_LIMIT:.0%} of those tried.")
    def quarantine_share(documents: DocumentStoreResource) -> dg.AssetCheckResult:
        counts = documents.store.count_by_status(source)
        tried = sum(n for status, n in counts.items() if status not in ("pending", "deleted"))
        share = counts.get("quarantined", 0) / tried if tried else 0.0
        return dg.AssetCheckResult(passed=share <= QUARANTINE_SHARE_LIMIT, metadata={
            "quarantined": counts.get("quarantined", 0), "tried": tried, "share": round(share, 4)})

    @dg.asset_check(asset=asset, name="values_in_range", description=f"Stored {source} values are within their "
                    "scales (percentages 0-100, ratings 0-10, counts >= 0).")
    def values_in_range(documents: DocumentStoreResource) -> dg.AssetCheckResult:
        checked, outside_count, outside = 0, 0, []
        for field, (low, high) in ranges.items():
            values = documents.store.field_values(source, field)
            number = pl.col("value").cast(pl.Float64, strict=False)  # text that is not a number is outside
            bad = values.filter(number.is_null() | (number < low) | (number > (float("inf") if high is None else high)))
            checked += values.height
            outside += [f"{media} {tmdb_id} {field}={value}" for media, tmdb_id, value in bad.head(5).iter_rows()]
            outside_count += bad.height
        return dg.AssetCheckResult(passed=not outside_count, metadata={
            "values_checked": checked, "outside": outside_count, "examples": ", ".join(outside[:5]) or "none"})

    @dg.asset_check(asset=asset, name="coverage", description=f"Share of {source} titles with data, and how old "
                    "the fetched data is.")
    def coverage(documents: DocumentStoreResource) -> dg.AssetCheckResult:
        counts = documents.store.count_by_status(source)
        known = sum(n for status, n in counts.items() if status != "deleted")
        with_data, explained = counts.get("ok", 0), counts.get("not_found", 0)
        ages = documents.store.fetch_ages(source)
        pending_share = counts.get("pending", 0) / known if known else 1.0
        return dg.AssetCheckResult(
            passed=pending_share <= 0.5, severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "titles": known, "with_data": with_data, "not_found_upstream": explained,
                "duplicates": counts.get("duplicate", 0),
                "share_with_data": round(with_data / known, 4) if known else 0.0,
                "share_pending": round(pending_share, 4),
                **{f"age_p{int(q * 100)}_hours": round(a.total_seconds() / 3600, 2) if a else None
                   for q, a in ages.items()},
            },
        )

    return [quarantine_share, values_in_range, coverage]
