"""The main job: materialize the whole asset graph once, in dependency order, on an instance.

Dagster runs one partitions definition per run, and this graph mixes three (none, ``daily``,
``catalog``), so "the whole pipeline" is a sequence of runs: level by level of the asset graph,
one run per partition of each group of assets that share a partitions definition. Daily assets run
for one day (the newest complete one unless told), catalog assets for all 32 partitions; the assets
that do a range in one run (``BackfillPolicy.single_run``: the database-only DNA vectors and serving
tables) run once per media type, over its 16 shards, as a backfill of them would. Every run is recorded
on the instance as an ``__ASSET_JOB`` run, as if launched from the UI.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dagster as dg

from goodwatch_assets.defs.partitions import catalog_partitions, daily_partitions, media_ranges, range_tags

RUN_TAG = "goodwatch/launched_by"


@dataclass(frozen=True)
class PipelineStep:
    """One run: these assets, for this partition or this range of partitions (first, last), or unpartitioned."""

    asset_keys: tuple[dg.AssetKey, ...]
    partition_key: str | None = None
    partition_range: tuple[str, str] | None = None

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


def plan_pipeline(defs: dg.Definitions, *, day: str | None = None) -> list[PipelineStep]:
    graph = defs.resolve_asset_graph()
    steps: list[PipelineStep] = []
    for level in graph.toposorted_asset_keys_by_level:
        groups: dict[tuple[dg.PartitionsDefinition | None, bool], list[dg.AssetKey]] = {}
        for key in sorted(level & graph.materializable_asset_keys, key=lambda k: k.to_user_string()):
            node = graph.get(key)
            groups.setdefault((node.partitions_def, _in_one_run(node.backfill_policy)), []).append(key)
        for (partitions_def, in_one_run), keys in groups.items():
            if in_one_run and partitions_def == catalog_partitions:
                steps.extend(PipelineStep(tuple(keys), partition_range=(first, last))
                             for first, last in media_ranges())
            else:
                steps.extend(PipelineStep(tuple(keys), partition_key)
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


def run_pipeline(
    defs: dg.Definitions,
    instance: dg.DagsterInstance,
    *,
    day: str | None = None,
    report: Callable[[str], None] = print,
) -> list[dg.ExecuteInProcessResult]:
    """Run every step; stop at the first failed run (its error is raised, nothing after it runs).

    Runs go through the implicit ``__ASSET_JOB`` with the code location's resources, exactly as a
    launch from the asset graph would.
    """
    job = defs.resolve_implicit_global_asset_job_def()
    results = []
    steps = plan_pipeline(defs, day=day)
    for number, step in enumerate(steps, start=1):
        report(f"[{number}/{len(steps)}] {step.describe()}")
        results.append(
            job.execute_in_process(
                instance=instance,
                asset_selection=list(step.asset_keys),
                partition_key=step.partition_key,
                tags={RUN_TAG: "goodwatch run", **step.tags()},
            )
        )
    return results
