"""The priority domain: lane 2, the sensor that refreshes viewed, requested and trending titles first."""

import dagster as dg

from goodwatch_assets.defs.priority.sensor import priority_sensor

defs = dg.Definitions(sensors=[priority_sensor])
