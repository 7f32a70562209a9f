"""Dagster instances: the production dagster-postgres configuration, and the main command."""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import threading
from pathlib import Path

import dagster as dg
import psycopg
import yaml

from goodwatch_assets.definitions import defs
from goodwatch_assets.defs.main_job import RUN_TAG, plan_pipeline
from goodwatch_assets_tests.helpers import GOODWATCH, PROJECT, postmaster_running, wait_for

PRODUCTION_YAML = PROJECT / "dagster_home" / "production" / "dagster.yaml"


def _production_home(tmp_path: Path, socket_dir: str) -> Path:
    """The production dagster.yaml, pointed at a Unix socket.

    The embedded server listens on a socket only; dagster-postgres reaches a socket with an empty
    hostname plus ``params: {host: <dir>}``, which the production file (TCP hosts) leaves out.
    """
    config = yaml.safe_load(PRODUCTION_YAML.read_text())
    database = config["storage"]["postgres"]["postgres_db"]
    assert database["scheme"] == "postgresql+psycopg2"
    database["hostname"] = ""
    database["params"] = {"host": socket_dir}
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text(yaml.safe_dump(config))
    return home


def test_a_materialization_on_the_production_dagster_postgres_instance(serving_db, tmp_path, monkeypatch):
    with serving_db.connect(autocommit=True) as conn:
        conn.execute("DROP DATABASE IF EXISTS dagster_instance")
        conn.execute("CREATE DATABASE dagster_instance")
    socket_dir = psycopg.conninfo.conninfo_to_dict(serving_db.url)["host"]
    for name, value in {
        "DAGSTER_PG_USERNAME": "postgres", "DAGSTER_PG_PASSWORD": "unused-with-socket-trust",
        "DAGSTER_PG_HOST": "", "DAGSTER_PG_DB": "dagster_instance", "DAGSTER_PG_PORT": "5432",
        "DATABASE_URL": serving_db.url,
    }.items():
        monkeypatch.setenv(name, value)
    home = _production_home(tmp_path, socket_dir)

    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert type(instance.run_storage).__name__ == "PostgresRunStorage"
        assert type(instance.run_coordinator).__name__ == "QueuedRunCoordinator"
        result = defs.resolve_implicit_global_asset_job_def().execute_in_process(
            instance=instance, asset_selection=[dg.AssetKey("store_inventory")])
        assert result.success
        event = instance.get_latest_materialization_event(dg.AssetKey("store_inventory"))
        assert event.asset_materialization.metadata["schema_version"].value >= 1

    # The run really lives in PostgreSQL, not in a file next to the config.
    with psycopg.connect(serving_db.url.replace("/goodwatch?", "/dagster_instance?")) as conn:
        statuses = conn.execute("SELECT status FROM runs").fetchall()
    assert statuses == [("SUCCESS",)]
    assert not list(home.glob("**/*.db"))


def _embedded_default(tmp_path: Path, data_dir: Path) -> tuple[Path, dict[str, str]]:
    """A fresh DAGSTER_HOME with the project's dagster.yaml, and the environment of a machine with no settings."""
    home = tmp_path / "home"
    home.mkdir()
    shutil.copy(PROJECT / "dagster_home" / "dagster.yaml", home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "MONGODB_URI")}
    for name in ("GOODWATCH_REPLICA_URL", "TMDB_API_KEY", "TMDB_BEARER_TOKEN"):
        env.pop(name, None)
    env.update(DAGSTER_HOME=str(home), GOODWATCH_DATA_DIR=str(data_dir))
    return home, env


