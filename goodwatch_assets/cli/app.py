"""The ``goodwatch`` group itself: every command module of this package adds its commands to :data:`main`."""

from __future__ import annotations

import sys

import click

from goodwatch_assets.errors import GoodwatchError


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

