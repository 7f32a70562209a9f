"""Finding the right page, against the replica: Wikidata answers that must not be used, the steady state and its
negative cache, blocks that mark nothing refreshed, and TMDB's changes feed."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from goodwatch_assets.defs.sources.assets import PER_TITLE_ASSETS, tmdb_changes, tmdb_daily_export
from goodwatch_assets.defs.sources.page_candidates import wikidata_ids
from goodwatch_assets.fetching.client import RateLimited
from goodwatch_assets.models.queue import Status
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.faults import FaultConfig, FaultInjector, RateLimit
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.replica.tmdb import changes
from goodwatch_assets.sources import rotten_tomatoes, tmdb, wikidata
from goodwatch_assets.sources.registry import PER_TITLE_SOURCES
from goodwatch_assets.sources.wikidata import WikidataAnswerError
from goodwatch_assets.stores.cooldowns import PostgresCooldowns
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.helpers import (
    DAY,
    compare_with_truth,
    invoke_every_source,
    move_clock_back,
    replica_resources,
    run_catalog_assets,
    run_daily,
)

PARTITION = "movie|03"
PAGE_SOURCES = [spec.name for spec in PER_TITLE_SOURCES if spec.finding]


def run_wikidata(resources, partition: str = PARTITION) -> dict:
    with dg.build_asset_context(partition_key=partition, resources=resources) as context:
        return wikidata_ids(context).metadata


def with_details(resources) -> None:
    """The day's export and the partition's details: the titles Wikidata is asked about, queued for the pages."""
    run_daily(resources, tmdb_daily_export)
    run_catalog_assets(resources, [PER_TITLE_ASSETS[tmdb.SPEC.name]], [PARTITION])


@pytest.mark.parametrize(("faults", "problem"), [
    (FaultConfig(sparql_timeout_rate=1.0), "not whole JSON.*TimeoutException"),
    (FaultConfig(malformed_rate=1.0), "not whole JSON"),
])
def test_a_wikidata_answer_that_is_not_whole_writes_nothing(clean_serving_db, faults, problem):
    catalog = SyntheticCatalog(3000, seed=41)
    store = PostgresDocumentStore(clean_serving_db)
    with ReplicaServer(Replica(catalog)) as server:
        resources = replica_resources(server.url)
        with_details(resources)
        hints_before = store.queued("rotten_tomatoes", media="movie", shard=3)
        server.replica.faults = FaultInjector(faults)
        with pytest.raises(WikidataAnswerError, match=problem):
            run_wikidata(resources)
    assert store.count_by_status(wikidata.SPEC.name) == {}
    assert store.queued("rotten_tomatoes", media="movie", shard=3).equals(hints_before)
    store.close()


def test_a_short_wikidata_answer_keeps_last_weeks_ids_and_a_429_stops_the_run(clean_serving_db):
    catalog = SyntheticCatalog(3000, seed=41)
    store = PostgresDocumentStore(clean_serving_db)
    with ReplicaServer(Replica(catalog)) as server:
        resources = replica_resources(server.url)
        with_details(resources)
        first = run_wikidata(resources)
        assert first["with_item"] > 40 and first["rotten_tomatoes/ids"] > 20
        stored = store.count_by_status(wikidata.SPEC.name)
        queued = store.queued("rotten_tomatoes", media="movie", shard=3)

        server.replica.faults = FaultInjector(FaultConfig(sparql_short_rate=1.0))
        with pytest.raises(WikidataAnswerError, match="short answer"):
            run_wikidata(resources)
        server.replica.faults = FaultInjector(FaultConfig(rate_limits={"wikidata": RateLimit(0, 60)}))
        with pytest.raises(RateLimited):
            run_wikidata(resources)
        assert PostgresCooldowns(clean_serving_db).active_until(wikidata.SITE.name) > datetime.now(UTC)
    assert store.count_by_status(wikidata.SPEC.name) == stored
    assert store.queued("rotten_tomatoes", media="movie", shard=3).equals(queued)
    store.close()


def test_the_steady_state_asks_only_whats_due_and_never_a_title_in_the_negative_cache(clean_serving_db):
    catalog = SyntheticCatalog(600, seed=43)
    store = PostgresDocumentStore(clean_serving_db)
    with ReplicaServer(Replica(catalog)) as server:
        resources = replica_resources(server.url)
        invoke_every_source(resources)
        compared, wrong, unexplained, explained = compare_with_truth(store, catalog, DAY)
        assert unexplained == [] and len(wrong) <= 2, wrong
        keys = [(e.media, e.tmdb_id) for e in catalog.entries]
        first = {source: store.get_many(source, keys) for source in PAGE_SOURCES}
        negative = {source: [k for k, d in docs.items() if d.status in (Status.NOT_FOUND, Status.DUPLICATE)]
                    for source, docs in first.items()}
        assert all(negative.values())

        move_clock_back(clean_serving_db, 30)
        before = len(server.replica.requests())
        run_catalog_assets(resources, [PER_TITLE_ASSETS[source] for source in PAGE_SOURCES])
        steady = server.replica.requests()[before:]
    for source in PAGE_SOURCES:
        after = store.get_many(source, keys)
        asked_again = [k for k in negative[source] if after[k].fetched_at != first[source][k].fetched_at - timedelta(days=30)]
        assert asked_again == [], source  # 90 days of negative cache
        refreshed = [k for k, d in after.items() if d.fetched_at != first[source][k].fetched_at - timedelta(days=30)]
        assert all(after[k].status is Status.OK for k in refreshed)  # only pages, by their title's age
    assert len(steady) < 0.15 * len(catalog.entries)
    store.close()


def test_a_block_marks_nothing_refreshed_and_the_site_waits_a_day(clean_serving_db):
    catalog = SyntheticCatalog(300, seed=47)
    store = PostgresDocumentStore(clean_serving_db)
    rotten = PER_TITLE_ASSETS[rotten_tomatoes.SPEC.name]
    with ReplicaServer(Replica(catalog)) as server:
        resources = replica_resources(server.url)
        invoke_every_source(resources)
        keys = [(e.media, e.tmdb_id) for e in catalog.entries]
        pages = {k: d for k, d in store.get_many("rotten_tomatoes", keys).items() if d.status is Status.OK}
        assert store.make_due("rotten_tomatoes", list(pages)) == len(pages)

        for kind in ("challenge", "empty-202", "challenge-page", "no-data"):
            server.replica.faults = FaultInjector(FaultConfig(block_rate=1.0, block_kind=kind))
            run_catalog_assets(resources, [rotten])
            after = store.get_many("rotten_tomatoes", list(pages))
            assert all(after[k].fetched_at == d.fetched_at and after[k].status is Status.OK
                       and after[k].payload == d.payload for k, d in pages.items()), kind  # never "no score"
            cooldowns = PostgresCooldowns(clean_serving_db)
            until = cooldowns.active_until(rotten_tomatoes.SITE.name)
            assert timedelta(hours=23) < until - datetime.now(UTC) <= timedelta(hours=24), kind
            (_, _, reason), *_ = reversed(cooldowns.blocks(rotten_tomatoes.SITE.name))
            assert ("pages in a row" in reason) == (kind == "no-data"), reason
            with clean_serving_db.connect() as conn:
                conn.execute("UPDATE source_cooldowns SET until = now()")  # the day passes
        served = {r.fault for r in server.replica.requests("rotten_tomatoes") if r.fault}
        assert served == {"blocked"}

        server.replica.faults = FaultInjector(FaultConfig())
        run_catalog_assets(resources, [rotten])
    after = store.get_many("rotten_tomatoes", list(pages))
    assert all(after[k].fetched_at > d.fetched_at for k, d in pages.items())  # fetched once the site answers again
    store.close()


def test_the_changes_feed_makes_exactly_the_listed_titles_due(clean_serving_db):
    catalog = SyntheticCatalog(2000, seed=53)
    store = PostgresDocumentStore(clean_serving_db)
    details = PER_TITLE_ASSETS[tmdb.SPEC.name]
    with ReplicaServer(Replica(catalog)) as server:
        resources = replica_resources(server.url)
        run_daily(resources, tmdb_daily_export)
        run_catalog_assets(resources, [details])
        listed = {("movie", i["id"]) for i in changes(catalog, "movie", DAY, 1)["results"]} | {
            ("tv", i["id"]) for i in changes(catalog, "tv", DAY, 1)["results"]}
        fetched = {k: d.fetched_at for k, d in store.get_many(tmdb.SPEC.name, listed).items() if d.fetched_at}
        assert len(fetched) > 10
        with dg.build_asset_context(partition_key=DAY.isoformat(), resources=resources) as context:
            result = tmdb_changes(context)
        assert result.metadata["made_due"] == len(fetched)
        run_catalog_assets(resources, [details])
    refreshed = {k for k, d in store.get_many(tmdb.SPEC.name, [(e.media, e.tmdb_id) for e in catalog.entries]).items()
                 if d.fetched_at and k in fetched and d.fetched_at > fetched[k]}
    assert refreshed == set(fetched)
    again = store.get_many(tmdb.SPEC.name, [(e.media, e.tmdb_id) for e in catalog.entries])
    others = [d for k, d in again.items() if k not in listed and d.status is Status.OK]
    assert others and all(d.fetched_at < min(again[k].fetched_at for k in fetched) for d in others)
    store.close()
