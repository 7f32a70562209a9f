"""Where each column of ``movies`` and ``tv_shows`` comes from: the SQL expressions every source's spec gives
(``SourceSpec.serving``), which the combine turns into its merge (``stores/combine.py``).

Each source's document of a title is joined under the alias its spec names (only documents with status ``ok``),
its record's fields under the alias with ``r`` appended (``dr.title``), the changed title's key as ``k``, the
stored row as ``o``.
A column marked ``kept`` keeps its stored value when the new one is missing (no document, a null field, an
empty list): an upstream that lost a value never erases it here. The exception: a source whose document says the
title has nothing there after all (``Serving.disowned_by``: a page-finding source's page was another title's, or is
gone) empties its columns, so a remake never keeps showing its namesake's scores. The rest follow upstream exactly:
the streaming countries (they mirror the current links) and the DNA label ids (they mirror ``title_dna``).

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


def disowning(spec: SourceSpec) -> str | None:
    """SQL: the source's joined document says the title has nothing there (None: the source never says so)."""
    statuses = spec.serving.disowned_by
    return f"{spec.serving.alias}.status IN ({', '.join(repr(str(s)) for s in statuses)})" if statuses else None


def merged(column: Column) -> str:
    """The value written: the new one, or the stored one where the new one is missing (``kept``) and its source does
    not disown the title."""
    if not column.kept:
        return column.value
    if column.array:
        kept = f"CASE WHEN cardinality({column.value}) > 0 THEN {column.value} ELSE coalesce(o.{column.name}, '{{}}') END"
    else:
        kept = f"coalesce({column.value}, o.{column.name})"
    disowned = _DISOWNED.get(column.name)
    emptied = "'{}'" if column.array else "NULL"
    return kept if disowned is None else f"CASE WHEN {disowned} THEN {emptied} ELSE {kept} END"


_DISOWNED = {column.name: disowning(spec) for spec in SERVING_SOURCES if disowning(spec)
             for column in spec.serving.columns}


def _updated_at(spec: SourceSpec) -> Column:
    """When the source's data of the title last changed (for a source that disowned the title: when it lost the data
    it had; never for a title it never had data for)."""
    name, alias = f"{spec.name}_updated_at", spec.serving.alias
    if disowning(spec) is None:
        return Column(name, f"{alias}.changed_at")
    return Column(name, f"CASE WHEN {alias}.status = 'ok' OR o.{name} IS NOT NULL THEN {alias}.changed_at END",
                  kept=False)


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
