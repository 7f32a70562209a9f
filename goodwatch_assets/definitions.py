"""The code location: every domain's definitions (``defs/<domain>/definitions.py``) merged, with what spans the
domains: the resources they share and the lane-1 sweeps, both from the environment's settings, and eager automation."""

from __future__ import annotations

import dagster as dg

from goodwatch_assets.defs.dna import definitions as dna
from goodwatch_assets.defs.dna.assets import dna_vectors
from goodwatch_assets.defs.observability import definitions as observability
from goodwatch_assets.defs.priority import definitions as priority
from goodwatch_assets.defs.resources import build_resources
from goodwatch_assets.defs.run_resources import run_tags
from goodwatch_assets.defs.serving import definitions as serving
from goodwatch_assets.defs.serving.assets import serving_tables
from goodwatch_assets.defs.sources import definitions as sources
from goodwatch_assets.defs.sweeps import sweep_schedules
from goodwatch_assets.settings import Settings

DOMAINS = (sources, dna, serving, priority, observability)

ASSETS = {key.to_user_string(): asset for domain in DOMAINS for asset in domain.defs.assets or ()
          for key in asset.keys}
"""Every asset of the domains, by the name of each key it materializes."""

eager_automation = dg.AutomationConditionSensorDefinition(
    "eager_automation", target=dg.AssetSelection.all(), default_status=dg.DefaultSensorStatus.RUNNING,
    run_tags=run_tags(dna_vectors, serving_tables),  # what eager automation materializes
    description="DNA vectors and the serving tables follow their sources' changes (eager automation).",
)

settings = Settings.from_env()
defs = dg.Definitions.merge(
    *(domain.defs for domain in DOMAINS),
    dg.Definitions(schedules=sweep_schedules(settings, ASSETS), sensors=[eager_automation],
                   resources=build_resources(settings)),
)


def load_definitions() -> dg.Definitions:
    """This code location's definitions (what the main job's worker processes build theirs from)."""
    return defs
