"""``dagster dev`` with its daemon against the replica: titles viewed in the app, never fetched, are refreshed by
the priority sensor through the whole chain and reach the serving tables, with their freshness passing."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import dagster as dg
import httpx

from goodwatch_assets.defs.sources.assets import tmdb_daily_export
from goodwatch_assets.lib.demand import record_events
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.settings import DAGSTER_HOME
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.helpers import (
    DAY,
    PROJECT,
    answers,
    clear_serving,
    free_port,
    replica_environ,
    replica_resources,
    row_of,
    stop,
    wait_for,
)

FRESHNESS = """query ($keys: [AssetKeyInput!]) { assetNodes(assetKeys: $keys) {
    assetKey { path } freshnessStatusInfo { freshnessStatus } } }"""


def test_viewed_titles_reach_the_serving_tables_through_the_daemon_before_any_sweep(tmp_path, clean_serving_db):
    with clean_serving_db.connect() as conn:
        conn.execute("TRUNCATE title_events, trending_titles, priority_refreshes, source_cooldowns")
    clear_serving(clean_serving_db)
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(PROJECT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    catalog = SyntheticCatalog(300, seed=41)
    in_export = [e for e in catalog.entries if e.in_export(DAY)]
    wanted = [in_export[2], in_export[40], in_export[-3]]
    with ReplicaServer(Replica(catalog)) as server:
        env = replica_environ(server.url, **{DAGSTER_HOME: str(home)})  # for dagster dev
        with dg.DagsterInstance.from_config(str(home)) as instance:  # the catalog is known; no title was fetched
            assert dg.materialize([tmdb_daily_export], partition_key=DAY.isoformat(),
                                  resources=replica_resources(server.url), instance=instance).success
        port = free_port()
        process = subprocess.Popen(
            [str(Path(sys.executable).with_name("dagster")), "dev", "-w", str(PROJECT / "workspace.yaml"),
             "-h", "127.0.0.1", "-p", str(port)],
            cwd=PROJECT, env=env, start_new_session=True,
            stdout=(tmp_path / "dev.log").open("w"), stderr=subprocess.STDOUT)
        try:
            url = f"http://127.0.0.1:{port}"
            wait_for(lambda: answers(f"{url}/server_info"), 120, what="the webserver")
            record_events(clean_serving_db, [(e.media, e.tmdb_id, "view") for e in wanted])

            def priority_runs_done():
                with dg.DagsterInstance.from_config(str(home)) as instance:
                    runs = instance.get_runs(filters=dg.RunsFilter(tags={"goodwatch/lane": "priority"}))
                    return runs if runs and all(r.is_finished for r in runs) else None

            runs = wait_for(priority_runs_done, 420, every=5, what="the priority runs")
            assert all(r.status == dg.DagsterRunStatus.SUCCESS for r in runs), [r.status for r in runs]
            assert {r.tags["dagster/priority"] for r in runs} == {"10"}
            with dg.DagsterInstance.from_config(str(home)) as instance:
                sweeps = instance.get_runs(filters=dg.RunsFilter(tags={"goodwatch/lane": "completeness"}))
            assert sweeps == []  # no lane-1 run reached these titles: the schedules are stopped
            for entry in wanted:
                row = row_of(clean_serving_db, entry.media, entry.tmdb_id)
                assert row is not None and row["title"] == entry.title, entry
            store = PostgresDocumentStore(clean_serving_db)
            assert store.count_by_status("tmdb_details")["ok"] == len(wanted)  # only the viewed titles were fetched
            store.close()

            def fresh():
                answer = httpx.post(f"{url}/graphql", json={"query": FRESHNESS, "variables": {"keys": [
                    {"path": ["movies"]}, {"path": ["tmdb_details"]}]}}, timeout=30).json()
                states = {n["assetKey"]["path"][0]: n["freshnessStatusInfo"]["freshnessStatus"]
                          for n in answer["data"]["assetNodes"]}
                return states if set(states.values()) == {"HEALTHY"} else None

            assert wait_for(fresh, 180, every=5, what="freshness to pass") == {"movies": "HEALTHY",
                                                                               "tmdb_details": "HEALTHY"}
        finally:
            stop(process)
            print((tmp_path / "dev.log").read_text()[-3000:])
