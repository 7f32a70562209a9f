"""The ``goodwatch`` command: what is not a Dagster launch (stores, the main job)."""

from __future__ import annotations

import os
import sys

import click

from goodwatch_assets.errors import GoodwatchError
from goodwatch_assets.settings import StoreSettings, project_root


class _Group(click.Group):
    """Turns the project's own errors into one line on stderr and exit code 2."""

    def invoke(self, ctx: click.Context):
        try:
            return super().invoke(ctx)
        except GoodwatchError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(2)


@click.group(cls=_Group)
def main() -> None:
    """GoodWatch Assets: keep the movie and TV catalog complete and fresh."""


@main.group()
def stores() -> None:
    """The serving database and the document store."""


@stores.command("init")
def stores_init() -> None:
    """Start the embedded database if needed and apply pending migrations."""
    from goodwatch_assets.stores.opening import open_stores

    serving_db, documents = open_stores(StoreSettings.from_env())
    where = "embedded PostgreSQL" if serving_db.embedded else "PostgreSQL"
    version = serving_db.schema_version()
    click.echo(f"serving database ready: {where} at {serving_db.display_url}, schema version {version}")
    click.echo(f"document store ready: {documents.backend}")
    documents.close()


@stores.command("status")
def stores_status() -> None:
    """Documents per source and status, and the serving schema's version."""
    from goodwatch_assets.stores.inventory import take_inventory
    from goodwatch_assets.stores.opening import open_stores

    serving_db, documents = open_stores(StoreSettings.from_env())
    click.echo(take_inventory(serving_db, documents).as_text())
    documents.close()


@main.command("run")
@click.option(
    "--date", "day", default=None, help="Day of the daily partitions (YYYY-MM-DD); default: the newest complete day."
)
def run(day: str | None) -> None:
    """Run the main job: every asset of the pipeline once, in dependency order.

    Runs are recorded on the Dagster instance in $DAGSTER_HOME (default: the project's dagster_home/).
    """
    import dagster as dg

    from goodwatch_assets.pipeline import run_pipeline

    os.environ.setdefault("DAGSTER_HOME", str(project_root() / "dagster_home"))
    from goodwatch_assets.definitions import defs

    with dg.DagsterInstance.get() as instance:
        results = run_pipeline(defs, instance, day=day, report=click.echo)
    click.echo(f"pipeline finished: {len(results)} runs succeeded")
