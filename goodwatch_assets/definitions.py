"""The code location: every asset, check, job, schedule and sensor of the pipeline."""

from __future__ import annotations

import dagster as dg

from goodwatch_assets.assets.inventory import store_inventory
from goodwatch_assets.resources import build_resources

defs = dg.Definitions(
    assets=[store_inventory],
    resources=build_resources(),
)
