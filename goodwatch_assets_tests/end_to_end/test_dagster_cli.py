"""``dagster asset materialize`` from the command line, for a daily and a catalog partition, as the README shows."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg

from goodwatch_assets.models.queue import Status
from goodwatch_assets.models.shards import shard_of
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.settings import DAGSTER_HOME
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.helpers import DAY, PROJECT, replica_environ

DAGSTER = str(Path(sys.executable).with_name("dagster"))


def materialize(selection: str, partition: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([DAGSTER, "asset", "materialize", "-m", "goodwatch_assets.definitions", "--select", selection,
                           "--partition", partition], cwd=PROJECT, env=env, capture_output=True, text=True, timeout=300)


def test_dagster_asset_materialize_runs_a_daily_and_a_catalog_partition(tmp_path, clean_serving_db):
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(PROJECT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    catalog = SyntheticCatalog(200, seed=51)
    shard_movies = [e for e in catalog.entries if e.media == "movie" and shard_of(e.tmdb_id) == 3 and e.in_export(DAY)]
    with ReplicaServer(Replica(catalog)) as server:
        env = replica_environ(server.url, **{DAGSTER_HOME: str(home)})
        daily = materialize("tmdb_daily_export", DAY.isoformat(), env)
        assert daily.returncode == 0, daily.stderr[-2000:]
        details = materialize("tmdb_details", "movie|03", env)
        assert details.returncode == 0, details.stderr[-2000:]
    store = PostgresDocumentStore(clean_serving_db)
    stored = store.get_many("tmdb_details", [("movie", e.tmdb_id) for e in shard_movies])
    assert shard_movies and all(stored[("movie", e.tmdb_id)].status is Status.OK for e in shard_movies)
    assert {d.record["title"] for d in stored.values()} == {e.title for e in shard_movies}
    assert store.count_by_status("tmdb_details", media="movie", shard=4) == {
        "pending": sum(1 for e in catalog.entries if e.media == "movie" and shard_of(e.tmdb_id) == 4 and e.in_export(DAY))}
    store.close()
    with dg.DagsterInstance.from_config(str(home)) as instance:
        for asset, partition in (("tmdb_daily_export", DAY.isoformat()), ("tmdb_details", "movie|03")):
            event = instance.get_latest_materialization_event(dg.AssetKey(asset))
            assert event.asset_materialization.partition == partition
