"""A title's serving row, each value named with the source it came from, and its streaming links.

Which source a column comes from is read from the specs (``Serving.columns`` and each source's
``<name>_updated_at``, as ``stores/serving_columns.py`` builds the combine from them). An aggregated score has no
single source: it is named with the sources whose score entered it (their percent column is set in the row), as the
combine's formulas take them (``Serving.user_scores`` / ``official_scores``; the overall score takes both).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from psycopg import sql

from goodwatch_assets.stores.serving_columns import OVERALL, ROWS_SOURCE, SERVING_SOURCES, SERVING_TABLES, USER_AND_OFFICIAL
from goodwatch_assets.stores.serving_db import ServingDb

_SCORE_INPUTS = {
    "user": [(spec.name, percent) for spec in SERVING_SOURCES for percent, _ in spec.serving.user_scores],
    "official": [(spec.name, percent) for spec in SERVING_SOURCES for percent, _ in spec.serving.official_scores],
}
"""Aggregate kind -> (source, percent column) of every score it is the mean of."""
AGGREGATES = (*USER_AND_OFFICIAL, *OVERALL)
"""The aggregated columns (``aggregated_<kind>_score_…``: kind user, official or overall)."""


@dataclass(frozen=True)
class ServingValue:
    column: str
    value: Any
    source: str | None
    """The source the value came from; None for the combine's own columns (key, shard, write times)."""


@dataclass(frozen=True)
class AggregateValue:
    column: str
    value: Any
    sources: tuple[str, ...]
    """The sources whose score entered the aggregate (the others had none)."""


@dataclass(frozen=True)
class StreamingLinks:
    """The title's rows of ``streaming_links``: offers as TMDB's watch providers list them."""

    current: int
    obsolete: int
    """Links gone upstream (kept with ``obsolete_at``)."""
    providers: tuple[str, ...]
    """The providers of the current links, by name."""
    countries: tuple[str, ...]
    source: str = ROWS_SOURCE.name


@dataclass(frozen=True)
class ServingRow:
    table: str
    values: tuple[ServingValue, ...]
    aggregates: tuple[AggregateValue, ...]
    streaming_links: StreamingLinks


def column_sources(media: str) -> dict[str, str]:
    """Column of the media's table -> the source whose spec gives it."""
    sources = {column.name: spec.name for spec in SERVING_SOURCES for column in spec.serving.columns
               if column.media in (None, media)}
    return sources | {f"{spec.name}_updated_at": spec.name for spec in SERVING_SOURCES}


def aggregate_sources(column: str, row: dict[str, Any]) -> tuple[str, ...]:
    """The sources whose score entered an aggregated column of ``row``."""
    kind = column.split("_")[1]
    inputs = _SCORE_INPUTS["user"] + _SCORE_INPUTS["official"] if kind == "overall" else _SCORE_INPUTS[kind]
    return tuple(dict.fromkeys(source for source, percent in inputs if row[percent] is not None))


def read_serving_row(db: ServingDb, media: str, tmdb_id: int) -> ServingRow | None:
    """The title's row with every value's source, and its streaming links; None when the table has no row."""
    table = SERVING_TABLES[media]
    with db.connect() as conn, conn.cursor() as cur:
        cur.execute(sql.SQL("SELECT * FROM {} WHERE tmdb_id = %s").format(sql.Identifier(table)), (tmdb_id,))
        found = cur.fetchone()
        if found is None:
            return None
        row = dict(zip([column.name for column in cur.description], found, strict=True))
        current, obsolete, providers, countries = cur.execute(_LINKS, {"media": media, "tmdb_id": tmdb_id}).fetchone()
    sources = column_sources(media)
    return ServingRow(
        table=table,
        values=tuple(ServingValue(name, value, sources.get(name)) for name, value in row.items()
                     if name not in AGGREGATES),
        aggregates=tuple(AggregateValue(name, row[name], aggregate_sources(name, row)) for name in AGGREGATES),
        streaming_links=StreamingLinks(current, obsolete, tuple(providers), tuple(countries)),
    )


_LINKS = """
    SELECT count(*) FILTER (WHERE l.obsolete_at IS NULL), count(*) FILTER (WHERE l.obsolete_at IS NOT NULL),
           coalesce(array_agg(DISTINCT coalesce(p.name, l.provider_id::text) ORDER BY coalesce(p.name, l.provider_id::text))
                    FILTER (WHERE l.obsolete_at IS NULL), '{}'),
           coalesce(array_agg(DISTINCT l.country_code::text ORDER BY l.country_code::text)
                    FILTER (WHERE l.obsolete_at IS NULL), '{}')
    FROM streaming_links l LEFT JOIN streaming_providers p USING (provider_id)
    WHERE l.media = %(media)s AND l.tmdb_id = %(tmdb_id)s
"""
