"""Lane 1's schedules: every catalog partition of a per-title source, once per period, as many titles per run as the
source's site allows.

A sweep tick asks for one run per catalog partition, each with a budget of titles (``max_items``) such that the
tick's 32 runs fit in ``SWEEP_SHARE`` of the period at the site's rate, counting the requests a title takes (the
pool's runs share the rate, so it does not matter how many run at once), at the site's rate in the settings the
code location loaded with. A tick whose previous tick's runs are still queued or running asks for nothing,
so a slow upstream never piles up runs. Sweeps are lane 1: ``dagster/priority`` -1, below launches by hand (0) and
lane 2 (10), so viewed and trending titles jump the queue. They start stopped (they put load on upstreams): turn them
on in the UI, or with ``dagster schedule start``.
"""


from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

import dagster as dg

from goodwatch_assets.defs.partitions import all_catalog_partitions
from goodwatch_assets.defs.pools import POOL_LIMITS
from goodwatch_assets.defs.run_resources import run_tags
from goodwatch_assets.defs.runs import LANE1_TAGS, unfinished_runs
from goodwatch_assets.settings import Settings
from goodwatch_assets.sources.registry import PER_TITLE_SOURCES
from goodwatch_assets.sources.spec import SourceSpec

SWEEP_SHARE = 0.8
"""Of the period at the site's rate: room for retries and slow answers."""


def sweep_budget(requests_per_second: float, period: timedelta, requests_per_title: float = 1,
                 partitions: int = 32) -> int:
    """Titles per partition run so that one tick's runs take ``SWEEP_SHARE`` of the period at the site's rate."""
    return max(1, int(requests_per_second * period.total_seconds() * SWEEP_SHARE / requests_per_title / partitions))


def sweep_schedule(spec: SourceSpec, requests_per_second: float, asset: dg.AssetsDefinition) -> dg.ScheduleDefinition:
    sweep = spec.sweep
    budget = sweep_budget(requests_per_second, sweep.period, sweep.requests_per_title)
    tags = {**LANE1_TAGS, "goodwatch/sweep": spec.name, **run_tags(asset)}

    @dg.schedule(name=f"{spec.name}_sweep", cron_schedule=sweep.cron, target=dg.AssetSelection.assets(spec.name),
                 execution_timezone="UTC",
                 description=f"Lane 1 for {spec.name}: every catalog partition, at most {budget} due titles per run "
                             f"({requests_per_second:g} requests/s, pool of {POOL_LIMITS[spec.site.name]}).")
    def _sweep(context: dg.ScheduleEvaluationContext):
        if behind := unfinished_runs(context.instance, {"goodwatch/sweep": spec.name}):
            return dg.SkipReason(f"{behind} runs of the last {spec.name} sweep are still queued or running")
        tick = context.scheduled_execution_time.isoformat()
        return [dg.RunRequest(run_key=f"{spec.name}:{partition.key}:{tick}", partition_key=partition.key,
                              run_config={"ops": {spec.name: {"config": {"max_items": budget}}}}, tags=tags)
                for partition in all_catalog_partitions()]

    return _sweep


def sweep_schedules(settings: Settings, assets: Mapping[str, dg.AssetsDefinition]) -> list[dg.ScheduleDefinition]:
    """The sweep of every per-title source that has one, at its site's rate in ``settings``; ``assets``: the
    sources' assets by name."""
    return [sweep_schedule(spec, settings.site(spec.site).requests_per_second, assets[spec.name])
            for spec in PER_TITLE_SOURCES if spec.sweep]
