"""The observability domain: what the stores hold, recorded over time, and failures posted to a person."""

import dagster as dg

from goodwatch_assets.defs.observability.alerts import check_failure_alert, run_failure_alert
from goodwatch_assets.defs.observability.assets import store_inventory

defs = dg.Definitions(assets=[store_inventory], sensors=[run_failure_alert, check_failure_alert])
