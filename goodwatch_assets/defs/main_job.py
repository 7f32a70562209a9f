"""The main job: materialize the whole asset graph once, in dependency order, on an instance.

Dagster runs one partitions definition per run, and this graph mixes three (none, ``daily``,
``catalog``), so "the whole pipeline" is a set of runs: level by level of the asset graph, one run
per partition of each group of assets that share a partitions definition and a pool. Daily assets
run for one day (the newest complete one unless told), catalog assets for all 32 partitions; the
assets that do a range in one run (``BackfillPolicy.single_run``: the database-only DNA vectors and
serving tables) run once per media type, over its 16 shards, as a backfill of them would. Every run
is recorded on the instance as an ``__ASSET_JOB`` run, as if launched from the UI.

Runs go side by side, as the daemon would launch them: up to the instance's ``max_concurrent_runs``
at once, a run starting as soon as the runs of its assets' parents for the same partitions are done
and its pools (one per site) have a free slot. So one partition's Metacritic pages are fetched while
the next partition's TMDB details are, and the embedding of one media type's DNA overlaps the fetching
of the other's: each site is still asked at its own rate, by as many runs as its pool allows.

Runs execute in worker processes, as many as runs may go at once. Not threads: Dagster's in-process
execution reconfigures process-wide logging at each run's start, so two runs cannot share a process.
Not forked from this process either: polars and torch keep thread pools that a forked child does not
have, and wait on them forever. So workers come from a fork server (a clean process that imported the
code once), and each builds the definitions once from ``load_definitions``, a picklable function (a
module-level one, or a ``functools.partial`` of one with picklable arguments), and opens the instance from
its reference.

What a caller sees is what it asks for: a :class:`PipelineProgress` is told the plan, each run's start and each run's
outcome with the figures its materializations reported (titles fetched, requests, rows). Dagster's own event log stays
in the instance (and the UI); it reaches the console only with ``verbose``. Interrupted (Ctrl-C, SIGINT), the job
starts nothing more, lets Dagster stop the running runs (each has stored every batch it finished) and raises
:class:`PipelineInterrupted`. Killed instead, it cannot: then each worker, watching for that, stops its own run and ends.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Protocol

import dagster as dg
import psutil

from goodwatch_assets.defs.partitions import catalog_partitions, daily_partitions, media_ranges, range_tags
from goodwatch_assets.defs.pools import pool_limit
from goodwatch_assets.errors import GoodwatchError
from goodwatch_assets.stores.embedded_server import leave_embedded_servers

RUN_TAG = "goodwatch/launched_by"
JOB_TAG = "goodwatch/main_job"
"""Which invocation of the main job a run belongs to (a random id)."""


@dataclass(frozen=True)
class PipelineStep:
    """One run: these assets, for this partition or this range of partitions (first, last), or unpartitioned."""

    asset_keys: tuple[dg.AssetKey, ...]
    partition_key: str | None = None
    partition_range: tuple[str, str] | None = None
    pools: frozenset[str] = frozenset()

    @property
    def names(self) -> str:
        """The run's assets, by name: what the runs of one step of the pipeline share."""
        return ", ".join(key.to_user_string() for key in self.asset_keys)

    def describe(self) -> str:
        if self.partition_range:
            return f"{self.names} [{self.partition_range[0]}..{self.partition_range[1]}]"
        return f"{self.names} [{self.partition_key}]" if self.partition_key else self.names

    def tags(self) -> dict[str, str]:
        """The range a run does, as Dagster's backfills tag it."""
        if not self.partition_range:
            return {}
        return range_tags(*self.partition_range)

    def catalog_keys(self) -> frozenset[str] | None:
        """The catalog partitions this run does; None when it is not a catalog run (it overlaps every partition)."""
        if self.partition_range:
            keys = catalog_partitions.get_partition_keys()
            first, last = (keys.index(key) for key in self.partition_range)
            return frozenset(keys[first:last + 1])
        return frozenset([self.partition_key]) if self.partition_key in _CATALOG_KEYS else None

    def waits_for(self, earlier: PipelineStep, graph) -> bool:
        """Whether this run needs ``earlier`` done first: it materializes a parent of one of this run's assets, for
        a partition this run does too."""
        parents = {parent for key in self.asset_keys for parent in graph.get(key).parent_keys}
        if not parents & set(earlier.asset_keys):
            return False
        mine, theirs = self.catalog_keys(), earlier.catalog_keys()
        return mine is None or theirs is None or bool(mine & theirs)


_CATALOG_KEYS = frozenset(catalog_partitions.get_partition_keys())


