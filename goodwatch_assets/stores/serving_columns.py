"""Where each column of ``movies`` and ``tv_shows`` comes from: the SQL expressions every source's spec gives
(``SourceSpec.serving``), which the combine turns into its merge (``stores/combine.py``).

Each source's document of a title is joined under the alias its spec names (only documents with status ``ok``),
its record's fields under the alias with ``r`` appended (``dr.title``), the changed title's key as ``k``, the
stored row as ``o``.
A column marked ``kept`` keeps its stored value when the new one is missing (no document, a null field, an
empty list): an upstream that lost a value never erases it here. The rest follow upstream exactly: the
streaming countries (they mirror the current links) and the DNA label ids (they mirror ``title_dna``).

Scores are stored as the source gives them (``*_original``), as percent (``*_normalized_percent``) and with
their counts. The aggregates follow the original GoodWatch formulas:

* user percent: mean of the available user percents the sources name (``Serving.user_scores``: TMDB, IMDb,
  Metacritic user, Rotten Tomatoes audience); its count: the sum of their counts;
* official percent: mean of the available official percents (``Serving.official_scores``: Metascore,
  Tomatometer); its count: their review counts summed;
* overall percent: mean of the available user and official percents; its count: both counts summed.
"""

from __future__ import annotations

from goodwatch_assets.sources.registry import SOURCES
from goodwatch_assets.sources.spec import Column, SourceSpec

ROWS_SOURCE: SourceSpec = next(spec for spec in SOURCES if spec.serving and spec.serving.rows)
"""The source whose document makes a title's row and its streaming links (TMDB details: they carry its title)."""
SERVING_SOURCES: tuple[SourceSpec, ...] = (ROWS_SOURCE, *(s for s in SOURCES if s.serving and s is not ROWS_SOURCE))
"""Every document-store source the serving rows are made from, the rows source first: the merge joins them in this
order (more joins than PostgreSQL reorders), so the inner join on the details filters the titles first."""


def merged(column: Column) -> str:
    """The value written: the new one, or the stored one where the new one is missing (``kept``)."""
    if not column.kept:
        return column.value
    if column.array:
        return f"CASE WHEN cardinality({column.value}) > 0 THEN {column.value} ELSE coalesce(o.{column.name}, '{{}}') END"
    return f"coalesce({column.value}, o.{column.name})"


def _updated_at(spec: SourceSpec) -> Column:
    """When the source's data of the title last changed."""
    return Column(f"{spec.name}_updated_at", f"{spec.serving.alias}.changed_at")


def columns_of(media: str) -> tuple[Column, ...]:
    columns = [c for spec in SERVING_SOURCES for c in spec.serving.columns if c.media in (None, media)]
    return tuple(columns + [_updated_at(spec) for spec in SERVING_SOURCES])


SERVING_TABLES = {"movie": "movies", "tv": "tv_shows"}


def _mean(values: list[str]) -> str:
    total = " + ".join(f"coalesce({v}, 0)" for v in values)
    present = " + ".join(f"({v} IS NOT NULL)::int" for v in values)
    return f"(({total}) / nullif({present}, 0))::real"


def _count(pairs: list[tuple[str, str]]) -> str:
    """The counts of the scores that are present, summed (null when none is)."""
    any_present = " OR ".join(f"{score} IS NOT NULL" for score, _ in pairs)
    total = " + ".join(f"coalesce(CASE WHEN {score} IS NOT NULL THEN {count} END, 0)" for score, count in pairs)
    return f"CASE WHEN {any_present} THEN ({total})::bigint END"


_USER = [pair for spec in SERVING_SOURCES for pair in spec.serving.user_scores]
_OFFICIAL = [pair for spec in SERVING_SOURCES for pair in spec.serving.official_scores]

USER_AND_OFFICIAL = {
    "aggregated_user_score_normalized_percent": _mean([score for score, _ in _USER]),
    "aggregated_user_score_rating_count": _count(_USER),
    "aggregated_official_score_normalized_percent": _mean([score for score, _ in _OFFICIAL]),
    "aggregated_official_score_review_count": _count(_OFFICIAL),
}
"""The first aggregates, over the merged per-source columns."""
OVERALL = {
    "aggregated_overall_score_normalized_percent": _mean(["aggregated_user_score_normalized_percent",
                                                          "aggregated_official_score_normalized_percent"]),
    "aggregated_overall_score_voting_count": _count([
        ("aggregated_user_score_normalized_percent", "aggregated_user_score_rating_count"),
        ("aggregated_official_score_normalized_percent", "aggregated_official_score_review_count")]),
}
"""The overall aggregate, over the first ones."""
