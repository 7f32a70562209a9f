"""Asset checks of every source: quarantine share, values in range, and coverage with data age.

One factory serves every source; only the value ranges differ.
"""


import dagster as dg
import polars as pl

from goodwatch_assets.resources import DocumentStoreResource

QUARANTINE_SHARE_LIMIT = 0.05
# Per source: record field -> (lowest, highest) allowed; None means unbounded.
RANGES: dict[str, dict[str, tuple[float, float | None]]] = {
    "tmdb_details": {"vote_average": (0, 10), "vote_count": (0, None), "popularity": (0, None)},
    "imdb_ratings": {"rating": (1, 10), "votes": (0, None)},
    "metacritic": {"metascore": (0, 100), "critic_count": (0, None), "user_score": (0, 10), "user_count": (0, None),
                   "match_confidence": (0, 1)},
    "rotten_tomatoes": {"tomatometer": (0, 100), "audience_score": (0, 100), "critic_count": (0, None),
                        "audience_count": (0, None), "match_confidence": (0, 1)},
    "tvtropes": {"match_confidence": (0, 1)},
    "dna": {"year": (1870, 2100)},
}


def source_checks(asset: dg.AssetsDefinition, source: str) -> list[dg.AssetChecksDefinition]:
    ranges = RANGES[source]

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
                "share_with_data": round(with_data / known, 4) if known else 0.0,
                "share_pending": round(pending_share, 4),
                **{f"age_p{int(q * 100)}_hours": round(a.total_seconds() / 3600, 2) if a else None
                   for q, a in ages.items()},
            },
        )

    return [quarantine_share, values_in_range, coverage]
