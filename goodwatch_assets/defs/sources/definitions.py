"""The sources domain: every upstream's assets, their checks, their schedules, and the jobs that act on their
quarantined titles."""

import dagster as dg

from goodwatch_assets.defs.quarantine import JOBS as QUARANTINE_JOBS
from goodwatch_assets.defs.source_checks import source_checks
from goodwatch_assets.defs.sources.assets import (
    PER_TITLE_ASSETS,
    PER_TITLE_SPECS,
    imdb_ratings,
    tmdb_changes,
    tmdb_daily_export,
    tmdb_trending,
)
from goodwatch_assets.defs.sources.page_candidates import SITEMAP_ASSETS, sitemaps_weekly, wikidata_ids, wikidata_weekly
from goodwatch_assets.defs.sources.schedules import SCHEDULES
from goodwatch_assets.sources import imdb, wikidata

defs = dg.Definitions(
    assets=[tmdb_daily_export, tmdb_changes, tmdb_trending, imdb_ratings, wikidata_ids, *SITEMAP_ASSETS.values(),
            *PER_TITLE_ASSETS.values()],
    asset_checks=[check for spec in (imdb.SPEC, wikidata.SPEC, *PER_TITLE_SPECS) for check in source_checks(spec)],
    schedules=[*SCHEDULES, wikidata_weekly, sitemaps_weekly],
    jobs=QUARANTINE_JOBS,
)
