"""The fault suite: each fault injected against the replica and the embedded stores. Every case asserts the same
three numbers: titles lost, documents or serving rows duplicated, invalid records stored, all 0, and counts how
often its fault was injected; ``test_fault_table`` prints the table the README shows.

The per-title cases run the source assets over two catalog partitions (``PARTITIONS``) until every title there is
settled, and compare what is stored with the replica's truth: a title is lost when it never settles (or is
quarantined), a record is invalid when it fails its model or a value differs from the truth.
"""

from __future__ import annotations

import gzip
import os
import subprocess
import time
from collections import Counter
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from goodwatch_assets.assets import lane1
from goodwatch_assets.assets.guessed import metacritic_scores, rotten_tomatoes_scores, tvtropes_tropes
from goodwatch_assets.assets.imdb import imdb_ratings
from goodwatch_assets.assets.tmdb import tmdb_daily_export, tmdb_details
from goodwatch_assets.errors import ParseError
from goodwatch_assets.ingest import ingest_export, ingest_imdb_ratings
from goodwatch_assets.models import ImdbRating, MetacriticScores, RottenTomatoesScores, TitleDetails, TitleDna, TropesPage
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.faults import FaultConfig, FaultInjector, RateLimit
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.resources import build_resources
from goodwatch_assets.stores.documents import RetryPolicy, Status
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.test_sources_end_to_end import (
    DAY,
    compare_with_truth,
    invoke_every_source,
    partition_of,
    point_sources_at,
)

pytestmark = pytest.mark.slow
MODELS = {"tmdb_details": TitleDetails, "imdb_ratings": ImdbRating, "metacritic": MetacriticScores,
          "rotten_tomatoes": RottenTomatoesScores, "tvtropes": TropesPage, "dna": TitleDna}
FAST_RETRIES = RetryPolicy(max_attempts=8, base_delay=timedelta(0))
LEASE = timedelta(seconds=2)
PARTITIONS = ("movie|05", "tv|05")
PER_TITLE_ASSETS = (tmdb_details, metacritic_scores, rotten_tomatoes_scores, tvtropes_tropes)
RESULTS: dict[str, tuple[int, int, int, int]] = {}
"""case -> (faults injected, titles lost, duplicates, invalid records stored)."""


def fast_queues(**changes) -> dict[str, lane1.QueueSettings]:
    """Every source's queue settings with retries at once and short leases (and ``changes``)."""
    return {source: replace(settings, retry=FAST_RETRIES, lease=LEASE, **changes)
            for source, settings in lane1.QUEUES.items()}


@pytest.fixture(autouse=True)
def retry_at_once(monkeypatch):
    monkeypatch.setattr(lane1, "QUEUES", fast_queues())


def invalid_records(db, sources=tuple(MODELS)) -> int:
    """Stored records (status ok) that fail their canonical model."""
    store, bad = PostgresDocumentStore(db), 0
    for source in sources:
        model = MODELS[source]
        with db.connect() as conn:
            rows = conn.execute("SELECT record FROM raw.documents WHERE source = %s AND status = 'ok'", (source,)).fetchall()
        for (record,) in rows:
            try:
                model(**record)
            except Exception:  # noqa: BLE001 - any failure is an invalid record
                bad += 1
    store.close()
    return bad


def duplicates(db) -> int:
    with db.connect() as conn:
        return conn.execute("""SELECT (SELECT count(*) - count(DISTINCT (source, media, tmdb_id)) FROM raw.documents)
                                    + (SELECT count(*) - count(DISTINCT tmdb_id) FROM movies)
                                    + (SELECT count(*) - count(DISTINCT (media, tmdb_id, country_code, provider_id,
                                                                         stream_type)) FROM streaming_links)""").fetchone()[0]


def record(case: str, injected: int, lost: int, db, sources=tuple(MODELS), duplicated: int = 0, wrong: int = 0) -> None:
    """Keep a case's numbers for the table, and assert them. ``duplicated``: duplicates seen outside the stores;
    ``wrong``: stored values that differ from the truth (counted as invalid)."""
    RESULTS[case] = (injected, lost, duplicates(db) + duplicated, invalid_records(db, sources) + wrong)
    assert injected > 0, f"{case}: the fault was never injected"
    assert RESULTS[case][1:] == (0, 0, 0), f"{case}: lost, duplicated, invalid = {RESULTS[case][1:]}"


# -- the per-title sources under faults ------------------------------------------------------------------------------

def run_assets(resources, assets, partitions=PARTITIONS) -> None:
    for asset in assets:
        for key in partitions:
            with dg.build_asset_context(partition_key=key, resources=resources) as context:
                asset(context, config=lane1.Lane1Config())


def run_daily(resources, asset) -> None:
    with dg.build_asset_context(partition_key=DAY.isoformat(), resources=resources) as context:
        asset(context)


