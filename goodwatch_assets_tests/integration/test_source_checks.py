"""The sources' asset checks run per catalog partition: each reads only its partition's documents."""

from __future__ import annotations

import dagster as dg

from goodwatch_assets.defs.partitions import CatalogPartition, catalog_partitions
from goodwatch_assets.defs.resources import build_resources
from goodwatch_assets.defs.source_checks import source_checks
from goodwatch_assets.models.queue import FetchedDocument, Status
from goodwatch_assets.models.shards import shard_of
from goodwatch_assets.sources import metacritic
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore

SOURCE = metacritic.SPEC.name


@dg.asset(name=SOURCE, partitions_def=catalog_partitions)
def stand_in():
    """The source's asset, materializing nothing: the checks are what runs."""


def checked(partition: str) -> dict[str, dg.AssetCheckEvaluation]:
    with dg.instance_for_test() as instance:
        result = dg.materialize([stand_in, *source_checks(metacritic.SPEC)], partition_key=partition,
                                instance=instance, resources={"documents": build_resources()["documents"]})
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_a_partitions_checks_read_only_that_partition(clean_serving_db):
    store = PostgresDocumentStore(clean_serving_db)
    bad, good = 7, next(i for i in range(8, 500) if shard_of(i) != shard_of(7))
    store.upsert(SOURCE, [
        FetchedDocument("movie", bad, {}, record={"metascore": 140}),  # outside 0-100
        FetchedDocument("movie", good, {}, record={"metascore": 71}),
        FetchedDocument("tv", bad, None, status=Status.NOT_FOUND),
    ])
    broken = checked(CatalogPartition("movie", shard_of(bad)).key)
    assert not broken["values_in_range"].passed
    assert broken["values_in_range"].metadata["examples"].value == f"movie {bad} metascore=140"
    assert broken["coverage"].metadata["titles"].value == 1  # only its own partition's title
    fine = checked(CatalogPartition("movie", shard_of(good)).key)
    assert fine["values_in_range"].passed and fine["values_in_range"].metadata["values_checked"].value == 1
    other_media = checked(CatalogPartition("tv", shard_of(bad)).key)
    assert other_media["values_in_range"].metadata["values_checked"].value == 0
    assert other_media["coverage"].metadata["not_found_upstream"].value == 1
    store.close()
