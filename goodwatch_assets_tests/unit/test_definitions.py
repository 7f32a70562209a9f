"""The code location loads, validates, and has the partitions the design card fixes."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import polars as pl

from goodwatch_assets.definitions import defs
from goodwatch_assets.defs.main_job import plan_pipeline
from goodwatch_assets.defs.partitions import CatalogPartition, all_catalog_partitions, catalog_partitions, daily_partitions
from goodwatch_assets.models.shards import SHARD_COUNT, shard_column, shard_of

PROJECT = Path(__file__).resolve().parents[2]


def test_definitions_load_with_resources():
    assert defs.resolve_assets_def("store_inventory")
    assert set(defs.resources) == {"serving_db", "documents", "fetch", "queues", "llm", "embedding", "alerts"}


def test_dagster_definitions_validate_passes(tmp_path):
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}
    result = subprocess.run(
        [str(Path(sys.executable).with_name("dagster")), "definitions", "validate", "-w", "workspace.yaml"],
        cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "All code locations passed validation" in result.stdout + result.stderr


def test_catalog_partitions_are_media_by_sixteen_shards():
    keys = catalog_partitions.get_partition_keys()
    assert len(keys) == 32 and keys[0] == "movie|00" and keys[-1] == "tv|15"
    assert [p.key for p in all_catalog_partitions()] == sorted(keys, key=lambda k: (k[:2] != "mo", k))
    assert CatalogPartition.from_key("tv|07") == CatalogPartition("tv", 7)
    key = dg.MultiPartitionKey({"media": "movie", "shard": "12"})
    assert CatalogPartition.from_key(key).key == "movie|12"


def test_daily_partitions_are_utc_days():
    assert daily_partitions.timezone == "UTC"
    assert daily_partitions.get_first_partition_key() == "2024-01-01"


def test_shards_are_stable_and_even():
    # Fixed values: changing the hash would move every title to another partition.
    assert [shard_of(i) for i in (1, 2, 550, 1399, 1_000_000)] == [9, 3, 14, 10, 15]
    counts = [0] * SHARD_COUNT
    for tmdb_id in range(1, 160_001):
        counts[shard_of(tmdb_id)] += 1
    assert max(counts) - min(counts) <= 0.01 * 10_000


def test_the_bulk_writers_shard_column_equals_shard_of():
    ids = [*range(0, 2_000_000, 7), 2**31 - 1]
    shards = pl.DataFrame({"id": ids}).select(shard_column(pl.col("id")))["shard"].to_list()
    assert shards == [shard_of(i) for i in ids]


def test_the_main_job_plans_every_asset_in_dependency_order():
    @dg.asset(partitions_def=daily_partitions)
    def export(): ...

    @dg.asset(partitions_def=catalog_partitions, deps=[export])
    def details(): ...

    @dg.asset(deps=[details])
    def report(): ...

    @dg.asset(partitions_def=catalog_partitions, deps=[details], backfill_policy=dg.BackfillPolicy.single_run())
    def combined(): ...

    steps = plan_pipeline(dg.Definitions(assets=[report, combined, details, export]), day="2026-11-20")
    assert [(s.asset_keys[0].to_user_string(), s.partition_key) for s in steps[:2]] == [
        ("export", "2026-11-20"), ("details", "movie|00"),
    ]
    assert [(s.asset_keys[0].to_user_string(), s.partition_range, s.tags()) for s in steps[33:35]] == [
        ("combined", ("movie|00", "movie|15"), {"dagster/asset_partition_range_start": "movie|00",
                                                "dagster/asset_partition_range_end": "movie|15"}),
        ("combined", ("tv|00", "tv|15"), {"dagster/asset_partition_range_start": "tv|00",
                                          "dagster/asset_partition_range_end": "tv|15"}),
    ]  # a range in one run, one per media type
    assert len(steps) == 1 + 32 + 2 + 1 and steps[-1].partition_key is None