def settle_under(monkeypatch, db, catalog: SyntheticCatalog, faults: FaultConfig, *, rounds: int, pause_s: float = 0.0,
                 rps: dict[str, str] | None = None):
    """Run the per-title sources over ``PARTITIONS`` against a replica serving ``faults``, round after round, until
    every title there is settled. The day's files (the export before, IMDb's ratings after each round) are served
    without faults: their own faults are the truncation case.

    Returns (the round that settled everything or None, faults served by kind, unsettled titles, wrong values).
    """
    store = PostgresDocumentStore(db)
    settled_at, injector, no_faults = None, FaultInjector(faults), FaultInjector(FaultConfig())
    with ReplicaServer(Replica(catalog)) as server:
        point_sources_at(monkeypatch, server.url, rps)
        resources = build_resources()
        run_daily(resources, tmdb_daily_export)
        for round_number in range(1, rounds + 1):
            server.replica.faults = injector
            run_assets(resources, PER_TITLE_ASSETS)
            server.replica.faults = no_faults
            run_daily(resources, imdb_ratings)
            _, wrong, unsettled, _ = compare_with_truth(store, catalog, DAY, PARTITIONS)
            if not unsettled:
                settled_at = round_number
                break
            time.sleep(pause_s)
        served = Counter(r.fault for r in server.replica.requests() if r.fault)
    store.close()
    print(f"\nsettled after {settled_at} rounds; faults served {dict(served)}; unsettled {unsettled[:5]}; "
          f"wrong {wrong[:5]}")
    return settled_at, served, unsettled, wrong


def test_a_rate_limit_storm(clean_serving_db, monkeypatch):
    """Every site allows 8 requests a second and its client's policy says 100: each run stops at its first rate-limit
    answer (429, or 403 on the guessed sites), records the cool-down (Retry-After: 1 s) that the other runs respect,
    and halves the site's pace, until runs fit under the limit and finish whole titles."""
    sites = ("tmdb_api", "metacritic", "rottentomatoes", "tvtropes")
    settled_at, served, unsettled, wrong = settle_under(
        monkeypatch, clean_serving_db, SyntheticCatalog(400, seed=21),
        FaultConfig(seed=11, rate_limits={site: RateLimit(8, 1) for site in sites}, retry_after_s=1),
        rounds=30, pause_s=1.1, rps=dict.fromkeys(sites, "100"))
    assert settled_at is not None and settled_at > 1  # it took several rounds of cool-downs
    record("rate-limit storm: every site allows 8 requests/s, its policy says 100/s", served["rate_limited"],
           len(unsettled), clean_serving_db, wrong=len(wrong))


def test_5xx_bursts(clean_serving_db, monkeypatch):
    """Of every 24 requests to a site, 8 in a row are answered 500/502/503: requests retried in the client, titles
    whose tries all fell in a burst backed off in the queue."""
    settled_at, served, unsettled, wrong = settle_under(
        monkeypatch, clean_serving_db, SyntheticCatalog(400, seed=22),
        FaultConfig(seed=12, burst_length=8, burst_every=24), rounds=10)
    assert settled_at is not None
    record("5xx bursts: 8 of every 24 requests to each site", served["error"], len(unsettled), clean_serving_db,
           wrong=len(wrong))


def test_malformed_pages(clean_serving_db, monkeypatch):
    """30% of TMDB answers and pages come broken (cut short, bad JSON, an unreadable score, a missing article): each
    is rejected by its parser with its body kept, and fetched again."""
    settled_at, served, unsettled, wrong = settle_under(
        monkeypatch, clean_serving_db, SyntheticCatalog(400, seed=23), FaultConfig(seed=13, malformed_rate=0.3),
        rounds=10)
    assert settled_at is not None
    record("malformed pages: 30% of answers", served["malformed"], len(unsettled), clean_serving_db, wrong=len(wrong))


def test_a_truncated_gzip_export_and_a_truncated_tsv_change_nothing(clean_serving_db):
    store = PostgresDocumentStore(clean_serving_db)
    export = gzip.compress(b"\n".join(b'{"id": %d, "original_title": "T%d", "popularity": 1.5}' % (i, i)
                                      for i in range(1, 3001)) + b"\n")
    ingest_export(store, "movie", export)
    before = store.count_by_status("tmdb_details")
    injected = 0
    for cut in (0.2, 0.5, 0.9, 0.999):
        with pytest.raises(ParseError):
            ingest_export(store, "movie", export[: int(len(export) * cut)])
        injected += 1
    ratings = gzip.compress(b"tconst\taverageRating\tnumVotes\n" + b"".join(
        b"tt%07d\t%.1f\t%d\n" % (i, 1 + i % 9, i * 7) for i in range(1, 5001)))
    for cut in (0.3, 0.7, 0.99):
        with pytest.raises(ParseError):
            ingest_imdb_ratings(store, ratings[: int(len(ratings) * cut)])
        injected += 1
    after = store.count_by_status("tmdb_details")
    store.close()
    lost = sum(before.values()) - after.get("pending", 0)
    RESULTS["truncated gzip export / truncated TSV"] = (injected, lost, duplicates(clean_serving_db),
                                                        invalid_records(clean_serving_db))
    assert after == before and RESULTS["truncated gzip export / truncated TSV"][1:] == (0, 0, 0)


