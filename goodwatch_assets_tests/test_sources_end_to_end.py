"""Every source asset, every partition, against the replica; stored values compared with its ground truth."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta

import dagster as dg
import pytest

from goodwatch_assets.assets.checks import source_checks
from goodwatch_assets.assets.guessed import metacritic_scores, rotten_tomatoes_scores, tvtropes_tropes
from goodwatch_assets.assets.imdb import imdb_ratings
from goodwatch_assets.assets.tmdb import tmdb_daily_export, tmdb_details
from goodwatch_assets.fetching.policy import LIVE_POLICIES
from goodwatch_assets.models import MetacriticScores, RottenTomatoesScores, TitleDetails, TropesPage
from goodwatch_assets.partitions import CatalogPartition
from goodwatch_assets.pipeline import run_pipeline
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.faults import FaultConfig, RateLimit
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.replica.truth import title_truth
from goodwatch_assets.resources import build_resources
from goodwatch_assets.shards import shard_of
from goodwatch_assets.stores.documents import Status
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore

SOURCE_ASSETS = {"tmdb_details": tmdb_details, "imdb_ratings": imdb_ratings, "metacritic": metacritic_scores,
                 "rotten_tomatoes": rotten_tomatoes_scores, "tvtropes": tvtropes_tropes}
EXPLAINED = ("no page upstream", "guessed pages did not match")
DAY = (datetime.now(UTC) - timedelta(days=1)).date()


def point_sources_at(monkeypatch, replica_url: str, rps: dict[str, str] | None = None) -> None:
    """Every source at the replica, paced at 1000 requests/s unless ``rps`` says otherwise."""
    monkeypatch.setenv("GOODWATCH_REPLICA_URL", replica_url)
    for source in LIVE_POLICIES:
        monkeypatch.setenv(f"GOODWATCH_{source.upper()}_RPS", (rps or {}).get(source, "1000"))


def run_every_source(monkeypatch, replica_url: str) -> None:
    point_sources_at(monkeypatch, replica_url)
    defs = dg.Definitions(
        assets=[tmdb_daily_export, *SOURCE_ASSETS.values()],
        asset_checks=[c for source, asset in SOURCE_ASSETS.items() for c in source_checks(asset, source)],
        resources=build_resources(),
    )
    with dg.instance_for_test() as instance:
        results = run_pipeline(defs, instance, day=DAY.isoformat(), report=lambda _: None)
        assert all(r.success for r in results)
        assert len(results) == 1 + 32 + 1 + 32


def invoke_every_source(monkeypatch, replica_url: str, rps: dict[str, str]) -> None:
    """The same asset functions, invoked directly (no run records): for many repeated rounds."""
    from goodwatch_assets.assets.lane1 import Lane1Config
    from goodwatch_assets.partitions import catalog_partitions

    point_sources_at(monkeypatch, replica_url, rps)
    resources = build_resources()
    with dg.build_asset_context(partition_key=DAY.isoformat(), resources=resources) as context:
        tmdb_daily_export(context)
    for asset in (tmdb_details, None, metacritic_scores, rotten_tomatoes_scores, tvtropes_tropes):
        if asset is None:
            with dg.build_asset_context(partition_key=DAY.isoformat(), resources=resources) as context:
                imdb_ratings(context)
            continue
        for key in catalog_partitions.get_partition_keys():
            with dg.build_asset_context(partition_key=key, resources=resources) as context:
                asset(context, config=Lane1Config())


def partition_of(entry) -> str:
    """The catalog partition key of a replica title."""
    return CatalogPartition(entry.media, shard_of(entry.tmdb_id)).key


def compare_with_truth(store, catalog: SyntheticCatalog, day: date, partitions: Collection[str] | None = None):
    """(values compared, wrong values, unexplained misses, explained misses) over every source, for the titles of
    the day's export (of these catalog partitions only, when given)."""
    entries = [e for e in catalog.entries if e.in_export(day)
               and (partitions is None or partition_of(e) in partitions)]
    keys = [(e.media, e.tmdb_id) for e in entries]
    stored = {source: store.get_many(source, keys) for source in SOURCE_ASSETS}
    compared, wrong, explained, unexplained = Counter(), [], Counter(), []

    def check(source, key, field, expected, actual):
        compared[source] += 1
        if expected != actual:
            wrong.append((source, key, field, expected, actual))

    for entry, key in zip(entries, keys, strict=True):
        truth = title_truth(catalog, entry)
        details = stored["tmdb_details"].get(key)
        if details is None or details.status is not Status.OK:  # the other sources wait for the details
            unexplained.append(("tmdb_details", key, f"not settled: {details and details.status}"))
            continue
        record = TitleDetails(**details.record)
        for field in ("vote_average", "vote_count", "imdb_id", "runtime"):
            check("tmdb_details", key, field, truth["tmdb"][field], getattr(record, field))
        check("tmdb_details", key, "genres", truth["tmdb"]["genres"], list(record.genres))
        check("tmdb_details", key, "offers", truth["tmdb"]["offers"],
              sorted([o.country, o.type, o.provider_id] for o in record.offers))

        imdb = stored["imdb_ratings"].get(key)
        if truth["imdb"]:
            check("imdb_ratings", key, "rating", truth["imdb"]["rating"], imdb.payload and imdb.payload["rating"])
            check("imdb_ratings", key, "votes", truth["imdb"]["votes"], imdb.payload and imdb.payload["votes"])
        elif imdb is not None:
            check("imdb_ratings", key, "no rating", "not_found", str(imdb.status))

        for source, model, fields in (
            ("metacritic", MetacriticScores, ("metascore", "critic_count", "user_score", "user_count")),
            ("rotten_tomatoes", RottenTomatoesScores, ("tomatometer", "critic_count", "audience_score",
                                                       "audience_count")),
            ("tvtropes", TropesPage, ("tropes",)),
        ):
            document, expected = stored[source].get(key), truth[source]
            if document is None or str(document.status) not in ("ok", "not_found"):
                unexplained.append((source, key, f"not settled: {document and document.status}"))
                continue
            if expected is None:  # no page upstream: stored as not found, with that reason
                check(source, key, "no page", "not_found", str(document.status))
                continue
            if str(document.status) == "not_found":
                reason = document.record.get("not_found")
                if reason in EXPLAINED:
                    explained[f"{source}: {reason}"] += 1
                else:
                    unexplained.append((source, key, reason))
                continue
            page = model(**document.record)
            path = "/" + page.url.split("/", 4)[-1]  # http://127.0.0.1:port/<site prefix>/<path on the site>
            owner = catalog.page_owner(source, path)
            if path != expected["path"] and owner is not None and owner is not entry:
                # The guessed URL led to another title's page that passed verification: a same-title twin (same
                # name, year within one), which nothing on the page tells apart. Ambiguous, not a parse error.
                explained[f"{source}: a same-title twin's page"] += 1
                continue
            check(source, key, "path", expected["path"], path)
            for field in fields:
                actual = getattr(page, field)
                if field == "tropes":
                    actual, expected_value = sorted(actual), sorted(expected["tropes"])
                else:
                    expected_value = expected[field]
                    if field == "critic_count" and source == "metacritic" and expected["metascore"] is None:
                        expected_value = None  # no Metascore yet: Metacritic shows no critic count either
                    if field == "user_count" and expected["user_score"] is None:
                        expected_value = None
                    if field == "critic_count" and source == "rotten_tomatoes" and expected["tomatometer"] is None:
                        expected_value = expected["critic_count"]
                check(source, key, field, expected_value, actual)
    return compared, wrong, unexplained, explained


