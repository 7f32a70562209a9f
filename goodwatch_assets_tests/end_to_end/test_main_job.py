"""The main job's runs side by side: what waits for what, pools, and a failure stopping what depends on it."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import threading
import time
from functools import partial
from pathlib import Path

import dagster as dg
import psutil
import pytest

from goodwatch_assets.cli.run_tally import RunTally
from goodwatch_assets.defs.main_job import PipelineInterrupted, PipelineRunFailed, plan_pipeline, run_pipeline
from goodwatch_assets.defs.partitions import catalog_partitions
from goodwatch_assets.stores.embedded_server import embedded_postgres_url
from goodwatch_assets_tests.helpers import PROJECT, postmaster_running, wait_for

SLEEP_S = 0.3


def _defs(fail_at: str | None = None, details_s: float = SLEEP_S, embedded_in: Path | None = None) -> dg.Definitions:
    """Assets that sleep; ``details`` fails at ``fail_at``, and with ``embedded_in`` joins that data dir's embedded
    server first, as a run that stores does."""
    @dg.asset(partitions_def=catalog_partitions, pool="tmdb_api")
    def details(context) -> None:
        if embedded_in is not None:
            embedded_postgres_url(embedded_in)
        time.sleep(details_s)
        if context.partition_key == fail_at:
            raise RuntimeError(f"upstream answered garbage for {fail_at}")

    @dg.asset(partitions_def=catalog_partitions, deps=[details], pool="metacritic")
    def pages(context) -> None:
        time.sleep(SLEEP_S)

    @dg.asset(partitions_def=catalog_partitions, deps=[details], pool="wikidata")
    def dna(context) -> None:
        time.sleep(SLEEP_S)

    @dg.asset(partitions_def=catalog_partitions, deps=[dna, pages], backfill_policy=dg.BackfillPolicy.single_run())
    def combined(context) -> None: ...

    @dg.asset(deps=[combined])
    def report() -> None: ...

    return dg.Definitions(assets=[details, pages, dna, combined, report])


def _step(steps, asset: str, partition: str | None = None):
    return next(s for s in steps if s.asset_keys == (dg.AssetKey(asset),) and
                (partition is None or partition in (s.catalog_keys() or ())))


def test_a_run_waits_for_its_parents_runs_of_the_same_partitions_only():
    defs = _defs()
    graph, steps = defs.resolve_asset_graph(), plan_pipeline(defs)
    pages_03 = _step(steps, "pages", "movie|03")
    assert pages_03.waits_for(_step(steps, "details", "movie|03"), graph)
    assert not pages_03.waits_for(_step(steps, "details", "movie|04"), graph)
    assert not pages_03.waits_for(_step(steps, "dna", "movie|03"), graph)  # siblings run side by side
    movies = _step(steps, "combined", "movie|07")
    assert movies.partition_range == ("movie|00", "movie|15")
    assert movies.waits_for(_step(steps, "dna", "movie|15"), graph)
    assert not movies.waits_for(_step(steps, "dna", "tv|00"), graph)  # the movies' range starts before the shows'
    assert _step(steps, "report").waits_for(movies, graph)
    assert {s.pools for s in steps if s.asset_keys == (dg.AssetKey("pages"),)} == {frozenset({"metacritic"})}
    assert sum(s.asset_keys == (dg.AssetKey("dna"),) for s in steps) == 32  # not in one run with pages


def test_runs_of_different_pools_go_side_by_side_and_one_pool_never_runs_more_than_its_limit():
    with dg.instance_for_test() as instance:
        tally = RunTally()
        runs = run_pipeline(_defs, instance, progress=tally)
        assert len(runs) == 32 * 3 + 2 + 1 and all(run.success for run in runs)
        spans = {}
        for run in runs:
            record = instance.get_run_record_by_id(run.dagster_run.run_id)
            asset = next(iter(run.dagster_run.asset_selection)).to_user_string()
            spans.setdefault(asset, []).append((record.start_time, record.end_time))

    def overlapping(a, b) -> bool:
        return a[0] < b[1] and b[0] < a[1]

    def most_at_once(runs) -> int:
        events = sorted([(start, 1) for start, _ in runs] + [(end, -1) for _, end in runs])
        at_once = [0]
        for _, change in events:
            at_once.append(at_once[-1] + change)
        return max(at_once)

    # the planned limits (none set on the instance): TMDB's API 4 runs, Metacritic and Wikidata 1
    assert most_at_once(spans["details"]) <= 4 and most_at_once(spans["pages"]) == most_at_once(spans["dna"]) == 1
    assert any(overlapping(a, b) for a in spans["pages"] for b in spans["details"])  # pages of one partition
    assert any(overlapping(a, b) for a in spans["dna"] for b in spans["pages"])  # while details of the next
    assert {name: (step.runs, step.done, step.state) for name, step in tally.steps.items()} == {
        "details": (32, 32, "done"), "pages": (32, 32, "done"), "dna": (32, 32, "done"), "combined": (2, 2, "done"),
        "report": (1, 1, "done")}
    assert tally.steps["details"].seconds >= 32 * SLEEP_S / 4  # four at once at most


def test_a_failed_run_stops_what_depends_on_it_and_names_the_step_and_the_error():
    with dg.instance_for_test() as instance:
        with pytest.raises(PipelineRunFailed, match=r"the run of details \[movie\|02\] \(.+\) failed: RuntimeError: "
                                                     r"upstream answered garbage for movie\|02"):
            run_pipeline(partial(_defs, fail_at="movie|02"), instance)
        launched = {(next(iter(r.asset_selection)).to_user_string(), r.tags.get("dagster/partition"))
                    for r in instance.get_runs()}
    assert ("details", "movie|02") in launched
    assert ("pages", "movie|02") not in launched and ("dna", "movie|02") not in launched
    assert not any(asset in ("combined", "report") for asset, _ in launched)


def test_an_interrupted_job_stops_its_runs_starts_no_more_and_says_so_in_one_error():
    with dg.instance_for_test() as instance:
        tally = RunTally()
        threading.Timer(4.0, os.kill, (os.getpid(), signal.SIGINT)).start()  # Ctrl-C, a few runs in
        with pytest.raises(PipelineInterrupted, match=r"^interrupted: \d+ of 99 runs had finished, \d+ under way were "
                                                      r"stopped, \d+ not started; nothing is lost") as interrupted:
            run_pipeline(_defs, instance, progress=tally)
        runs = instance.get_runs()
        statuses = [run.status for run in runs]
    assert 0 < interrupted.value.finished < 99 and interrupted.value.stopped <= 6
    assert len(runs) == interrupted.value.finished + interrupted.value.stopped  # nothing started after the interrupt
    assert statuses.count(dg.DagsterRunStatus.SUCCESS) == interrupted.value.finished
    assert all(status in (dg.DagsterRunStatus.SUCCESS, dg.DagsterRunStatus.FAILURE) for status in statuses)  # none left hanging


class TerminalGoneWhileARunIsUnderWay:
    """A display that fails as writing to a closed terminal does: at the second run's start, the first under way."""

    def __init__(self, instance: dg.DagsterInstance):
        self.instance, self.starts = instance, 0

    def planned(self, steps) -> None: ...

    def started(self, step) -> None:
        self.starts += 1
        if self.starts == 2:
            wait_for(lambda: self.instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])), 60,
                     every=0.2, what="the first run under way")
            raise OSError(errno.EIO, "Input/output error")

    def finished(self, step, outcome) -> None: ...


