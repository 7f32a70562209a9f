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
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass

import dagster as dg

from goodwatch_assets.defs.partitions import catalog_partitions, daily_partitions, media_ranges, range_tags
from goodwatch_assets.defs.pools import pool_limit
from goodwatch_assets.errors import GoodwatchError

RUN_TAG = "goodwatch/launched_by"


@dataclass(frozen=True)
class PipelineStep:
    """One run: these assets, for this partition or this range of partitions (first, last), or unpartitioned."""

    asset_keys: tuple[dg.AssetKey, ...]
    partition_key: str | None = None
    partition_range: tuple[str, str] | None = None
    pools: frozenset[str] = frozenset()

    def describe(self) -> str:
        names = ", ".join(key.to_user_string() for key in self.asset_keys)
        if self.partition_range:
            return f"{names} [{self.partition_range[0]}..{self.partition_range[1]}]"
        return f"{names} [{self.partition_key}]" if self.partition_key else names

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
    report: Callable[[str], None] = print,
) -> list[PipelineRun]:
    """Run every step, side by side where dependencies and pools allow (see the module's docstring); after a failed
    run no further run starts, the running ones finish, and :class:`PipelineRunFailed` names the first failure.

    Runs go through the implicit ``__ASSET_JOB`` with the code location's resources, exactly as a
    launch from the asset graph would. The finished runs are returned in the plan's order.
    """
    defs = load_definitions()
    graph = defs.resolve_asset_graph()
    steps = plan_pipeline(defs, day=day)
    waits = [{j for j in range(i) if step.waits_for(steps[j], graph)} for i, step in enumerate(steps)]
    limits = {pool: pool_limit(instance, pool) for step in steps for pool in step.pools}
    run_ids: dict[int, str] = {}
    running: dict[Future, int] = {}
    pending, started, failure = list(range(len(steps))), 0, None
    workers = min(parallel_runs(instance), len(steps)) or 1
    with ProcessPoolExecutor(workers, mp_context=_worker_context(), initializer=_start_worker,
                             initargs=(load_definitions, instance.get_ref())) as pool:
        while pending or running:
            busy = [name for i in running.values() for name in steps[i].pools]
            for i in list(pending) if failure is None else []:
                if len(running) < workers and waits[i] <= run_ids.keys() and all(
                        busy.count(name) < limits[name] for name in steps[i].pools):
                    started += 1
                    report(f"[{started}/{len(steps)}] {steps[i].describe()}")
                    running[pool.submit(_execute, steps[i])] = i
                    busy.extend(steps[i].pools)
                    pending.remove(i)
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in done:
                i = running.pop(future)
                run_id, error = future.result()
                if error is None:
                    run_ids[i] = run_id
                elif failure is None:
                    failure = PipelineRunFailed(f"the run of {steps[i].describe()}{f' ({run_id})' if run_id else ''} "
                                                f"failed: {error}")
    if failure is not None:
        raise failure
    records = {r.dagster_run.run_id: r for r in instance.get_run_records(dg.RunsFilter(run_ids=list(run_ids.values())))}
    return [PipelineRun(records[run_ids[i]]) for i in range(len(steps))]


MAX_PARALLEL_RUNS = 6
"""At most this many runs at once whatever the instance allows: most runs wait on a site's pace, but on this
project's two cores more runs only add processes (each worker holds the definitions, and the embedding model once it
has embedded) and writers of the instance's SQLite event log."""


def parallel_runs(instance: dg.DagsterInstance) -> int:
    """Runs at once: the instance's ``max_concurrent_runs``, at most :data:`MAX_PARALLEL_RUNS`."""
    queue = instance.get_concurrency_config().run_queue_config
    allowed = queue.max_concurrent_runs if queue and queue.max_concurrent_runs > 0 else 1
    return min(allowed, MAX_PARALLEL_RUNS)


def time_by_asset(runs: Sequence[PipelineRun]) -> list[str]:
    """Where the main job's time went: per group of assets run together, its runs, their summed time and the span
    from the first one's start to the last one's end (runs overlap, so spans add up to more than the wall time)."""
    spans: dict[str, list[tuple[float, float]]] = {}
    for run in runs:
        names = ", ".join(sorted(key.to_user_string() for key in run.dagster_run.asset_selection or ()))
        spans.setdefault(names, []).append((run.record.start_time or 0.0, run.record.end_time or 0.0))
    begun = min(start for times in spans.values() for start, _ in times)
    return [f"{names}: {len(times)} run{'s' * (len(times) > 1)}, {sum(end - start for start, end in times):.1f} s "
            f"of runs, from {min(s for s, _ in times) - begun:.0f} s to {max(e for _, e in times) - begun:.0f} s"
            for names, times in spans.items()]


_worker: dict[str, object] = {}


def _worker_context() -> multiprocessing.context.BaseContext:
    """Workers forked from a fork server that has imported Dagster and this project's code once, before any
    thread pool exists (each spawned worker would spend ~5 s of CPU importing them). The fork server starts with
    the first main job of this process and keeps that process's environment."""
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(["goodwatch_assets.defs.main_job", "goodwatch_assets.definitions"])
    return context


def _start_worker(load_definitions: Callable[[], dg.Definitions], instance_ref) -> None:
    """A worker's definitions' asset job and instance, built once."""
    _worker["job"] = load_definitions().resolve_implicit_global_asset_job_def()
    _worker["instance"] = dg.DagsterInstance.from_ref(instance_ref)


def _execute(step: PipelineStep) -> tuple[str | None, str | None]:
    """One run, in a worker: its run id and, when it failed, the first step failure's cause."""
    job, instance = _worker["job"], _worker["instance"]
    try:
        outcome = job.execute_in_process(instance=instance, asset_selection=list(step.asset_keys),
                                         partition_key=step.partition_key, raise_on_error=False,
                                         tags={RUN_TAG: "goodwatch run", **step.tags()})
    except Exception as error:  # noqa: BLE001 - reported to the parent, which raises it as the pipeline's failure
        return None, f"{type(error).__name__}: {error}"
    failures = outcome.get_step_failure_events()
    error = None if outcome.success else (_root_cause(failures[0].step_failure_data.error) if failures
                                          else "see the run's events")
    return outcome.run_id, error


def _root_cause(error) -> str:
    """The first line of the innermost cause of a step's failure (what the asset raised, not Dagster's wrapper)."""
    while error.cause is not None:
        error = error.cause
    return error.message.strip().splitlines()[0]
