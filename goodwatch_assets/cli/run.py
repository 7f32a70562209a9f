"""``goodwatch run`` and ``goodwatch synth``: the main job on the Dagster instance, and a synthetic catalog."""

from __future__ import annotations

import os
import signal
import sys

import click

from goodwatch_assets.cli.app import main
from goodwatch_assets.settings import (
    DAGSTER_HOME,
    REPLICA_URL,
    TMDB_API_KEY,
    TMDB_BEARER_TOKEN,
    Settings,
    StoreSettings,
    dagster_home,
)

INTERRUPTED_AGAIN = "interrupted; nothing is lost (every batch a run finished is stored)"
"""What the main job ends with when interrupted again while its runs were being stopped."""


@main.command("run")
@click.option("--date", "day", default=None, help="Day of the daily partitions (YYYY-MM-DD); default: the newest complete day.")
@click.option("--replica-titles", default=2000, show_default=True,
              help="Size of the offline replica started when no upstream is configured.")
@click.option("--replica-seed", default=1, show_default=True)
@click.option("--verbose", is_flag=True, help="Print Dagster's events of every run too (they are always in the UI).")
def run(day: str | None, replica_titles: int, replica_seed: int, verbose: bool) -> None:
    """Run the main job: every asset of the pipeline once, in dependency order.

    Without GOODWATCH_REPLICA_URL and without TMDB credentials, an offline replica of every upstream is
    started in this process and used. Runs are recorded on the Dagster instance in $DAGSTER_HOME
    (default: the project's dagster_home/). Interrupted (Ctrl-C, SIGTERM, or SIGHUP when its terminal closes), it
    stops the runs under way and keeps all they stored: run it again to go on.
    """
    import dagster as dg

    from goodwatch_assets.cli.run_display import RunDisplay
    from goodwatch_assets.defs.main_job import PipelineInterrupted, run_pipeline

    os.environ[DAGSTER_HOME] = dagster_home()
    settings = Settings.from_env()
    replica = None
    if not (settings.replica_url or {TMDB_API_KEY, TMDB_BEARER_TOKEN} & settings.secrets):
        from goodwatch_assets.replica.catalog import SyntheticCatalog
        from goodwatch_assets.replica.server import Replica, ReplicaServer

        replica = ReplicaServer(Replica(SyntheticCatalog(replica_titles, replica_seed))).start()
        os.environ[REPLICA_URL] = replica.url
        click.echo(f"no upstream configured: using an offline replica of {replica_titles} titles at {replica.url}")
    from goodwatch_assets.definitions import load_definitions
    from goodwatch_assets.defs.pools import apply_pool_limits
    from goodwatch_assets.stores.serving_db import open_serving_db

    open_serving_db(settings.stores, migrate=True)  # the main job is its own deploy step
    display = RunDisplay.for_stdout()
    stopped_by = stop_on_termination()
    try:
        with dg.DagsterInstance.get() as instance:
            apply_pool_limits(instance)  # and sets the pools, so a site's runs share its rate as planned
            try:
                run_pipeline(load_definitions, instance, day=day, progress=display, verbose=verbose)
            except (PipelineInterrupted, KeyboardInterrupt) as interrupted:  # the latter: again, while stopping
                display.close(table=False)
                said = interrupted if isinstance(interrupted, PipelineInterrupted) else INTERRUPTED_AGAIN
                click.echo(f"{said}; go on with: goodwatch run", err=True)
                sys.exit(128 + stopped_by.get("signal", signal.SIGINT))
            finally:
                display.close()
    finally:
        if replica is not None:
            replica.stop()


def stop_on_termination() -> dict[str, int]:
    """Have SIGTERM (``kill``, a service manager, a CI's cancel) and SIGHUP (the terminal closed) end the main job as
    Ctrl-C does: its runs stopped and marked, the embedded server stopped with its last user. By default they would
    end this process alone, in the middle of everything. Returns where the signal received is noted, for the exit
    code (128 + its number). After a SIGHUP, output goes nowhere: the terminal it went to is gone; and a SIGHUP comes
    twice when a terminal closes (from the kernel and from the shell), so the second is not taken as a second Ctrl-C."""
    received: dict[str, int] = {}

    def stop(signum: int, _frame) -> None:
        received.setdefault("signal", signum)
        if signum == signal.SIGHUP:
            signal.signal(signal.SIGHUP, signal.SIG_IGN)
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            os.dup2(devnull, sys.stderr.fileno())
        raise KeyboardInterrupt

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, stop)
    return received


@main.command("synth")
@click.option("--movies", type=click.IntRange(min=0), default=10_000, show_default=True)
@click.option("--shows", type=click.IntRange(min=0), default=2_000, show_default=True)
@click.option("--links", type=click.IntRange(min=0), default=100_000, show_default=True,
              help="Streaming offers in all (spread over the titles).")
@click.option("--seed", default=1, show_default=True)
@click.option("--revision", type=click.IntRange(min=0), default=0, show_default=True,
              help="0: write the whole catalog; r > 0: write only the titles revision r changes.")
@click.option("--changed-share", type=click.FloatRange(0, 1), default=0.01, show_default=True,
              help="With --revision: the share of titles it changes.")
def synth(movies: int, shows: int, links: int, seed: int, revision: int, changed_share: float) -> None:
    """Write a synthetic catalog straight into the document store (no HTTP), for scale tests: TMDB details
    with streaming offers, IMDb, Metacritic, Rotten Tomatoes and TV Tropes documents."""
    from rich.console import Console
    from rich.progress import Progress

    from goodwatch_assets.lib.synth import synthesize
    from goodwatch_assets.stores.opening import open_stores

    _, documents = open_stores(StoreSettings.from_env())
    console = Console()
    try:
        with Progress(*Progress.get_default_columns(), console=console, disable=not console.is_terminal) as progress:
            task = progress.add_task("titles written", total=movies + shows)

            def show(made, through: int) -> None:
                progress.update(task, completed=through)
                if not console.is_terminal:  # a log file gets a line per chunk
                    click.echo(f"{through:,}/{movies + shows:,} titles gone through, "
                               f"{sum(made.documents.values()):,} documents written")

            made = synthesize(documents, movies=movies, shows=shows, links=links, seed=seed, revision=revision,
                              changed_share=changed_share, on_chunk=show)
    finally:
        documents.close()
    click.echo(f"titles written: {made.titles}; streaming offers: {made.offers:,}; documents per source: {made.documents}")

