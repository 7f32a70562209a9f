"""Media types and the hash shards of tmdb ids: the catalog's partitioning, free of Dagster."""

from __future__ import annotations

import polars as pl

MEDIA_TYPES = ("movie", "tv")
SHARD_COUNT = 16
SHARD_KEYS = tuple(f"{shard:02d}" for shard in range(SHARD_COUNT))

_KNUTH_MULTIPLIER = 2654435761  # 2^32 / golden ratio: spreads consecutive ids over all shards


def shard_of(tmdb_id: int) -> int:
    """The catalog shard (0–15) of a tmdb id: the top 4 bits of a 32-bit multiplicative hash.

    Stable across processes and Python versions (unlike ``hash()``), cheap, and even for the
    consecutive ids TMDB hands out. Changing it would move every title to another partition.
    """
    return ((tmdb_id * _KNUTH_MULTIPLIER) & 0xFFFFFFFF) >> 28


def shard_column(tmdb_id: pl.Expr) -> pl.Expr:
    """:func:`shard_of` over a polars column of ids (the bulk writers' path)."""
    return ((tmdb_id.cast(pl.UInt64) * _KNUTH_MULTIPLIER) & 0xFFFFFFFF).floordiv(1 << 28).cast(pl.Int16).alias("shard")
