"""The upstreams' schedules: each daily file after its publication, and TMDB's trending lists hourly. (The lane-1
sweeps of the per-title sources are sized from the settings: ``defs/sweeps.py``, added by the root definitions.)"""


import dagster as dg

from goodwatch_assets.defs.run_resources import run_tags
from goodwatch_assets.defs.runs import LANE1_TAGS
from goodwatch_assets.defs.sources.assets import imdb_ratings, tmdb_changes, tmdb_daily_export, tmdb_trending


def daily_file_schedule(asset: dg.AssetsDefinition, hour: int) -> dg.ScheduleDefinition:
    """Yesterday's partition, once the day's file is out."""
    job = dg.define_asset_job(f"{asset.key.to_user_string()}_daily", selection=[asset],
                              tags={**LANE1_TAGS, **run_tags(asset)})
    return dg.build_schedule_from_partitioned_job(job, hour_of_day=hour, minute_of_hour=0)


trending_hourly = dg.ScheduleDefinition(
    name="tmdb_trending_hourly", cron_schedule="0 * * * *", execution_timezone="UTC",
    target=dg.AssetSelection.assets(tmdb_trending), tags={**LANE1_TAGS, **run_tags(tmdb_trending)},
    description="TMDB's trending lists, for the priority sensor.",
)

SCHEDULES = [
    # TMDB publishes the day's id exports by about 08:00 UTC; IMDb refreshes its datasets overnight.
    daily_file_schedule(tmdb_daily_export, hour=9),
    daily_file_schedule(imdb_ratings, hour=6),
    # The changes feed of a day is whole once the day is over.
    daily_file_schedule(tmdb_changes, hour=1),
    trending_hourly,
]
