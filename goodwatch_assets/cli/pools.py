"""``goodwatch pools``: how hard each site is asked, as the Dagster instance ($DAGSTER_HOME) holds it."""

from __future__ import annotations

import os

import click

from goodwatch_assets.cli.app import main
from goodwatch_assets.settings import DAGSTER_HOME, dagster_home


@main.group()
def pools() -> None:
    """Concurrency pools on the Dagster instance ($DAGSTER_HOME)."""


@pools.command("apply")
def pools_apply() -> None:
    """Set each site's pool limit on the instance (see goodwatch_assets/defs/pools.py)."""
    import dagster as dg

    from goodwatch_assets.defs.pools import apply_pool_limits, pool_states

    os.environ[DAGSTER_HOME] = dagster_home()
    with dg.DagsterInstance.get() as instance:
        before = {state.pool: state.limit for state in pool_states(instance)}
        for pool, limit in apply_pool_limits(instance).items():
            click.echo(f"{pool}: {limit}" + (f" (was {before.get(pool) or 'not set'})" if before.get(pool) != limit else
                                            " (unchanged)"))



@pools.command("show")
def pools_show() -> None:
    """Each pool's limit on the instance (against the planned one), the runs holding its slots, the steps waiting."""
    import dagster as dg

    from goodwatch_assets.defs.pools import pool_states

    os.environ[DAGSTER_HOME] = dagster_home()
    with dg.DagsterInstance.get() as instance:
        for state in pool_states(instance):
            limit = f"limit {state.limit}" if state.limit is not None else "no limit set (the instance's default)"
            drift = f" (planned {state.planned}: `goodwatch pools apply`)" if state.limit != state.planned else ""
            held = ", ".join(f"{run_id[:8]}{f' [{partition}]' if partition else ''}"
                             for run_id, partition in state.holders.items())
            click.echo(f"{state.pool}: {limit}{drift}; {len(state.holders)} run(s) holding slots"
                       f"{': ' + held if held else ''}; {state.waiting} step(s) waiting")
