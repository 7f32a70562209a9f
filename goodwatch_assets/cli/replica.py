"""``goodwatch replica``: the offline replica of every upstream, and its ground truth."""

from __future__ import annotations

import sys

import click

from goodwatch_assets.cli.app import main


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
