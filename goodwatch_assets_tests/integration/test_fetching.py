"""The fetch layer and the work loop of per-title sources against the replica and the embedded stores."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import pytest

from goodwatch_assets.fetching.client import SourceClient
from goodwatch_assets.lib.title_fetching import fetch_titles
from goodwatch_assets.models.queue import FetchedDocument, QueueEntry, RetryPolicy, Status
from goodwatch_assets.models.shards import shard_of
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.faults import FaultConfig, RateLimit
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.sources import tmdb
from goodwatch_assets.sources.spec import QueueSettings
from goodwatch_assets.stores.cooldowns import PostgresCooldowns
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.helpers import PROJECT, fetch_tmdb_details

SOURCE = tmdb.SPEC.name
SHARD = 3
SETTINGS = QueueSettings(refresh_age=timedelta(days=7), lease=timedelta(minutes=5), batch_size=10,
                         retry=RetryPolicy(max_attempts=3, base_delay=timedelta(hours=1)))


@pytest.fixture(scope="module")
def catalog() -> SyntheticCatalog:
    return SyntheticCatalog(2000, seed=21)


@pytest.fixture
def store(clean_serving_db):
    with clean_serving_db.connect() as conn:
        conn.execute("TRUNCATE source_cooldowns")
    store = PostgresDocumentStore(clean_serving_db)
    yield store
    store.close()


def shard_movies(catalog, count: int):
    return [e for e in catalog.entries if e.media == "movie" and shard_of(e.tmdb_id) == SHARD][:count]


def enqueue(store, entries) -> None:
    store.enqueue(SOURCE, [QueueEntry("movie", e.tmdb_id, e.popularity) for e in entries])


def policy_for(server: ReplicaServer, **changes):
    base = replace(tmdb.API, base_url=server.base_urls()[tmdb.API.name], requests_per_second=500,
                   concurrency=4, backoff_base_s=0.01)
    return replace(base, **changes)


def run(store, policy, cooldowns=None, settings=SETTINGS, **kw):
    async def go():
        async with SourceClient(policy, cooldowns) as client:
            report = await fetch_titles(store, client, SOURCE, settings, media="movie", shard=SHARD,
                                        handle=fetch_tmdb_details, **kw)
            return report, client
    return asyncio.run(go())


def test_a_clean_run_stores_every_due_title(catalog, store):
    entries = shard_movies(catalog, 40)
    enqueue(store, entries)
    with ReplicaServer(Replica(catalog)) as server:
        report, client = run(store, policy_for(server))
    assert (report.fetched, report.failed, report.quarantined, report.rate_limited) == (40, 0, 0, False)
    stored = store.get_many(SOURCE, [("movie", e.tmdb_id) for e in entries])
    assert all(d.status is Status.OK and d.payload["id"] == d.tmdb_id for d in stored.values())
    metadata = report.as_metadata(client)
    assert metadata["requests"] == 40 and metadata["statuses"] == {"200": 40} and metadata["changed"] == 40


def test_a_run_reports_its_progress_after_every_batch(catalog, store):
    enqueue(store, shard_movies(catalog, 25))
    lines = []

    async def go(client):
        async with client:
            return await fetch_titles(store, client, SOURCE, SETTINGS, media="movie", shard=SHARD, max_items=30,
                                      handle=fetch_tmdb_details, on_batch=lambda report, taken: lines.append(
                                          (taken, report.fetched, report.progress_line(taken, 30, client))))

    with ReplicaServer(Replica(catalog)) as server:
        report = asyncio.run(go(SourceClient(policy_for(server))))
    assert [(taken, fetched) for taken, fetched, _ in lines] == [(10, 10), (20, 20), (25, 25)]  # batches of 10
    assert lines[-1][2].startswith("25 titles tried of 25 taken (budget 30): 25 stored (25 changed, 0 not found), "
                                   "0 failed, 0 quarantined, 0 released untried; 25 requests at ")
    assert report.fetched == 25


def test_a_rate_limit_stops_the_run_keeps_its_progress_and_nothing_is_sent_after_the_cooldown(catalog, store):
    entries = shard_movies(catalog, 60)
    enqueue(store, entries)
    cooldowns = PostgresCooldowns(store._db)
    faults = FaultConfig(rate_limits={"tmdb_api": RateLimit(25, 600)})
    with ReplicaServer(Replica(catalog, faults)) as server:
        report, client = run(store, policy_for(server), cooldowns)
        log = server.replica.requests("tmdb_api")
        recorded_at = cooldowns.recorded_at("tmdb_api")

        assert report.rate_limited and client.stats.statuses[429] >= 1
        assert 21 <= report.fetched <= 25  # what came back before the 429 is stored (at most 4 were in flight)
        counts = store.count_by_status(SOURCE)
        assert counts == {"ok": report.fetched, "pending": 60 - report.fetched}
        pending = store.get_many(SOURCE, [("movie", e.tmdb_id) for e in entries])
        assert all(d.attempts == 0 and d.reserved_until is None for d in pending.values())  # released, no penalty
        until = cooldowns.active_until("tmdb_api")
        assert timedelta(seconds=50) < until - datetime.now(UTC) <= timedelta(seconds=60)  # from Retry-After
        assert max(r.wall for r in log) <= recorded_at.timestamp()  # nothing went out after the cool-down
        first_429 = min(r.at for r in log if r.status == 429)
        assert sum(r.at > first_429 for r in log) <= 3  # only what was already in flight (concurrency 4)
        assert sum(r.status == 429 for r in log) <= 4  # no retries against a rate limit

        # Another run while the cool-down lasts sends nothing at all.
        second, second_client = run(store, policy_for(server), cooldowns)
        assert second.rate_limited and second_client.stats.requests == 0
        assert len(server.replica.requests("tmdb_api")) == len(log)


def test_rate_limits_halve_the_pace_of_later_runs_and_clean_runs_give_it_back(catalog, store):
    """A site allowing 10 requests a second, a policy of 500: each run stops at a rate limit and slows the next, until
    runs fit under the limit and finish whole; clean runs then speed up again, a quarter at a time."""
    entries = shard_movies(catalog, 40)
    enqueue(store, entries)
    cooldowns = PostgresCooldowns(store._db)
    paces, limited = [], []
    with ReplicaServer(Replica(catalog, FaultConfig(rate_limits={"tmdb_api": RateLimit(10, 1)},
                                                    retry_after_s=1))) as server:
        for _ in range(12):
            if store.count_by_status(SOURCE) == {"ok": 40}:
                break
            report, client = run(store, policy_for(server), cooldowns)
            paces.append(client.pace)
            limited.append(report.rate_limited)
            if report.rate_limited:
                time.sleep(1.05)  # the cool-down (Retry-After: 1)
        assert store.count_by_status(SOURCE) == {"ok": 40}
        assert paces[:3] == [1.0, 0.5, 0.25] and limited[:2] == [True, True]  # halved at each rate limit
        assert all(after == before * (0.5 if stopped else 1.25) for before, after, stopped
                   in zip(paces, paces[1:], limited, strict=False))
        assert report.as_metadata(client)["pace"] == round(paces[-1], 4)
        slowest = cooldowns.pace("tmdb_api")
        enqueue(store, shard_movies(catalog, 41)[40:])
        time.sleep(1.05)  # the site's window of the last run is over
        report, _ = run(store, policy_for(server), cooldowns)  # a run without a rate limit
    assert report.fetched == 1 and not report.rate_limited
    assert cooldowns.pace("tmdb_api") == pytest.approx(min(1.0, slowest * 1.25))


def test_5xx_items_are_retried_three_times_then_backed_off(catalog, store):
    entries = shard_movies(catalog, 5)
    enqueue(store, entries)
    with ReplicaServer(Replica(catalog, FaultConfig(error_rate=1.0))) as server:
        report, client = run(store, policy_for(server))
        per_path = {}
        for record in server.replica.requests("tmdb_api"):
            per_path[record.path] = per_path.get(record.path, 0) + 1
    assert report.failed == 5 and report.fetched == 0
    assert sorted(per_path.values()) == [3] * 5 and client.stats.retries == 10
    stored = store.get_many(SOURCE, [("movie", e.tmdb_id) for e in entries])
    now = datetime.now(UTC)
    for document in stored.values():
        assert document.status is Status.FAILED and document.attempts == 1
        assert timedelta(minutes=29) < document.next_attempt_at - now < timedelta(minutes=91)
        assert "failed 3 times, last: HTTP 50" in document.error
    with ReplicaServer(Replica(catalog)) as server:
        again, _ = run(store, policy_for(server))
    assert again.fetched == 0  # backing off: not due yet


def test_a_malformed_answer_ends_in_quarantine_with_its_body(catalog, store):
    entries = shard_movies(catalog, 6)
    enqueue(store, entries)
    retry_at_once = replace(SETTINGS, retry=RetryPolicy(max_attempts=3, base_delay=timedelta(0)))
    with ReplicaServer(Replica(catalog, FaultConfig(malformed_rate=1.0))) as server:
        report, _ = run(store, policy_for(server), settings=retry_at_once)
    # Tried again first (a broken page can be a passing fault): 3 attempts each, then quarantined.
    assert (report.rejected, report.failed, report.quarantined, report.fetched) == (18, 12, 6, 0)
    for document in store.get_many(SOURCE, [("movie", e.tmdb_id) for e in entries]).values():
        assert document.status is Status.QUARANTINED and document.payload is None
        assert document.error in ("the answer is not JSON", "the answer is not this title's details")
        assert document.quarantine_body.startswith(b'{"adult":')  # the body as served, for replay
        if document.error.endswith("JSON"):
            with pytest.raises(orjson.JSONDecodeError):
                orjson.loads(document.quarantine_body)


_KILLABLE_RUN = textwrap.dedent("""
    import asyncio, sys
    from dataclasses import replace
    from datetime import timedelta
    from goodwatch_assets.fetching.client import SourceClient
    from goodwatch_assets.lib.title_fetching import fetch_titles
    from goodwatch_assets.sources import tmdb
    from goodwatch_assets.sources.spec import QueueSettings
    from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
    from goodwatch_assets.stores.serving_db import ServingDb
    from goodwatch_assets_tests.helpers import PROJECT, fetch_tmdb_details

    url, base = sys.argv[1], sys.argv[2]
    store = PostgresDocumentStore(ServingDb(url=url))
    policy = replace(tmdb.API, base_url=base, requests_per_second=100, concurrency=2)
    settings = QueueSettings(refresh_age=timedelta(days=7), lease=timedelta(seconds=3), batch_size=20)

    async def main():
        async with SourceClient(policy) as client:
            print("started", flush=True)
            await fetch_titles(store, client, tmdb.SPEC.name, settings, media="movie", shard=3,
                               handle=fetch_tmdb_details)

    asyncio.run(main())
