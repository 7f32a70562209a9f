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


RANGE_TAGS = ("dagster/asset_partition_range_start", "dagster/asset_partition_range_end")
"""How a run says which range of partitions it does: the tags Dagster's single-run backfills set."""


def media_ranges() -> list[tuple[str, str]]:
    """Each media type's catalog partitions, first and last (contiguous in Dagster's order of the keys): what one
    run of an asset that does a range in one run (``BackfillPolicy.single_run``) is given."""
    return [(CatalogPartition(media, 0).key, CatalogPartition(media, SHARD_COUNT - 1).key) for media in MEDIA_TYPES]


def range_tags(first: str, last: str) -> dict[str, str]:
    return dict(zip(RANGE_TAGS, (first, last), strict=True))


def range_metadata(partitions: list[CatalogPartition]) -> dict[str, str | int]:
    """What a run's materialization says of the partitions it did: the one, or the range and how many (a
    single-run backfill)."""
    if len(partitions) == 1:
        return {"partition": partitions[0].key}
    return {"partitions": f"{partitions[0].key}..{partitions[-1].key}", "partition_count": len(partitions)}
