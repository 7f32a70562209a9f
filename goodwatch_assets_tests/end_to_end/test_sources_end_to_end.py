"""Every source asset, every partition, against the replica; stored values compared with its ground truth."""

from __future__ import annotations

import time
from collections import Counter

from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.faults import FaultConfig, RateLimit
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.helpers import (
    COMPARED_SOURCES,
    DAY,
    compare_with_truth,
    invoke_every_source,
    lift_blocks,
    replica_resources,
    run_every_source,
    with_queues,
)


def test_every_source_against_the_ground_truth_of_2000_titles(clean_serving_db):
    catalog = SyntheticCatalog(2000, seed=5)
    with ReplicaServer(Replica(catalog)) as server:
        # TV Tropes guesses too (off by default): with it, every page source is held to finding 99% of its pages.
        run_every_source(server.url, GOODWATCH_TVTROPES_GUESSING="true")
    store = PostgresDocumentStore(clean_serving_db)
    compared, wrong, unexplained, explained = compare_with_truth(store, catalog, DAY)
    total = sum(compared.values())
    misses = len(wrong) + len(unexplained) + sum(explained.values())
    print("\nwrong by field:", Counter((w[0], w[2]) for w in wrong).most_common(12))
    print(f"\nvalues compared {total}, wrong {len(wrong)}, explained misses {dict(explained)}, by source "
          f"{dict(compared)}; first wrong: {wrong[:5]}")
    assert total > 25_000
    assert (total - misses) / total >= 0.99  # at least 99 % of the values equal the truth
    assert unexplained == []  # every miss is explained (no page upstream, every page found rejected)
    assert len(wrong) <= 0.001 * total  # wrong values: same-title twins that nothing on the page tells apart
    assert store.count_by_status("tmdb_details").get("quarantined", 0) == 0
    store.close()


def test_with_faults_repeated_runs_converge_and_store_nothing_invalid(clean_serving_db):
    catalog = SyntheticCatalog(300, seed=6)
    # Metacritic's client runs above its limit (rate-limit answers, cool-downs, stopped runs);
    # Rotten Tomatoes' is paced under it.
    faults = FaultConfig(seed=3, error_rate=0.15, malformed_rate=0.1, retry_after_s=1,
                         rate_limits={"rotten_tomatoes": RateLimit(40, 1), "metacritic": RateLimit(60, 1)})
    rps = {"rotten_tomatoes": "30", "metacritic": "90"}
    store = PostgresDocumentStore(clean_serving_db)
    settled_at = None
    with ReplicaServer(Replica(catalog, faults)) as server:
        # Retry without waiting, so that a few runs in a row show convergence.
        resources = with_queues(replica_resources(server.url, rps), max_attempts=8, retry_delay_minutes=0)
        snapshots = []
        for round_number in range(1, 13):
            invoke_every_source(resources, under_faults=True)
            _, _, unsettled, _ = compare_with_truth(store, catalog, DAY)
            snapshots.append({s: store.count_by_status(s) for s in COMPARED_SOURCES})
            if not unsettled:
                settled_at = round_number
                break
            lift_blocks(clean_serving_db)  # a site that blocked (pages without data) waits its day
            time.sleep(1.1)  # let a cool-down (Retry-After: 1) pass
        log = server.replica.requests()
    faults_seen = Counter(r.fault for r in log if r.fault)
    assert set(faults_seen) == {"error", "malformed", "rate_limited"}, faults_seen
    assert settled_at is not None, snapshots[-1]  # every title reached a final state
    compared, wrong, unexplained, explained = compare_with_truth(store, catalog, DAY)
    assert unexplained == [] and len(wrong) <= 0.005 * sum(compared.values())
    for source in COMPARED_SOURCES:  # nothing quarantined for good, nothing invalid stored
        assert store.count_by_status(source).get("quarantined", 0) == 0
    print(f"\nsettled after {settled_at} rounds; faults served {dict(faults_seen)}; values {sum(compared.values())},"
          f" wrong {len(wrong)}, explained misses {sum(explained.values())}")
    store.close()