def plan_pipeline(defs: dg.Definitions, *, day: str | None = None) -> list[PipelineStep]:
    graph = defs.resolve_asset_graph()
    steps: list[PipelineStep] = []
    for level in graph.toposorted_asset_keys_by_level:
        groups: dict[tuple[dg.PartitionsDefinition | None, bool, frozenset[str]], list[dg.AssetKey]] = {}
        for key in sorted(level & graph.materializable_asset_keys, key=lambda k: k.to_user_string()):
            node = graph.get(key)
            groups.setdefault((node.partitions_def, _in_one_run(node.backfill_policy), frozenset(node.pools)),
                              []).append(key)
        for (partitions_def, in_one_run, pools), keys in groups.items():
            if in_one_run and partitions_def == catalog_partitions:
                steps.extend(PipelineStep(tuple(keys), partition_range=(first, last), pools=pools)
                             for first, last in media_ranges())
            else:
                steps.extend(PipelineStep(tuple(keys), partition_key, pools=pools)
                             for partition_key in _partition_keys(partitions_def, day))
    return steps


def _partition_keys(partitions_def: dg.PartitionsDefinition | None, day: str | None) -> Sequence[str | None]:
    if partitions_def is None:
        return [None]
    if partitions_def == daily_partitions:
        return [day or daily_partitions.get_last_partition_key()]
    return partitions_def.get_partition_keys()


def _in_one_run(policy: dg.BackfillPolicy | None) -> bool:
    """``BackfillPolicy.single_run()``: no cap on the partitions of one run."""
    return policy is not None and policy.max_partitions_per_run is None


class PipelineRunFailed(GoodwatchError):
    """A run of the main job failed; the runs that depend on it were not started."""


class PipelineInterrupted(GoodwatchError):
    """The main job was interrupted: the runs under way were stopped, no further run was started."""

    def __init__(self, finished: int, stopped: int, total: int):
        self.finished, self.stopped, self.total = finished, stopped, total
        super().__init__(f"interrupted: {finished} of {total} runs had finished, {stopped} under way were stopped, "
                         f"{total - finished - stopped} not started; nothing is lost (every batch a run finished is "
                         f"stored, the titles it had in hand are taken again when their lease ends)")


@dataclass(frozen=True)
class RunOutcome:
    """What a worker tells of one run: its id, the first failure's cause, and the numbers its materializations
    reported, summed over them (``fetched``, ``requests``, ``dagster/row_count``…)."""

    run_id: str | None
    error: str | None = None
    figures: Mapping[str, float] = field(default_factory=dict)
    stopped_by: str | None = None
    """Why a fetching run stopped early (a rate limit, a block, a spent budget), when one did."""


class PipelineProgress(Protocol):
    """Who is told how the main job goes (the command's display; nobody by default)."""

    def planned(self, steps: Sequence[PipelineStep]) -> None: ...

    def started(self, step: PipelineStep) -> None: ...

    def finished(self, step: PipelineStep, outcome: RunOutcome) -> None: ...


class _Untold:
    def planned(self, steps: Sequence[PipelineStep]) -> None: ...

    def started(self, step: PipelineStep) -> None: ...

    def finished(self, step: PipelineStep, outcome: RunOutcome) -> None: ...


@dataclass(frozen=True)
class PipelineRun:
    """A finished run of the main job, as the instance recorded it (with its start and end)."""

    record: dg.RunRecord

    @property
    def dagster_run(self) -> dg.DagsterRun:
        return self.record.dagster_run

    @property
    def success(self) -> bool:
        return self.dagster_run.status == dg.DagsterRunStatus.SUCCESS