def test_garbage_llm_answers(clean_serving_db, monkeypatch):
    from goodwatch_assets_tests.test_dna import run_with_faults

    with clean_serving_db.connect() as conn:
        conn.execute("TRUNCATE llm_budget")
    catalog = SyntheticCatalog(400, seed=5)
    store, entries, budget, report = run_with_faults(clean_serving_db, catalog, 15, FaultConfig(seed=9, malformed_rate=0.5))
    keys = [(e.media, e.tmdb_id) for e in entries]
    stored = store.get_many("dna", keys)
    # Every title ends described or quarantined with the answer kept: none left half done.
    lost = sum(1 for k in keys if stored[k].status not in (Status.OK, Status.QUARANTINED, Status.FAILED))
    quarantined_without_body = sum(1 for k in keys if stored[k].status is Status.QUARANTINED
                                   and stored[k].quarantine_body is None)
    # (the titles' details were seeded in a short form for this case: only the DNA records are checked)
    record("garbage LLM answers (50% of answers broken)", budget.taken, lost + quarantined_without_body,
           clean_serving_db, sources=("dna",))
    store.close()


_CHILD = """
import sys
from goodwatch_assets_tests.test_fault_suite import run_details_in_child
run_details_in_child(*sys.argv[1:])
"""


def run_details_in_child(replica_url: str, data_dir: str, partitions: str) -> None:
    """TMDB details of these partitions (comma-separated), as the asset runs them, in a process of its own: one of
    two backfills at once."""
    from goodwatch_assets.assets.tmdb import tmdb_details
    from goodwatch_assets.resources import build_resources

    os.environ["GOODWATCH_REPLICA_URL"] = replica_url
    os.environ["GOODWATCH_DATA_DIR"] = data_dir
    resources = build_resources()
    for key in partitions.split(","):
        with dg.build_asset_context(partition_key=key, resources=resources) as context:
            tmdb_details(context, config=lane1.Lane1Config())


def test_two_concurrent_backfills_over_the_same_partitions(clean_serving_db, monkeypatch, embedded_data_dir):
    catalog = SyntheticCatalog(200, seed=83)
    partitions = ["movie|00", "movie|01", "movie|02", "tv|00", "tv|01"]
    with ReplicaServer(Replica(catalog, FaultConfig(latency_ms=30))) as server:
        invoke_every_source(monkeypatch, server.url, {})  # the export; every title fetched once
        with clean_serving_db.connect() as conn:  # every title due again: both backfills want all of them
            conn.execute("UPDATE raw.documents SET fetched_at = fetched_at - interval '30 days' "
                         "WHERE source = 'tmdb_details'")
        before = len(server.replica.requests())
        backfills = [subprocess.Popen([str(Path(os.sys.executable)), "-c", _CHILD, server.url, str(embedded_data_dir),
                                       ",".join(partitions)], stdout=subprocess.PIPE, cwd=Path(__file__).resolve().parents[1],
                                      env=dict(os.environ)) for _ in range(2)]
        assert all(b.wait(timeout=300) == 0 for b in backfills)
        fetched = Counter(r.path for r in server.replica.requests()[before:] if "/3/" in r.path and r.status == 200)
    store = PostgresDocumentStore(clean_serving_db)
    expected = [(e.media, e.tmdb_id) for e in catalog.entries
                if e.in_export(DAY) and partition_of(e) in partitions]
    stored = store.get_many("tmdb_details", expected)
    store.close()
    lost = sum(1 for k in expected if k not in stored or stored[k].status not in (Status.OK, Status.NOT_FOUND))
    fetched_twice = sum(1 for n in fetched.values() if n > 1)  # the two backfills never took the same title
    assert sum(fetched.values()) == len(expected)  # each title refreshed exactly once, by one of the two
    record("two concurrent backfills over the same partitions", 2, lost, clean_serving_db, duplicated=fetched_twice)


def test_fault_table():
    """The README's table (run after the cases above, in this module's order)."""
    lines = ["| fault | injected | items lost | duplicates | invalid rows stored |", "|---|---|---|---|---|"]
    lines += [f"| {case} | {injected} | {lost} | {dup} | {invalid} |" for case, (injected, lost, dup, invalid)
              in RESULTS.items()]
    print("\n" + "\n".join(lines))
    assert all(values[1:] == (0, 0, 0) for values in RESULTS.values())
