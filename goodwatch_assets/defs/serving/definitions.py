"""The serving domain: the tables the web app reads, their full rebuild, and their daily reconcile."""

import dagster as dg

from goodwatch_assets.defs.serving.assets import serving_full_rebuild, serving_tables
from goodwatch_assets.defs.serving.schedules import serving_reconcile

defs = dg.Definitions(assets=[serving_tables], jobs=[serving_full_rebuild], schedules=[serving_reconcile])