def run_pipeline(
    load_definitions: Callable[[], dg.Definitions],
    instance: dg.DagsterInstance,
    *,
    day: str | None = None,
    progress: PipelineProgress | None = None,
    verbose: bool = False,
) -> list[PipelineRun]:
    """Run every step, side by side where dependencies and pools allow (see the module's docstring); after a failed
    run no further run starts, the running ones finish, and :class:`PipelineRunFailed` names the first failure.

    Runs go through the implicit ``__ASSET_JOB`` with the code location's resources, exactly as a
    launch from the asset graph would. The finished runs are returned in the plan's order. ``verbose``: Dagster's
    events of every run on the console too.
    """
    progress = progress or _Untold()
    defs = load_definitions()
    graph = defs.resolve_asset_graph()
    steps = plan_pipeline(defs, day=day)
    progress.planned(steps)
    waits = [{j for j in range(i) if step.waits_for(steps[j], graph)} for i, step in enumerate(steps)]
    limits = {pool: pool_limit(instance, pool) for step in steps for pool in step.pools}
    run_ids: dict[int, str] = {}
    running: dict[Future, int] = {}
    pending, failure = list(range(len(steps))), None
    workers = min(parallel_runs(instance), len(steps)) or 1
    job_id = uuid.uuid4().hex
    with ProcessPoolExecutor(workers, mp_context=_worker_context(), initializer=_start_worker,
                             initargs=(load_definitions, instance.get_ref(), verbose, job_id, os.getpid())) as pool:
        try:
            while pending or running:
                busy = [name for i in running.values() for name in steps[i].pools]
                for i in list(pending) if failure is None else []:
                    if len(running) < workers and waits[i] <= run_ids.keys() and all(
                            busy.count(name) < limits[name] for name in steps[i].pools):
                        progress.started(steps[i])
                        running[pool.submit(_execute, steps[i])] = i
                        busy.extend(steps[i].pools)
                        pending.remove(i)
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    i = running.pop(future)
                    outcome = future.result()
                    progress.finished(steps[i], outcome)
                    if outcome.error is None:
                        run_ids[i] = outcome.run_id
                    elif failure is None:
                        failure = PipelineRunFailed(f"the run of {steps[i].describe()}"
                                                    f"{f' ({outcome.run_id})' if outcome.run_id else ''} failed: "
                                                    f"{outcome.error}")
        except KeyboardInterrupt:
            completed = _stop_runs(pool, running, instance, job_id)  # a run about to end may still succeed
            raise PipelineInterrupted(len(run_ids) + completed, len(running) - completed, len(steps)) from None
        except BaseException:  # whatever else ends the loop (a display whose terminal is gone): no run goes on alone
            _stop_runs(pool, running, instance, job_id)
            raise
    if failure is not None:
        raise failure
    records = {r.dagster_run.run_id: r for r in instance.get_run_records(dg.RunsFilter(run_ids=list(run_ids.values())))}
    return [PipelineRun(records[run_ids[i]]) for i in range(len(steps))]


STOP_WAIT_S = 120
"""How long an interrupted main job waits for Dagster to stop the runs under way."""


def _stop_runs(pool: ProcessPoolExecutor, running: Mapping[Future, int], instance: dg.DagsterInstance,
               job_id: str) -> int:
    """Have Dagster stop the runs under way (it marks each failed, after its step's clean-up), and wait for them, at
    most :data:`STOP_WAIT_S` or until a second interrupt; then kill what is left and mark its runs failed. Returns how
    many of the runs succeeded all the same.

    Workers sit in process groups of their own, out of reach of the terminal's interrupt (which would also hit the
    helper processes Dagster starts for each step, and the workers' start-up), so it is passed on to each worker here;
    an idle worker ignores it."""
    workers = [process.pid for process in list(getattr(pool, "_processes", {}).values())]
    for pid in workers:
        _signal(pid, signal.SIGINT)
    try:
        done, left = wait(running, timeout=STOP_WAIT_S)
    except KeyboardInterrupt:
        done, left = {future for future in running if future.done()}, {future for future in running if not future.done()}
    pool.shutdown(wait=False, cancel_futures=True)
    if left:
        for pid in workers:
            _signal(pid, signal.SIGKILL, group=True)
        for run in instance.get_runs(dg.RunsFilter(statuses=[dg.DagsterRunStatus.STARTED], tags={JOB_TAG: job_id})):
            instance.report_run_failed(run, "the main job was interrupted and the run did not stop in time")
    return sum(1 for future in done if future.exception() is None and future.result().error is None)


def _signal(pid: int, signum: int, *, group: bool = False) -> None:
    """A signal to a worker (and, with ``group``, to its process group: Dagster's helper processes); a worker already
    gone is no error."""
    try:
        os.killpg(pid, signum) if group else os.kill(pid, signum)
    except ProcessLookupError:
        pass


MAX_PARALLEL_RUNS = 6
"""At most this many runs at once whatever the instance allows: most runs wait on a site's pace, but on this
project's two cores more runs only add processes (each worker holds the definitions, and the embedding model once it
has embedded) and writers of the instance's SQLite event log."""


def parallel_runs(instance: dg.DagsterInstance) -> int:
    """Runs at once: the instance's ``max_concurrent_runs``, at most :data:`MAX_PARALLEL_RUNS`."""
    queue = instance.get_concurrency_config().run_queue_config
    allowed = queue.max_concurrent_runs if queue and queue.max_concurrent_runs > 0 else 1
    return min(allowed, MAX_PARALLEL_RUNS)


