"""The ``goodwatch`` command: what is not a Dagster launch (stores, the main job, search, the replica)."""

from __future__ import annotations

import functools
import os
import sys

import click

from goodwatch_assets.errors import GoodwatchError
from goodwatch_assets.settings import (
    DAGSTER_HOME,
    REPLICA_URL,
    TMDB_API_KEY,
    TMDB_BEARER_TOKEN,
    EmbeddingSettings,
    Settings,
    StoreSettings,
    dagster_home,
)


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


@main.command("run")
@click.option("--date", "day", default=None, help="Day of the daily partitions (YYYY-MM-DD); default: the newest complete day.")
@click.option("--replica-titles", default=2000, show_default=True,
              help="Size of the offline replica started when no upstream is configured.")
@click.option("--replica-seed", default=1, show_default=True)
def run(day: str | None, replica_titles: int, replica_seed: int) -> None:
    """Run the main job: every asset of the pipeline once, in dependency order.

    Without GOODWATCH_REPLICA_URL and without TMDB credentials, an offline replica of every upstream is
    started in this process and used. Runs are recorded on the Dagster instance in $DAGSTER_HOME
    (default: the project's dagster_home/).
    """
    import dagster as dg

    from goodwatch_assets.defs.main_job import run_pipeline, time_by_asset

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
    try:
        with dg.DagsterInstance.get() as instance:
            apply_pool_limits(instance)  # and sets the pools, so a site's runs share its rate as planned
            results = run_pipeline(load_definitions, instance, day=day, report=click.echo)
            click.echo(f"pipeline finished: {len(results)} runs succeeded; where the time went:")
            for line in time_by_asset(results):
                click.echo(f"  {line}")
    finally:
        if replica is not None:
            replica.stop()


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
    from goodwatch_assets.lib.synth import synthesize
    from goodwatch_assets.stores.opening import open_stores

    _, documents = open_stores(StoreSettings.from_env())
    try:
        made = synthesize(documents, movies=movies, shows=shows, links=links, seed=seed, revision=revision,
                          changed_share=changed_share)
    finally:
        documents.close()
    click.echo(f"titles written: {made.titles}; streaming offers: {made.offers:,}; documents per source: {made.documents}")


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


@main.group()
def search() -> None:
    """Search the catalog by name, by DNA labels, or for titles similar to a title or to a description."""


@search.command("title")
@click.argument("name")
@click.option("--media", type=click.Choice(["movie", "tv"]), default=None)
@click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True)
def search_title(name, media, limit):
    """Titles whose name (or original name) is like NAME, typos and accents forgiven: their MEDIA and TMDB_ID are what
    the other searches and commands take."""
    from goodwatch_assets.lib.title_search import find_titles
    from goodwatch_assets.stores.serving_db import open_serving_db

    matches = find_titles(open_serving_db(StoreSettings.from_env()), name, media=media, limit=limit)
    if not matches:
        click.echo("no titles found")
    for match in matches:
        original = f" [{match.original_title}]" if match.original_title and match.original_title != match.title else ""
        click.echo(f"{match.media:<5} {match.tmdb_id:>9}  {match.title}{original} ({match.year or '?'})  "
                   f"similarity {match.similarity:.2f}")


def _search_filters(fn):
    """The options every search takes; the command receives them as one SearchFilters (``filters``)."""
    options = [
        click.option("--media", type=click.Choice(["movie", "tv"]), default=None),
        click.option("--year-from", type=int, default=None),
        click.option("--year-to", type=int, default=None),
        click.option("--min-score", type=click.FloatRange(0, 100), default=None, help="aggregated overall score, %"),
        click.option("--country", default=None, help="streamable in this country (e.g. US)"),
        click.option("--provider", default=None, help="streamable on this provider (name or TMDB id)"),
        click.option("--limit", type=click.IntRange(1, 1000), default=10, show_default=True),
    ]

    def command(media, year_from, year_to, min_score, country, provider, limit, **arguments):
        from goodwatch_assets.lib.search import SearchFilters

        with _open_search() as finder:
            filters = SearchFilters(media, year_from, year_to, min_score, country,
                                    finder.provider_id(provider) if provider else None)
            _print_hits(fn(finder, filters, limit, **arguments))

    command = functools.wraps(fn)(command)
    for option in reversed(options):
        command = option(command)
    return command


def _open_search():
    from goodwatch_assets.lib.embedding import Embedder
    from goodwatch_assets.lib.search import Search
    from goodwatch_assets.stores.serving_db import open_serving_db

    embedding = EmbeddingSettings.from_env()
    return Search(open_serving_db(StoreSettings.from_env()), Embedder(embedding.model), embedding.merge_similarity)


def _print_hits(hits) -> None:
    if not hits:
        click.echo("no titles found")
    for hit in hits:
        similarity = f"  similarity {hit.similarity:.3f}" if hit.similarity is not None else ""
        score = f"  score {hit.score:.0f}% ({hit.score_count:,})" if hit.score is not None else ""
        streaming = f"  on {', '.join(hit.streaming[:3])}{' …' if len(hit.streaming) > 3 else ''}" if hit.streaming else ""
        click.echo(f"{hit.media:<5} {hit.tmdb_id:>9}  {hit.title} ({hit.year or '?'}){score}{similarity}{streaming}")