def test_a_failing_display_stops_the_runs_under_way_rather_than_waiting_for_them():
    overrides = {"concurrency": {"runs": {"max_concurrent_runs": 3}, "pools": {"default_limit": 2}}}
    with dg.instance_for_test(overrides=overrides) as instance:
        began = time.monotonic()
        with pytest.raises(OSError, match="Input/output error"):
            run_pipeline(partial(_defs, details_s=60), instance, progress=TerminalGoneWhileARunIsUnderWay(instance))
        took = time.monotonic() - began
        statuses = [run.status for run in instance.get_runs()]
    assert statuses == [dg.DagsterRunStatus.FAILURE]  # stopped, not left to sleep its 60 s
    assert took < 30


KILLED_JOB = """
import sys
from functools import partial
from pathlib import Path
import dagster as dg
from goodwatch_assets.defs.main_job import run_pipeline
from goodwatch_assets_tests.end_to_end.test_main_job import _defs
with dg.DagsterInstance.get() as instance:
    run_pipeline(partial(_defs, details_s=600, embedded_in=Path(sys.argv[1])), instance)
"""


def test_a_killed_job_leaves_no_worker_behind_and_no_run_hanging(tmp_path, data_dir):
    """SIGKILL gives the main job no chance to stop its runs: each worker sees it gone, stops its run under way
    (Dagster marks it failed) and ends, and with the workers the fork server; the last worker out stops the embedded
    server the runs joined."""
    home = tmp_path / "dagster_home"
    home.mkdir()
    (home / "dagster.yaml").write_text("telemetry:\n  enabled: false\nconcurrency:\n  runs:\n    max_concurrent_runs: 3\n"
                                       "  pools:\n    default_limit: 2\n")
    process = subprocess.Popen([sys.executable, "-c", KILLED_JOB, str(data_dir)], cwd=PROJECT,
                               env={**os.environ, "DAGSTER_HOME": str(home)})
    try:
        with dg.DagsterInstance.from_config(str(home)) as instance:
            under_way = dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED])
            wait_for(lambda: len(instance.get_runs(under_way)) == 2 and postmaster_running(data_dir / "pgdata"), 120,
                     every=0.5, what="two runs under way, the embedded server up")
            workers = psutil.Process(process.pid).children(recursive=True)
            process.kill()
            process.wait()
            _, alive = psutil.wait_procs(workers, timeout=60)
            runs = instance.get_runs()
    finally:
        if process.poll() is None:
            process.kill()
    assert not alive, [worker.cmdline()[:3] for worker in alive]
    assert len(workers) >= 3  # the fork server and a worker for each run
    assert [run.status for run in runs] == [dg.DagsterRunStatus.FAILURE] * 2  # stopped, not left as started
    assert not postmaster_running(data_dir / "pgdata")
