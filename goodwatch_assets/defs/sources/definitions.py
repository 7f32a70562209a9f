"""The sources domain: every upstream's assets, their checks, and their schedules."""

import dagster as dg

from goodwatch_assets.defs.source_checks import source_checks
from goodwatch_assets.defs.sources.assets import (
    PER_TITLE_ASSETS,
    PER_TITLE_SPECS,
    imdb_ratings,
    tmdb_daily_export,
    tmdb_trending,
)
from goodwatch_assets.defs.sources.schedules import SCHEDULES
from goodwatch_assets.sources import imdb

defs = dg.Definitions(
    assets=[tmdb_daily_export, tmdb_trending, imdb_ratings, *PER_TITLE_ASSETS.values()],
    asset_checks=[check for spec in (imdb.SPEC, *PER_TITLE_SPECS) for check in source_checks(spec)],
    schedules=SCHEDULES,
)