""")


def test_a_killed_runs_reservations_expire_and_are_taken_again(catalog, store):
    entries = shard_movies(catalog, 20)
    enqueue(store, entries)
    keys = [("movie", e.tmdb_id) for e in entries]
    with ReplicaServer(Replica(catalog, FaultConfig(latency_ms=400))) as server:
        child = subprocess.Popen(
            [sys.executable, "-c", _KILLABLE_RUN, store._db.url, server.base_urls()[tmdb.API.name]],
            stdout=subprocess.PIPE, env={**os.environ}, cwd=PROJECT,
        )
        assert child.stdout.readline().strip() == b"started"
        deadline = time.monotonic() + 20
        while not any(d.reserved_until for d in store.get_many(SOURCE, keys).values()):
            assert time.monotonic() < deadline, "the child never reserved anything"
            time.sleep(0.05)
        time.sleep(0.5)  # mid-batch: some requests answered, none stored yet
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)

        leased = [d for d in store.get_many(SOURCE, keys).values() if d.reserved_until]
        assert len(leased) == 20 and all(d.status is Status.PENDING for d in leased)
        report, _ = run(store, policy_for(server, concurrency=8))
        assert report.fetched == 0  # still leased to the dead run

        time.sleep(3.2)  # the lease (3 s) runs out
        report, _ = run(store, policy_for(server, concurrency=8))
    assert report.fetched == 20
    assert store.count_by_status(SOURCE) == {"ok": 20}


def test_redirects_outside_the_source_are_refused(catalog, store):
    entries = shard_movies(catalog, 2)
    enqueue(store, entries)

    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(302, headers={"location": "http://collector.invalid/steal"})

    policy = replace(tmdb.API, base_url="http://127.0.0.1:9", requests_per_second=100)

    async def go():
        async with SourceClient(policy, transport=httpx.MockTransport(upstream)) as client:
            return await fetch_titles(store, client, SOURCE, SETTINGS, media="movie", shard=SHARD,
                                      handle=fetch_tmdb_details)

    report = asyncio.run(go())
    assert report.rejected == 2 and report.fetched == 0
    document = store.get_many(SOURCE, [("movie", entries[0].tmdb_id)])[("movie", entries[0].tmdb_id)]
    assert document.status is Status.FAILED and document.attempts == 1
    assert "collector.invalid" in document.error and "outside ['127.0.0.1']" in document.error


def test_lane_two_fetches_each_asked_title_once_even_when_some_cannot_be_taken(store):
    a, b, held = [i for i in range(1, 2000) if shard_of(i) == SHARD][:3]
    store.enqueue(SOURCE, [QueueEntry("movie", a), QueueEntry("movie", held)])  # b is not queued for this source
    store.reserve(SOURCE, media="movie", shard=SHARD, limit=1, refresh_age=timedelta(0), lease=timedelta(hours=1),
                  only=[held])  # another run holds this one
    fetched = []

    async def handle(client, reservation):
        fetched.append(reservation.tmdb_id)
        return FetchedDocument("movie", reservation.tmdb_id, {"v": 1}, {"v": 1})

    async def go():
        async with SourceClient(replace(tmdb.API, base_url="http://127.0.0.1:9")) as client:
            return await fetch_titles(store, client, SOURCE, QueueSettings(refresh_age=timedelta(days=7), batch_size=1),
                                      media="movie", shard=SHARD, handle=handle, only=[a, b, held])

    report = asyncio.run(go())
    assert fetched == [a] and report.fetched == 1
