"""``goodwatch cooldowns``: the sites a rate limit or a block put on hold, and the pace their runs keep."""

from __future__ import annotations

import click

from goodwatch_assets.cli.app import main
from goodwatch_assets.settings import StoreSettings


def _cooldowns():
    from goodwatch_assets.stores.cooldowns import PostgresCooldowns
    from goodwatch_assets.stores.serving_db import open_serving_db

    return PostgresCooldowns(open_serving_db(StoreSettings.from_env()))


def _site(_ctx, _param, name: str) -> str:
    from goodwatch_assets.sources.registry import SITES

    names = sorted(site.name for site in SITES)
    if name not in names:
        raise click.BadParameter(f"{name!r} is not a site; the sites are {', '.join(names)}")
    return name


def _describe(state) -> str:
    when = f"cooling down until {state.until:%Y-%m-%d %H:%M:%S} UTC" if state.active else \
        f"no cool-down (the last ended {state.until:%Y-%m-%d %H:%M:%S} UTC)"
    return f"{state.site}: {when}; pace {state.pace:.3g} of the policy's rate; last: {state.reason}"


@main.group()
def cooldowns() -> None:
    """Cool-downs: no run of a site sends anything until its cool-down is over (set by a rate limit or a block)."""


@cooldowns.command("list")
def cooldowns_list() -> None:
    """Every site ever cooled down or slowed: its cool-down, the pace its runs keep, and why."""
    states = _cooldowns().states()
    if not states:
        click.echo("no site was ever rate limited or blocked: every site runs at its policy's rate")
    for state in states:
        click.echo(_describe(state))


@cooldowns.command("clear")
@click.argument("site", callback=_site)
@click.option("--reset-pace", is_flag=True,
              help="Also give the site's runs the policy's whole rate back (else the pace recovers run by run).")
def cooldowns_clear(site: str, reset_pace: bool) -> None:
    """End SITE's cool-down now: its next run fetches again. Clear a block only once the site lets us in again
    (docs/runbook.md)."""
    before, after = _cooldowns().clear(site, reset_pace=reset_pace)
    if after is None:
        click.echo(f"{site}: nothing to clear ({_describe(before) if before else 'never cooled down'})")
        return
    was = f"cool-down until {before.until:%Y-%m-%d %H:%M:%S} UTC ended" if before.active else "no cool-down was on"
    pace = f"pace {before.pace:.3g} -> {after.pace:.3g}" if after.pace != before.pace else f"pace stays {after.pace:.3g}"
    click.echo(f"{site}: {was}; {pace}")