@search.command("dna")
@click.argument("labels", nargs=-1, required=True)
@_search_filters
def search_dna(finder, filters, limit, labels):
    """Titles having every one of LABELS ("Mood=Tense", "Key Props: Revolver", or just "Tense")."""
    for label in labels:
        click.echo(f"{label} -> {', '.join(finder.resolve_label(label).matched)}")
    return finder.by_dna(labels, filters, limit)


@search.command("similar")
@click.argument("title_media", metavar="MEDIA", type=click.Choice(["movie", "tv"]))
@click.argument("tmdb_id", type=int)
@_search_filters
def search_similar(finder, filters, limit, title_media, tmdb_id):
    """Titles whose DNA is closest to that of the title MEDIA TMDB_ID."""
    return finder.similar_to_title(title_media, tmdb_id, filters, limit)


@search.command("text")
@click.argument("description")
@_search_filters
def search_text(finder, filters, limit, description):
    """Titles whose DNA is closest to a free-text DESCRIPTION."""
    return finder.similar_to_text(description, filters, limit)


@main.group()
def replica() -> None:
    """The offline replica of every upstream (for tests, benchmarks and trying the pipeline without keys)."""


@replica.command("serve")
@click.option("--titles", default=2000, show_default=True, help="Size of the synthetic catalog.")
@click.option("--seed", default=1, show_default=True, help="Seed of the synthetic catalog.")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback by default).")
@click.option("--port", default=8700, show_default=True, help="Port; 0 picks a free one.")
@click.option("--rate-limit", "rate_limits", multiple=True, metavar="SITE=N/W",
              help="At most N requests per W seconds for SITE (e.g. tmdb_api=40/1); repeatable.")
@click.option("--error-rate", default=0.0, show_default=True, help="Share of requests answered 5xx.")
@click.option("--error-bursts", default="", metavar="LENGTH/EVERY",
              help="5xx in bursts: of every EVERY requests to a site, the first LENGTH fail (e.g. 10/40).")
@click.option("--latency-ms", default=0.0, show_default=True, help="Latency added to every answer.")
@click.option("--malformed-rate", default=0.0, show_default=True, help="Share of pages and JSON answered broken.")
@click.option("--truncate-rate", default=0.0, show_default=True, help="Share of file downloads cut short.")
@click.option("--block", default="", metavar="KIND=RATE",
              help="A share of requests answered with a block: challenge (403, cf-mitigated), empty-202, "
                   "challenge-page or no-data (e.g. challenge=0.05).")
@click.option("--sparql-timeout-rate", default=0.0, show_default=True,
              help="Share of Wikidata queries answered 200 with part of the JSON and a stack trace.")
@click.option("--sparql-short-rate", default=0.0, show_default=True,
              help="Share of Wikidata queries answered with most rows missing.")
@click.option("--fault-seed", default=0, show_default=True, help="Seed of the fault decisions.")
def replica_serve(titles, seed, host, port, rate_limits, error_rate, error_bursts, latency_ms, malformed_rate,
                  truncate_rate, block, sparql_timeout_rate, sparql_short_rate, fault_seed) -> None:
    """Serve the replica until interrupted; prints each site's base URL."""
    from goodwatch_assets.replica.catalog import SyntheticCatalog
    from goodwatch_assets.replica.faults import FaultConfig
    from goodwatch_assets.replica.server import Replica, ReplicaServer

    try:
        limits = FaultConfig.parse_rate_limits(list(rate_limits))
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--rate-limit") from None
    try:
        burst_length, burst_every = FaultConfig.parse_bursts(error_bursts)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--error-bursts") from None
    try:
        block_kind, block_rate = FaultConfig.parse_block(block)
    except ValueError as error:
        raise click.BadParameter(str(error), param_hint="--block") from None
    faults = FaultConfig(seed=fault_seed, rate_limits=limits, error_rate=error_rate, burst_length=burst_length,
                         burst_every=burst_every, latency_ms=latency_ms, malformed_rate=malformed_rate,
                         truncate_rate=truncate_rate, block_kind=block_kind, block_rate=block_rate,
                         sparql_timeout_rate=sparql_timeout_rate, sparql_short_rate=sparql_short_rate)
    server = ReplicaServer(Replica(SyntheticCatalog(titles, seed), faults), host=host, port=port)
    click.echo(f"replica listening on {server.url} ({titles} titles, seed {seed})")
    for site, url in server.base_urls().items():
        click.echo(f"  {site:<15} {url}")
    click.echo(f"point every site at it with GOODWATCH_REPLICA_URL={server.url}")
    sys.stdout.flush()
    server.serve_forever()


@replica.command("truth")
@click.option("--titles", default=2000, show_default=True)
@click.option("--seed", default=1, show_default=True)
@click.option("--out", type=click.File("wb"), default="-", help="Where to write (JSON lines); default stdout.")
def replica_truth(titles, seed, out) -> None:
    """The ground truth of a catalog: what a correct pipeline stores for every title, one JSON per line."""
    import orjson

    from goodwatch_assets.replica.catalog import SyntheticCatalog
    from goodwatch_assets.replica.truth import ground_truth

    for truth in ground_truth(SyntheticCatalog(titles, seed)):
        out.write(orjson.dumps(truth) + b"\n")
