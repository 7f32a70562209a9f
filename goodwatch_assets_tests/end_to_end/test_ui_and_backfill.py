"""The project as its users meet it in the Dagster UI: ``dagster dev`` on loopback, every asset, check, sensor and
schedule listed through GraphQL with its partitions, and a partition backfill launched with ``launchPartitionBackfill``
and carried out by the daemon. (The UI drawn in headless Chromium, after the main job: ``test_ui_screenshots.py``.)"""

from __future__ import annotations

import dagster as dg
import httpx
import pytest

from goodwatch_assets.definitions import defs
from goodwatch_assets.defs.partitions import catalog_partitions
from goodwatch_assets.defs.sources.assets import tmdb_daily_export
from goodwatch_assets.models.queue import Status
from goodwatch_assets.models.shards import shard_of
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.settings import DAGSTER_HOME
from goodwatch_assets.sources.registry import SOURCES
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.dagster_ui import new_dagster_home, running_dagster_dev
from goodwatch_assets_tests.helpers import DAY, clear_serving, replica_environ, replica_resources, wait_for

CONTENTS = """{ repositoriesOrError { ... on RepositoryConnection { nodes {
    schedules { name } sensors { name }
    assetNodes { assetKey { path } isPartitioned partitionKeysByDimension { name partitionKeys }
                 assetChecksOrError { ... on AssetChecks { checks { name } } } } } } } }"""
LAUNCH = """mutation ($params: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $params) {
    __typename ... on LaunchBackfillSuccess { backfillId } ... on PythonError { message } } }"""
STATUS = """query ($id: String!) { partitionBackfillOrError(backfillId: $id) {
    ... on PartitionBackfill { status numPartitions runs(limit: 10) { runId status } } } }"""


@pytest.fixture(scope="module")
def dagster_dev(tmp_path_factory, serving_db):
    """``dagster dev`` (webserver + daemon) on a free loopback port, against a 150-title replica whose daily export is
    already ingested; the community pop-up dismissed."""
    with serving_db.connect() as conn:
        conn.execute("TRUNCATE raw.documents, source_cooldowns")
    clear_serving(serving_db)  # what reaches the serving tables is this module's backfill's
    parent = tmp_path_factory.mktemp("ui")
    home = new_dagster_home(parent)
    catalog = SyntheticCatalog(150, seed=61)
    with ReplicaServer(Replica(catalog)) as server:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            assert dg.materialize([tmdb_daily_export], partition_key=DAY.isoformat(),
                                  resources=replica_resources(server.url), instance=instance).success
        with running_dagster_dev(replica_environ(server.url, **{DAGSTER_HOME: str(home)}), parent / "dev.log") as url:
            graphql(url, "mutation { setNuxSeen }")
            yield url, catalog


def graphql(url: str, query: str, variables: dict | None = None) -> dict:
    answer = httpx.post(f"{url}/graphql", json={"query": query, "variables": variables or {}}, timeout=60).json()
    assert "errors" not in answer, answer["errors"]
    return answer["data"]


