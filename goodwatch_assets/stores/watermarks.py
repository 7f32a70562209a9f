"""How far each incremental consumer has read a source's change feed, per catalog partition.

A consumer saves its position in the transaction that writes what it read, so a crash before the commit
reads the same changes again (every consumer's writes are idempotent) and one after it never re-reads them.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import psycopg

from goodwatch_assets.stores.serving_db import ServingDb


@dataclass(frozen=True)
class FeedPosition:
    consumer: str  # e.g. "dna_vectors"
    source: str  # the document-store source read
    media: str
    shard: int
    watermark: str | None  # None: from the beginning


def load_position(db: ServingDb, consumer: str, source: str, media: str, shard: int) -> FeedPosition:
    with db.connect() as conn:
        return load_positions(conn, consumer, [source], media, shard)[source]


def load_positions(conn: psycopg.Connection, consumer: str, sources: Sequence[str], media: str,
                   shard: int) -> dict[str, FeedPosition]:
    """A consumer's position in each of these sources' feeds for one partition, in one read on ``conn``."""
    stored = dict(conn.execute(
        """SELECT source, watermark FROM feed_watermarks
           WHERE consumer = %s AND source = ANY(%s) AND media = %s AND shard = %s""",
        (consumer, list(sources), media, shard),
    ).fetchall())
    return {source: FeedPosition(consumer, source, media, shard, stored.get(source)) for source in sources}


def save_watermark(conn: psycopg.Connection, position: FeedPosition) -> None:
    conn.execute(
        """INSERT INTO feed_watermarks (consumer, source, media, shard, watermark) VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (consumer, source, media, shard) DO UPDATE SET watermark = EXCLUDED.watermark, updated_at = now()""",
        (position.consumer, position.source, position.media, position.shard, position.watermark),
    )
