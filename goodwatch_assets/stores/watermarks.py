"""How far each incremental consumer has read a source's change feed, per catalog partition.

A consumer saves its position in the transaction that writes what it read, so a crash before the commit
reads the same changes again (every consumer's writes are idempotent) and one after it never re-reads them.
"""

from __future__ import annotations

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
        row = conn.execute(
            "SELECT watermark FROM feed_watermarks WHERE consumer = %s AND source = %s AND media = %s AND shard = %s",
            (consumer, source, media, shard),
        ).fetchone()
    return FeedPosition(consumer, source, media, shard, row[0] if row else None)


def save_watermark(conn: psycopg.Connection, position: FeedPosition) -> None:
    conn.execute(
        """INSERT INTO feed_watermarks (consumer, source, media, shard, watermark) VALUES (%s, %s, %s, %s, %s)
           ON CONFLICT (consumer, source, media, shard) DO UPDATE SET watermark = EXCLUDED.watermark, updated_at = now()""",
        (position.consumer, position.source, position.media, position.shard, position.watermark),
    )
