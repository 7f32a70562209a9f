"""``goodwatch stores``: the serving database and the document store."""

from __future__ import annotations

import click

from goodwatch_assets.cli.app import main
from goodwatch_assets.settings import StoreSettings


@main.group()
def stores() -> None:
    """The serving database and the document store."""


@stores.command("init")
def stores_init() -> None:
    """Start the embedded database if needed and apply pending migrations: a deployment's migration step (an init
    job or one-off container before the code server and run workers, which only check the schema version)."""
    from goodwatch_assets.stores.opening import open_stores

    serving_db, documents = open_stores(StoreSettings.from_env(), migrate=True)
    try:
        where = "embedded PostgreSQL" if serving_db.embedded else "PostgreSQL"
        version = serving_db.schema_version()
        click.echo(f"serving database ready: {where} at {serving_db.display_url}, schema version {version}")
        click.echo(f"document store ready: {documents.backend}")
    finally:
        documents.close()


@stores.command("status")
def stores_status() -> None:
    """Documents per source and status, and the serving schema's version."""
    from goodwatch_assets.stores.inventory import take_inventory
    from goodwatch_assets.stores.opening import open_stores

    serving_db, documents = open_stores(StoreSettings.from_env(), migrate=False)
    try:
        click.echo(take_inventory(serving_db, documents).as_text())
    finally:
        documents.close()


@stores.command("upgrade-embedded")
def stores_upgrade_embedded() -> None:
    """Move the embedded database made by the old embedded server (PostgreSQL 16, pgserver) to PostgreSQL 18: dump
    and restore every database, keep the old directory beside it as a backup."""
    from goodwatch_assets.stores.embedded_upgrade import upgrade_embedded

    upgrade = upgrade_embedded(StoreSettings.from_env().resolved_data_dir)
    if upgrade.backup is None:
        click.echo(f"the embedded database is already PostgreSQL {upgrade.from_major}: nothing to move")
    else:
        click.echo(f"moved {', '.join(upgrade.databases) or 'no database'} from PostgreSQL {upgrade.from_major} to "
                   f"PostgreSQL 18; the old data directory is kept at {upgrade.backup} (delete it once satisfied)")

