"""Schedules: the daily files after their publication, an hourly lane-1 sweep per source sized to its rate limit,
TMDB trending hourly, and a daily reconcile of the serving tables.

A sweep tick asks for one run per catalog partition, each with a budget of titles (``max_items``) such that
the tick's 32 runs fit in 80% of the sweep's period at the source's rate, counting the requests a title takes
(its pool runs them a few at a time, each paced at its share of the rate; see ``pools.py``). A tick whose
previous tick's runs are still queued or running asks for nothing, so a slow upstream never piles up runs.
Sweeps are lane 1: ``dagster/priority`` -1, below launches by hand (0) and lane 2 (10), so viewed and trending
titles jump the queue.

Schedules start stopped (they put load on upstreams): turn them on in the UI, or with
``dagster schedule start``.
"""

from __future__ import annotations

import os
from datetime import timedelta

import dagster as dg

from goodwatch_assets.automation.pools import POOL_LIMITS
from goodwatch_assets.automation.runs import unfinished_runs
from goodwatch_assets.fetching.policy import policies_from_env
from goodwatch_assets.partitions import all_catalog_partitions

LANE1_TAGS = {"dagster/priority": "-1", "goodwatch/lane": "completeness"}
SWEEP_SHARE = 0.8  # of the period at the source's rate: room for retries and slow answers
SWEEPS = {
    # asset: (its fetch policy, requests per title, cron, period)
    "tmdb_details": ("tmdb_api", 1, "5 * * * *", timedelta(hours=1)),
    # Guessed URLs: the year slug, the bare slug, alternative titles; TV Tropes also follows sub-pages.
    "metacritic_scores": ("metacritic", 2.5, "10 * * * *", timedelta(hours=1)),
    "rotten_tomatoes_scores": ("rotten_tomatoes", 2.5, "15 * * * *", timedelta(hours=1)),
    "tvtropes_tropes": ("tvtropes", 3, "20 * * * *", timedelta(hours=1)),
    # Five titles per prompt; the model's daily request budget halts it too.
    "dna": ("llm", 0.2, "25 */6 * * *", timedelta(hours=6)),
}


def sweep_budget(requests_per_second: float, period: timedelta, requests_per_title: float = 1,
                 partitions: int = 32) -> int:
    """Titles per partition run so that one tick's runs take ``SWEEP_SHARE`` of the period at the source's rate
    (the pool's runs share the rate, so it does not matter how many run at once)."""
    return max(1, int(requests_per_second * period.total_seconds() * SWEEP_SHARE / requests_per_title / partitions))


def lane1_sweep(asset: str, policy_name: str, requests_per_title: float, cron: str,
                period: timedelta) -> dg.ScheduleDefinition:
    rate = policies_from_env(os.environ)[policy_name].requests_per_second
    budget = sweep_budget(rate, period, requests_per_title)
    tags = {**LANE1_TAGS, "goodwatch/sweep": asset}

    @dg.schedule(name=f"{asset}_sweep", cron_schedule=cron, target=dg.AssetSelection.assets(asset),
                 execution_timezone="UTC",
                 description=f"Lane 1 for {asset}: every catalog partition, at most {budget} due titles per run "
                             f"({rate:g} requests/s, pool of {POOL_LIMITS.get(policy_name, 1)}).")
    def _sweep(context: dg.ScheduleEvaluationContext):
        if behind := unfinished_runs(context.instance, {"goodwatch/sweep": asset}):
            return dg.SkipReason(f"{behind} runs of the last {asset} sweep are still queued or running")
        tick = context.scheduled_execution_time.isoformat()
        return [dg.RunRequest(run_key=f"{asset}:{partition.key}:{tick}", partition_key=partition.key,
                              run_config={"ops": {asset: {"config": {"max_items": budget}}}}, tags=tags)
                for partition in all_catalog_partitions()]

    return _sweep


def daily_file_schedule(asset: dg.AssetsDefinition, hour: int) -> dg.ScheduleDefinition:
    """Yesterday's partition, once the day's file is out."""
    job = dg.define_asset_job(f"{asset.key.to_user_string()}_daily", selection=[asset], tags=LANE1_TAGS)
    return dg.build_schedule_from_partitioned_job(job, hour_of_day=hour, minute_of_hour=0)


@dg.schedule(name="serving_reconcile", cron_schedule="40 5 * * *", execution_timezone="UTC",
             target=dg.AssetSelection.groups("serving"),
             description="Every serving partition's combine once a day (incremental: it writes what eager automation "
                         "has not combined yet, if anything).")
def serving_reconcile(context: dg.ScheduleEvaluationContext):
    tick = context.scheduled_execution_time.isoformat()
    return [dg.RunRequest(run_key=f"serving:{partition.key}:{tick}", partition_key=partition.key, tags=LANE1_TAGS)
            for partition in all_catalog_partitions()]


trending_hourly = dg.ScheduleDefinition(
    name="tmdb_trending_hourly", cron_schedule="0 * * * *", execution_timezone="UTC",
    target=dg.AssetSelection.assets("tmdb_trending"), tags=LANE1_TAGS,
    description="TMDB's trending lists, for the priority sensor.",
)


def build_schedules(tmdb_daily_export: dg.AssetsDefinition, imdb_ratings: dg.AssetsDefinition) -> list:
    # TMDB publishes the day's id exports by about 08:00 UTC; IMDb refreshes its datasets overnight.
    return [daily_file_schedule(tmdb_daily_export, hour=9), daily_file_schedule(imdb_ratings, hour=6),
            *(lane1_sweep(asset, *sweep) for asset, sweep in SWEEPS.items()), serving_reconcile, trending_hourly]
