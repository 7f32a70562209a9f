"""Writers of one catalog partition's serving rows take turns: a transaction-level advisory lock per partition.

The DNA index (labels, links, vectors) and the combine (movies, tv_shows, streaming links) both write a
partition's titles and read what the other wrote (the combine copies a title's DNA label ids), so they hold
the same lock: neither sees the other's work half done.
"""

from __future__ import annotations

from collections.abc import Iterable

import psycopg

from goodwatch_assets.models.shards import MEDIA_TYPES, SHARD_COUNT, shard_of

_PARTITION_LOCK = 0x646E6174  # pg_advisory_xact_lock(key, partition number); "dnat", its first user


def partition_number(media: str, shard: int) -> int:
    return MEDIA_TYPES.index(media) * SHARD_COUNT + shard


def lock_partitions(conn: psycopg.Connection, partitions: Iterable[tuple[str, int]]) -> None:
    """Take the locks of these (media, shard) partitions for the current transaction, in one global order (no
    deadlock between writers of several partitions)."""
    for number in sorted({partition_number(media, shard) for media, shard in partitions}):
        conn.execute("SELECT pg_advisory_xact_lock(%s, %s)", (_PARTITION_LOCK, number))


def lock_titles(conn: psycopg.Connection, keys: Iterable[tuple[str, int]]) -> None:
    """The locks of the partitions of these (media, tmdb_id) titles."""
    lock_partitions(conn, ((media, shard_of(tmdb_id)) for media, tmdb_id in keys))
