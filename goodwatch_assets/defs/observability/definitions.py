"""The observability domain: what the stores hold, recorded over time."""

import dagster as dg

from goodwatch_assets.defs.observability.assets import store_inventory

defs = dg.Definitions(assets=[store_inventory])
