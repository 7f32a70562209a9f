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

    from goodwatch_assets.defs.pools import apply_pool_limits

    os.environ[DAGSTER_HOME] = dagster_home()
    with dg.DagsterInstance.get() as instance:
        for pool, limit in apply_pool_limits(instance).items():
            click.echo(f"{pool}: {limit}")