@pytest.mark.slow
def test_every_source_against_the_ground_truth_of_2000_titles(clean_serving_db, monkeypatch):
    catalog = SyntheticCatalog(2000, seed=5)
    with ReplicaServer(Replica(catalog)) as server:
        run_every_source(monkeypatch, server.url)
    store = PostgresDocumentStore(clean_serving_db)
    compared, wrong, unexplained, explained = compare_with_truth(store, catalog, DAY)
    total = sum(compared.values())
    misses = len(wrong) + len(unexplained) + sum(explained.values())
    print("\nwrong by field:", Counter((w[0], w[2]) for w in wrong).most_common(12))
    print(f"\nvalues compared {total}, wrong {len(wrong)}, explained misses {dict(explained)}, by source "
          f"{dict(compared)}; first wrong: {wrong[:5]}")
    assert total > 25_000
    assert (total - misses) / total >= 0.99  # at least 99 % of the values equal the truth
    assert unexplained == []  # every miss is explained (no page upstream, guessed page rejected)
    assert len(wrong) <= 0.005 * total  # wrong values: same-title same-year twins only
    assert store.count_by_status("tmdb_details").get("quarantined", 0) == 0
    store.close()


@pytest.mark.slow
def test_with_faults_repeated_runs_converge_and_store_nothing_invalid(clean_serving_db, monkeypatch):
    from goodwatch_assets.assets import lane1
    from goodwatch_assets.stores.documents import RetryPolicy

    # Retry without waiting, so that a few runs in a row show convergence.
    for source, settings in list(lane1.QUEUES.items()):
        monkeypatch.setitem(lane1.QUEUES, source, settings.__class__(
            **{**settings.__dict__, "retry": RetryPolicy(max_attempts=8, base_delay=timedelta(0))}))
    catalog = SyntheticCatalog(300, seed=6)
    # Metacritic's client runs above its limit (rate-limit answers, cool-downs, stopped runs);
    # Rotten Tomatoes' is paced under it.
    faults = FaultConfig(seed=3, error_rate=0.15, malformed_rate=0.1, retry_after_s=1,
                         rate_limits={"rotten_tomatoes": RateLimit(40, 1), "metacritic": RateLimit(60, 1)})
    rps = {"rotten_tomatoes": "30", "metacritic": "90"}
    store = PostgresDocumentStore(clean_serving_db)
    settled_at = None
    with ReplicaServer(Replica(catalog, faults)) as server:
        snapshots = []
        for round_number in range(1, 13):
            invoke_every_source(monkeypatch, server.url, rps)
            _, _, unsettled, _ = compare_with_truth(store, catalog, DAY)
            snapshots.append({s: store.count_by_status(s) for s in SOURCE_ASSETS})
            if not unsettled:
                settled_at = round_number
                break
            time.sleep(1.1)  # let a cool-down (Retry-After: 1) pass
        log = server.replica.requests()
    faults_seen = Counter(r.fault for r in log if r.fault)
    assert set(faults_seen) == {"error", "malformed", "rate_limited"}, faults_seen
    assert settled_at is not None, snapshots[-1]  # every title reached a final state
    compared, wrong, unexplained, explained = compare_with_truth(store, catalog, DAY)
    assert unexplained == [] and len(wrong) <= 0.005 * sum(compared.values())
    for source in SOURCE_ASSETS:  # nothing quarantined for good, nothing invalid stored
        assert store.count_by_status(source).get("quarantined", 0) == 0
    print(f"\nsettled after {settled_at} rounds; faults served {dict(faults_seen)}; values {sum(compared.values())},"
          f" wrong {len(wrong)}, explained misses {sum(explained.values())}")
    store.close()


