"""What the serving tables' checks measure, per media type and set of shards (the partitions a combine wrote)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from psycopg import sql

from goodwatch_assets.stores.serving_columns import SERVING_TABLES
from goodwatch_assets.stores.serving_db import ServingDb


@dataclass(frozen=True)
class PercentsChecked:
    rows: int
    """Rows of the shards: every one was checked."""
    outside: int
    examples: tuple[str, ...]


def percents_out_of_range(db: ServingDb, media: str, shards: Sequence[int]) -> PercentsChecked:
    """Rows of these shards with any ``*_normalized_percent`` score (every source's and the aggregates) outside
    0-100: what the app shows as a percentage."""
    table = SERVING_TABLES[media]
    with db.connect() as conn:
        columns = [name for (name,) in conn.execute(
            "SELECT column_name FROM information_schema.columns WHERE table_name = %s "
            "AND column_name LIKE '%%\\_normalized\\_percent' ORDER BY column_name", (table,))]
        outside = sql.SQL(" OR ").join(sql.SQL("NOT ({c} BETWEEN 0 AND 100)").format(c=sql.Identifier(c))
                                       for c in columns)
        rows = conn.execute(sql.SQL("SELECT count(*) FROM {t} WHERE shard = ANY(%s)").format(
            t=sql.Identifier(table)), (list(shards),)).fetchone()[0]
        bad = conn.execute(sql.SQL("SELECT tmdb_id FROM {t} WHERE shard = ANY(%s) AND ({o}) ORDER BY tmdb_id").format(
            t=sql.Identifier(table), o=outside), (list(shards),)).fetchall()
    return PercentsChecked(rows, len(bad), tuple(f"{media} {tmdb_id}" for (tmdb_id,) in bad[:5]))

