"""Runs still to finish: what the sensor and the sweeps wait for before asking for more."""

from __future__ import annotations

import dagster as dg

UNFINISHED = [dg.DagsterRunStatus.QUEUED, dg.DagsterRunStatus.NOT_STARTED, dg.DagsterRunStatus.STARTING,
              dg.DagsterRunStatus.STARTED, dg.DagsterRunStatus.CANCELING]


def unfinished_runs(instance: dg.DagsterInstance, tags: dict[str, str]) -> int:
    """Runs with these tags that are queued, starting, running or cancelling."""
    return instance.get_runs_count(dg.RunsFilter(tags=tags, statuses=UNFINISHED))