def test_a_corrupt_or_truncated_export_fails_clearly_and_changes_nothing(clean_serving_db):
    import gzip

    from goodwatch_assets.errors import ParseError
    from goodwatch_assets.ingest import ingest_export

    store = PostgresDocumentStore(clean_serving_db)
    good = gzip.compress(b"\n".join(b'{"id": %d, "original_title": "T%d", "popularity": 1.0}' % (i, i)
                                    for i in range(1, 2001)) + b"\n")
    ingest_export(store, "movie", good)
    before = store.count_by_status("tmdb_details")

    truncated = good[: len(good) // 2]
    with pytest.raises(ParseError, match="truncated or corrupt"):
        ingest_export(store, "movie", truncated)
    broken_line = gzip.compress(gzip.decompress(good).replace(b'{"id": 1500,', b'{"id": 1500'))
    with pytest.raises(ParseError, match="line 1500 of the export is not JSON"):
        ingest_export(store, "movie", broken_line)
    # Nothing was written, and nothing was marked deleted for being "absent" from a partial file.
    assert store.count_by_status("tmdb_details") == before == {"pending": 2000}
    with pytest.raises(ParseError, match="no titles"):
        ingest_export(store, "movie", gzip.compress(b"\n"))  # an empty file would otherwise delete every title
    assert store.count_by_status("tmdb_details") == before
    store.close()


def test_live_tmdb_without_a_key_stops_at_launch_with_one_clear_line(monkeypatch):
    from goodwatch_assets.resources import UpstreamsResource

    monkeypatch.delenv("GOODWATCH_REPLICA_URL", raising=False)
    with dg.instance_for_test() as instance:
        result = dg.materialize([tmdb_daily_export], partition_key=DAY.isoformat(), instance=instance,
                                resources={**build_resources(), "upstreams": UpstreamsResource()},
                                raise_on_error=False)
        assert not result.success
        messages = " ".join(str(r.dagster_event.event_specific_data) for r in instance.all_logs(result.run_id)
                            if r.dagster_event)
    assert "TMDB_API_KEY: required to fetch from the live TMDB API" in messages
