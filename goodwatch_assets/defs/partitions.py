"""The partitions every asset shares: ``daily`` files and the ``catalog`` (media × hash shard).

A catalog partition is one media type and one of 16 shards of tmdb ids, so a backfill over all 32
partitions is a full sweep and one partition is one shard's due work. Titles are never partitions
(the catalog has 1.2M of them; Dagster advises fewer than 100k partitions per asset).
"""

from __future__ import annotations

from dataclasses import dataclass

import dagster as dg

from goodwatch_assets.models.shards import MEDIA_TYPES, SHARD_COUNT, SHARD_KEYS

# TMDB publishes its daily id exports from 2017 on; IMDb keeps only the newest dataset files, so
# backfills of past days are meaningful as long as upstream still serves that day's files.
DAILY_START_DATE = "2024-01-01"

daily_partitions = dg.DailyPartitionsDefinition(start_date=DAILY_START_DATE, timezone="UTC")

catalog_partitions = dg.MultiPartitionsDefinition(
    {
        "media": dg.StaticPartitionsDefinition(list(MEDIA_TYPES)),
        "shard": dg.StaticPartitionsDefinition(list(SHARD_KEYS)),
    }
)

@dataclass(frozen=True)
class CatalogPartition:
    """A catalog partition key, parsed: one media type and one shard."""

    media: str
    shard: int

    @classmethod
    def from_key(cls, key: str | dg.MultiPartitionKey) -> CatalogPartition:
        if isinstance(key, dg.MultiPartitionKey):
            dims = key.keys_by_dimension
        else:
            media, shard = str(key).split("|")
            dims = {"media": media, "shard": shard}
        if dims["media"] not in MEDIA_TYPES or dims["shard"] not in SHARD_KEYS:
            raise ValueError(f"not a catalog partition key: {key!r}")
        return cls(media=dims["media"], shard=int(dims["shard"]))

    @property
    def key(self) -> str:
        """The partition key string as Dagster spells it (dimensions in name order: media|shard)."""
        return f"{self.media}|{self.shard:02d}"


def all_catalog_partitions() -> list[CatalogPartition]:
    return [CatalogPartition(media, shard) for media in MEDIA_TYPES for shard in range(SHARD_COUNT)]
