"""``goodwatch record-view``: app demand, what the priority sensor refreshes first."""

from __future__ import annotations

import click

from goodwatch_assets.cli.app import main
from goodwatch_assets.settings import StoreSettings


@main.command("record-view")
@click.argument("media", type=click.Choice(["movie", "tv"]))
@click.argument("tmdb_id", type=click.IntRange(min=1))
@click.option("--kind", type=click.Choice(["view", "impression", "request"]), default="view", show_default=True,
              help="A detail view, a search impression, or a request for a title not in the catalog yet.")
def record_view(media: str, tmdb_id: int, kind: str) -> None:
    """Record app demand for a title (what the priority sensor refreshes first)."""
    from goodwatch_assets.lib.demand import record_event
    from goodwatch_assets.stores.serving_db import open_serving_db

    record_event(open_serving_db(StoreSettings.from_env()), media, tmdb_id, kind)
    click.echo(f"recorded: {kind} of {media} {tmdb_id}")

