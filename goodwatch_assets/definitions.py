"""The code location: every asset, check, job, schedule and sensor of the pipeline."""

from __future__ import annotations

import dagster as dg

from goodwatch_assets.assets.checks import source_checks
from goodwatch_assets.assets.dna import dna, dna_vectors
from goodwatch_assets.assets.guessed import metacritic_scores, rotten_tomatoes_scores, tvtropes_tropes
from goodwatch_assets.assets.imdb import imdb_ratings
from goodwatch_assets.assets.inventory import store_inventory
from goodwatch_assets.assets.serving import serving_full_rebuild, serving_tables
from goodwatch_assets.assets.tmdb import tmdb_daily_export, tmdb_details, tmdb_trending
from goodwatch_assets.automation.priority import priority_sensor
from goodwatch_assets.automation.schedules import build_schedules
from goodwatch_assets.resources import build_resources

SOURCE_ASSETS = {
    "tmdb_details": tmdb_details,
    "imdb_ratings": imdb_ratings,
    "metacritic": metacritic_scores,
    "rotten_tomatoes": rotten_tomatoes_scores,
    "tvtropes": tvtropes_tropes,
    "dna": dna,
}

eager_automation = dg.AutomationConditionSensorDefinition(
    "eager_automation", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
    description="DNA vectors and the serving tables follow their sources' changes (eager automation).",
)

defs = dg.Definitions(
    assets=[tmdb_daily_export, tmdb_trending, *SOURCE_ASSETS.values(), dna_vectors, serving_tables, store_inventory],
    jobs=[serving_full_rebuild],
    schedules=build_schedules(tmdb_daily_export, imdb_ratings),
    sensors=[priority_sensor, eager_automation],
    asset_checks=[check for source, asset in SOURCE_ASSETS.items() for check in source_checks(asset, source)],
    resources=build_resources(),
)