def test_every_asset_check_sensor_and_schedule_is_in_the_ui_with_its_partitions(dagster_dev):
    url, _ = dagster_dev
    (repository,) = graphql(url, CONTENTS)["repositoriesOrError"]["nodes"]
    nodes = {n["assetKey"]["path"][0]: n for n in repository["assetNodes"]}
    assert set(nodes) == {key.to_user_string() for key in defs.resolve_asset_graph().get_all_asset_keys()}
    catalog_dims = {d["name"]: d["partitionKeys"] for d in nodes["tmdb_details"]["partitionKeysByDimension"]}
    assert catalog_dims == {"media": ["movie", "tv"], "shard": [f"{s:02d}" for s in range(16)]}
    for name in ("movies", "tv_shows", "streaming_links", "dna", "dna_vectors", "metacritic"):
        assert nodes[name]["isPartitioned"] and len(nodes[name]["partitionKeysByDimension"]) == 2, name
    assert nodes["tmdb_daily_export"]["partitionKeysByDimension"][0]["partitionKeys"][0] == "2024-01-01"
    assert not nodes["store_inventory"]["isPartitioned"] and not nodes["tmdb_trending"]["isPartitioned"]
    checks = {(name, check["name"]) for name, node in nodes.items()
              for check in (node["assetChecksOrError"] or {}).get("checks", [])}
    expected = {(key.asset_key.to_user_string(), key.name) for key in defs.resolve_asset_graph().asset_check_keys}
    # every source's three checks (21 for seven sources), and the serving tables' two per table
    assert checks == expected and len(checks) == 3 * len(SOURCES) + 4
    assert {s["name"] for s in repository["sensors"]} == {"priority_sensor", "eager_automation", "run_failure_alert",
                                                          "check_failure_alert"}
    assert {s["name"] for s in repository["schedules"]} == {s.name for s in defs.get_repository_def().schedule_defs}


def test_a_partition_backfill_launched_through_graphql_completes_with_the_expected_values(dagster_dev, serving_db):
    url, catalog = dagster_dev
    partitions = ["movie|01", "tv|02"]
    assert set(partitions) <= set(catalog_partitions.get_partition_keys())
    launched = graphql(url, LAUNCH, {"params": {"partitionsByAssets": [
        {"assetKey": {"path": ["tmdb_details"]}, "partitions": {"ranges": [{"start": p, "end": p} for p in partitions]}}],
        "title": "tmdb_details, two shards"}})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched

    def finished(backfill_id):
        backfill = graphql(url, STATUS, {"id": backfill_id})["partitionBackfillOrError"]
        return backfill if backfill["status"] not in ("REQUESTED", "CANCELING", "FAILING") else None

    backfill = wait_for(lambda: finished(launched["backfillId"]), 300, every=3, what="the backfill")
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
    assert backfill["numPartitions"] == 2 and {r["status"] for r in backfill["runs"]} == {"SUCCESS"}
    store = PostgresDocumentStore(serving_db)
    for key in partitions:
        media, shard = key.split("|")
        expected = {e.tmdb_id: e.title for e in catalog.entries
                    if e.media == media and shard_of(e.tmdb_id) == int(shard) and e.in_export(DAY)}
        stored = store.get_many("tmdb_details", [(media, i) for i in expected])
        assert expected and {k[1]: d.record["title"] for k, d in stored.items() if d.status is Status.OK} == expected
    untouched = store.count_by_status("tmdb_details", media="movie", shard=5)
    assert set(untouched) == {"pending"}  # only the backfilled partitions were fetched
    store.close()

    # The serving tables only read and write the database: a backfill of all 32 partitions is one run per media type
    # (Dagster splits a range of a multi-partitioned asset by its first dimension).
    every = {"ranges": [{"start": "movie|00", "end": "tv|15"}]}
    launched = graphql(url, LAUNCH, {"params": {"partitionsByAssets": [
        {"assetKey": {"path": [table]}, "partitions": every}
        for table in ("movies", "tv_shows", "streaming_links", "streaming_providers")],
        "title": "every serving partition"}})["launchPartitionBackfill"]
    assert launched["__typename"] == "LaunchBackfillSuccess", launched
    backfill = wait_for(lambda: finished(launched["backfillId"]), 300, every=3, what="the serving backfill")
    assert backfill["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), backfill
    assert backfill["numPartitions"] == 32 and [r["status"] for r in backfill["runs"]] == ["SUCCESS", "SUCCESS"]
    with serving_db.connect() as conn:
        combined = conn.execute("SELECT count(*) FROM movies WHERE tmdb_id = ANY(%s)",
                                ([e.tmdb_id for e in catalog.entries if e.media == "movie"
                                  and shard_of(e.tmdb_id) == 1 and e.in_export(DAY)],)).fetchone()[0]
    assert combined > 0  # the fetched partition's titles reached the serving table
