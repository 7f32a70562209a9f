"""The main job: materialize the whole asset graph once, in dependency order, on an instance.

Dagster runs one partitions definition per run, and this graph mixes three (none, ``daily``,
``catalog``), so "the whole pipeline" is a sequence of runs: level by level of the asset graph,
one run per partition of each group of assets that share a partitions definition. Daily assets run
for one day (the newest complete one unless told), catalog assets for all 32 partitions. Every run
is recorded on the instance as an ``__ASSET_JOB`` run, as if launched from the UI.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import dagster as dg

from goodwatch_assets.defs.partitions import daily_partitions

RUN_TAG = "goodwatch/launched_by"


@dataclass(frozen=True)
class PipelineStep:
    """One run: these assets, for this partition (``None`` when unpartitioned)."""

    asset_keys: tuple[dg.AssetKey, ...]
    partition_key: str | None

    def describe(self) -> str:
        names = ", ".join(key.to_user_string() for key in self.asset_keys)
        return f"{names} [{self.partition_key}]" if self.partition_key else names


def plan_pipeline(defs: dg.Definitions, *, day: str | None = None) -> list[PipelineStep]:
    graph = defs.resolve_asset_graph()
    steps: list[PipelineStep] = []
    for level in graph.toposorted_asset_keys_by_level:
        groups: dict[dg.PartitionsDefinition | None, list[dg.AssetKey]] = {}
        for key in sorted(level & graph.materializable_asset_keys, key=lambda k: k.to_user_string()):
            groups.setdefault(graph.get(key).partitions_def, []).append(key)
        for partitions_def, keys in groups.items():
            for partition_key in _partition_keys(partitions_def, day):
                steps.append(PipelineStep(tuple(keys), partition_key))
    return steps


def _partition_keys(partitions_def: dg.PartitionsDefinition | None, day: str | None) -> Sequence[str | None]:
    if partitions_def is None:
        return [None]
    if partitions_def == daily_partitions:
        return [day or daily_partitions.get_last_partition_key()]
    return partitions_def.get_partition_keys()


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
                tags={RUN_TAG: "goodwatch run"},
            )
        )
    return results