def test_goodwatch_run_on_the_embedded_default_records_its_runs_on_the_instance(tmp_path, data_dir):
    """What the README's main command runs: no DATABASE_URL, no keys, a fresh embedded server, the
    offline replica, a SQLite instance: every asset of the graph, every partition."""
    home, env = _embedded_default(tmp_path, data_dir)
    result = subprocess.run([GOODWATCH, "run", "--replica-titles", "150"], env=env, capture_output=True, text=True,
                            timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    planned = len(plan_pipeline(defs))
    # Off a terminal: a few dozen plain lines, not Dagster's event log (it stays in the instance).
    lines = (result.stdout + result.stderr).splitlines()
    assert len(lines) < 200 and not [line for line in lines if "DEBUG" in line or "Warning" in line], lines[:20]
    assert "using an offline replica of 150 titles" in lines[0]
    assert re.fullmatch(r"✓ tmdb_details: 32/32 partition runs in \S+: \d+ fetched, \d+ changed, .*\d+ requests at .+/s",
                        next(line for line in lines if line.startswith("✓ tmdb_details")))
    assert sum(line.startswith("✓ ") for line in lines) == len({step.names for step in plan_pipeline(defs)})
    assert [line.split("%]")[0] for line in lines if re.match(r"\[\d+%\]", line)] == [f"[{p}" for p in range(10, 101, 10)]
    assert any(line.split()[:2] == ["step", "state"] for line in lines) and lines[-1].startswith(f"{planned} runs in ")
    with dg.DagsterInstance.from_config(str(home)) as instance:
        runs = instance.get_runs()
        # one run per partition and pool (site): the export, the changes, trending, details, DNA, Wikidata ids,
        # IMDb, each site's sitemap, each page-finding source; DNA vectors and serving tables one run per media type
        # (they only read and write the database); the inventory
        assert len(runs) == planned == 1 + 1 + 1 + 32 + 32 + 32 + 1 + 2 + 3 * 32 + 2 + 2 + 1
        assert {(r.job_name, r.status.value, r.tags[RUN_TAG]) for r in runs} == {
            ("__ASSET_JOB", "SUCCESS", "goodwatch run")}
        ranged = [(r.tags.get("dagster/asset_partition_range_start"), r.tags.get("dagster/asset_partition_range_end"))
                  for r in runs if r.asset_selection & {dg.AssetKey("movies"), dg.AssetKey("dna_vectors")}]
        assert sorted(ranged) == [("movie|00", "movie|15")] * 2 + [("tv|00", "tv|15")] * 2
        combined_partitions = instance.get_materialized_partitions(dg.AssetKey("movies"))
        assert len(combined_partitions) == 32  # every partition of the range is materialized by its one run
        event = instance.get_latest_materialization_event(dg.AssetKey("store_inventory"))
        metadata = event.asset_materialization.metadata
        assert metadata["serving_database"].value == "embedded"
        assert metadata["documents/tmdb_details"].value >= 140  # 150 titles, a few absent from the export
        assert metadata["documents/dna"].value == metadata["documents/tmdb_details"].value
        combined = [instance.get_latest_materialization_event(dg.AssetKey(table)) for table in ("movies", "tv_shows")]
        assert all(event is not None for event in combined)
        # A fetching run's progress, batch by batch, is in its log (the UI's run view).
        details = next(r for r in runs if r.asset_selection == {dg.AssetKey("tmdb_details")})
        progress = [entry.user_message for entry in instance.all_logs(details.run_id)
                    if "titles tried of" in entry.user_message]
        assert progress and re.search(r"\d+ stored \(\d+ changed, \d+ not found\), 0 failed", progress[-1])
    assert (data_dir / "pgdata" / "PG_VERSION").read_text().strip() == "18"
    assert not postmaster_running(data_dir / "pgdata")  # the embedded server stopped with its last user


def test_goodwatch_run_on_a_terminal_redraws_its_display_and_an_interrupt_ends_it_in_one_line(tmp_path, data_dir):
    """Under a pseudo-terminal: the live display redraws as runs finish; Ctrl-C (SIGINT to the foreground process
    group) stops the runs under way, prints one line, and leaves no run hanging on the instance."""
    home, env = _embedded_default(tmp_path, data_dir)
    screen, terminal = os.openpty()
    process = subprocess.Popen([GOODWATCH, "run", "--replica-titles", "150"], env={**env, "COLUMNS": "150"},
                               stdin=terminal, stdout=terminal, stderr=terminal, start_new_session=True)
    os.close(terminal)
    output = bytearray()
    reader = threading.Thread(target=_read_until_closed, args=(screen, output), daemon=True)
    reader.start()
    try:
        wait_for(lambda: len(_frames(output)) >= 5 and "✓ tmdb_daily_export" in _text(output), 300, every=1,
                 what="the live display to redraw five times")
        os.killpg(process.pid, signal.SIGINT)
        assert process.wait(timeout=240) == 130
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    reader.join(timeout=10)
    text = _text(output)
    assert "Traceback" not in text and "KeyboardInterrupt" not in text
    last = [line.strip() for line in text.splitlines() if line.strip()][-1]
    assert re.fullmatch(r"interrupted: \d+ of \d+ runs had finished, \d+ under way were stopped, \d+ not started; "
                        r"nothing is lost .*; go on with: goodwatch run", last), last
    with dg.DagsterInstance.from_config(str(home)) as instance:
        assert {run.status for run in instance.get_runs()} <= {dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE}
    assert not postmaster_running(data_dir / "pgdata")


def _read_until_closed(fd: int, into: bytearray) -> None:
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the terminal's last writer is gone
            return
        if not chunk:
            return
        into.extend(chunk)


def _text(output: bytearray) -> str:
    """The terminal's output without colours, and with each cursor move or clear as a line break."""
    text = re.sub(r"\x1b\[[0-9;]*m", "", bytes(output).decode("utf-8", "replace"))
    return re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "\n", text).replace("\r", "\n")


def _frames(output: bytearray) -> set[str]:
    """The distinct status lines the live display drew."""
    return {line for line in _text(output).splitlines() if line.startswith("running ") and " runs, " in line}