_worker: dict[str, object] = {}
QUIET_LOGGERS = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
"""A run's console logger when not verbose: its events still go to the instance's event log, not to the terminal."""


def _worker_context() -> multiprocessing.context.BaseContext:
    """Workers forked from a fork server that has imported Dagster and this project's code once, before any
    thread pool exists (each spawned worker would spend ~5 s of CPU importing them). The fork server starts with
    the first main job of this process and keeps that process's environment."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["goodwatch_assets.defs.main_job", "goodwatch_assets.definitions"])
    return context


def _start_worker(load_definitions: Callable[[], dg.Definitions], instance_ref, verbose: bool, job_id: str,
                  parent_pid: int) -> None:
    """A worker's definitions' asset job and instance, built once. A worker leads a process group of its own and
    ignores interrupts while idle: the parent passes an interrupt on (:func:`_stop_runs`), and Dagster takes it while a
    run executes. It watches its parent too (:func:`_end_with_parent`)."""
    os.setpgid(0, 0)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_end_with_parent, args=(psutil.Process(parent_pid),), daemon=True,
                     name="goodwatch-parent-watch").start()
    _worker["job"] = load_definitions().resolve_implicit_global_asset_job_def()
    _worker["instance"] = dg.DagsterInstance.from_ref(instance_ref)
    _worker["run_config"] = {} if verbose else QUIET_LOGGERS
    _worker["tags"] = {RUN_TAG: "goodwatch run", JOB_TAG: job_id}


PARENT_CHECK_S = 1.0
"""How often a worker looks whether the main job's process is still there."""

_idle = threading.Event()
"""Set while a worker executes no run."""
_idle.set()


def _end_with_parent(parent: psutil.Process) -> None:
    """End this worker once the main job's process is gone without stopping it (killed: SIGKILL, the OOM killer).
    Its run under way is stopped as an interrupt would stop it (marked failed, every batch it finished stored); one
    that does not end within :data:`STOP_WAIT_S` (a run waiting for a pool's slot takes no interrupt) is marked failed
    here, which frees its slots. Then the worker leaves the embedded server (the last one out stops it) and ends.
    Left alone, a worker would wait for work forever, holding the fork server and the embedded server up with it."""
    while parent.is_running():
        time.sleep(PARENT_CHECK_S)
    try:
        if not _idle.is_set():
            os.kill(os.getpid(), signal.SIGINT)
            if not _idle.wait(STOP_WAIT_S):
                instance = _worker["instance"]
                run = instance.get_run_by_id(_worker["run_id"])
                if run is not None and not run.is_finished:
                    instance.report_run_failed(run, "the main job's process was killed and the run did not stop in time")
        leave_embedded_servers()
    finally:
        os._exit(1)


def _execute(step: PipelineStep) -> RunOutcome:
    """One run, in a worker: its id, what its materializations reported and, when it failed, the first step
    failure's cause."""
    job, instance = _worker["job"], _worker["instance"]
    _worker["run_id"] = str(uuid.uuid4())  # known before the run ends, for _end_with_parent
    _idle.clear()
    try:
        result = job.execute_in_process(run_config=_worker["run_config"], instance=instance, run_id=_worker["run_id"],
                                        asset_selection=list(step.asset_keys), partition_key=step.partition_key,
                                        raise_on_error=False, tags={**_worker["tags"], **step.tags()})
    except Exception as error:  # noqa: BLE001 - reported to the parent, which raises it as the pipeline's failure
        return RunOutcome(None, f"{type(error).__name__}: {error}")
    finally:
        _idle.set()
    failures = result.get_step_failure_events()
    error = None if result.success else (_root_cause(failures[0].step_failure_data.error) if failures
                                         else "see the run's events")
    figures: dict[str, float] = {}
    stopped_by = None
    events = result.get_asset_materialization_events()
    if step.partition_range:  # a run over a range reports the range's figures on each partition's materialization
        events = list({event.asset_key: event for event in events}.values())
    for event in events:
        for name, entry in event.materialization.metadata.items():
            value = entry.value
            if isinstance(value, int | float) and not isinstance(value, bool):
                figures[name] = figures.get(name, 0) + value
            elif name == "stopped_by" and value != "nothing":
                stopped_by = value
    return RunOutcome(result.run_id, error, figures, stopped_by)


def _root_cause(error) -> str:
    """The first line of the innermost cause of a step's failure (what the asset raised, not Dagster's wrapper)."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip().splitlines()[0]
