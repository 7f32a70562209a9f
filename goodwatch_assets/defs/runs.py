"""Run tags, and the runs still to finish: what the sensor and the sweeps wait for before asking for more."""

from __future__ import annotations

import dagster as dg

LANE1_TAGS = {"dagster/priority": "-1", "goodwatch/lane": "completeness"}
"""Lane 1 (completeness: sweeps, daily files, reconciles) runs below launches by hand (0) and lane 2 (10)."""
UNFINISHED = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
              dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def unfinished_runs(instance: dg.DagsterInstance, tags: dict[str, str]) -> int:
    """Runs with these tags that are queued, starting, running or cancelling."""
    return instance.get_runs_count(dg.RunsFilter(tags=tags, statuses=UNFINISHED))
