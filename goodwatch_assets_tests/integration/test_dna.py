"""DNA against the replica's model and the embedded stores: answers re-asked and quarantined, the daily budget,
labels merged by embedding as they arrive, and vectors that follow changes."""

from __future__ import annotations

from collections import Counter
from dataclasses import replace

import httpx
import pytest

from goodwatch_assets.fetching.client import SourceClient
from goodwatch_assets.lib.embedding import Embedder
from goodwatch_assets.lib.search import Search, SearchError
from goodwatch_assets.models.queue import FetchedDocument, Status
from goodwatch_assets.models.shards import shard_of
from goodwatch_assets.replica import vocabulary as V
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.faults import FaultConfig
from goodwatch_assets.replica.llm import unknown_to_the_model
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.sources import dna
from goodwatch_assets.stores.dna_index import DnaIndex
from goodwatch_assets.stores.llm_budget import LlmBudget
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.helpers import ANSWERED_CATEGORIES as FULL
from goodwatch_assets_tests.helpers import DNA_SHARD as SHARD
from goodwatch_assets_tests.helpers import (
    CountingBudget,
    answer_for,
    replica_settings,
    run_dna,
    run_with_faults,
    seed_details,
    settle,
    stored_dna,
)

ORIGINAL = {variant: label for label, variant in V.DNA_VARIANTS.items()}


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


# -- the handle against the replica: re-asks, quarantine, budget -----------------------------------------


def test_answers_cut_short_are_asked_again_then_quarantined_with_the_answer_kept(dna_db):
    store, entries, budget, report = run_with_faults(dna_db, SyntheticCatalog(400, seed=5), 10,
                                                     FaultConfig(seed=2, malformed_rate=1.0))
    assert budget.taken == 2 * 3  # two requests of five titles, each asked three times
    assert report.quarantined == 10 and report.fetched == 0
    for document in stored_dna(store, entries).values():
        assert document.status is Status.QUARANTINED and "unusable after 2 re-asks: the answer is not JSON" in document.error
        assert document.quarantine_body  # the last answer, kept for replay
    store.close()


def test_a_broken_answer_recovers_on_a_re_ask_and_stores_the_true_labels(dna_db):
    catalog = SyntheticCatalog(2000, seed=5)
    store, entries, budget, report = run_with_faults(dna_db, catalog, 40, FaultConfig(seed=4, malformed_rate=0.4))
    assert budget.taken > 8  # some of the eight answers were broken and asked again
    stored = stored_dna(store, entries)
    for entry in entries:
        document = stored[("movie", entry.tmdb_id)]
        if unknown_to_the_model(catalog, entry):
            assert document.status is Status.QUARANTINED and "does not know this title" in document.error
            continue
        if document.status is Status.QUARANTINED:  # broken three times in a row: the only other way out
            assert "not JSON" in document.error
            continue
        # Noise normalised away; other spellings are merged later, by embedding (see below).
        stored_labels = {category: {ORIGINAL.get(label, label) for label in labels}
                         for category, labels in document.record["dna"].items()}
        assert stored_labels == {category: set(labels) for category, labels in catalog.details(entry).dna.items()}
    assert report.quarantined <= 3
    store.close()


def test_a_spent_budget_stops_the_run_cleanly_and_the_next_run_goes_on(dna_db):
    catalog = SyntheticCatalog(2000, seed=5)
    store = PostgresDocumentStore(dna_db)
    entries = seed_details(store, catalog, 40)
    budget = LlmBudget(dna_db, "test-model", daily_requests=3)
    with ReplicaServer(Replica(catalog)) as server:
        report, client = run_dna(store, server, budget)
        assert report.stopped_by == "the daily request budget of test-model is spent" and not report.rate_limited
        assert budget.used() == 3 and len(server.replica.requests("llm")) == 3
        statuses = Counter(str(d.status) for d in stored_dna(store, entries).values())
        assert statuses["ok"] + statuses["quarantined"] == 15 and statuses["pending"] == 25  # state saved
        assert all(d.attempts == 0 for d in stored_dna(store, entries).values() if d.status is Status.PENDING)
        assert run_dna(store, server, budget)[0].fetched == 0  # still spent today: nothing is sent
        assert len(server.replica.requests("llm")) == 3
        with dna_db.connect() as conn:
            assert conn.execute("SELECT count(*) FROM source_cooldowns").fetchone()[0] == 0  # no cool-down recorded
        report, _ = run_dna(store, server, LlmBudget(dna_db, "test-model", daily_requests=100))  # a raised budget
    assert report.stopped_by is None
    assert Counter(str(d.status) for d in stored_dna(store, entries).values())["pending"] == 0
    store.close()


def test_a_failed_re_ask_keeps_the_titles_already_answered(dna_db):
    """The first answer is good for one title and not the other; the re-ask fails three times (HTTP 500)."""
    catalog = SyntheticCatalog(2000, seed=5)
    store = PostgresDocumentStore(dna_db)
    good, bad = seed_details(store, catalog, 2)
    answers = []

    def upstream(request: httpx.Request) -> httpx.Response:
        answers.append(request)
        if len(answers) > 1:
            return httpx.Response(500)
        content = answer_for([{"media": "movie", "tmdb_id": good.tmdb_id, "dna": FULL},
                              {"media": "movie", "tmdb_id": bad.tmdb_id, "dna": "garbage"}])
        return httpx.Response(200, json={"choices": [{"message": {"content": content}}]})

    policy = replica_settings("http://replica.test").site(dna.LLM)
    budget = CountingBudget(10)
    client = SourceClient(replace(policy, backoff_base_s=0.001), transport=httpx.MockTransport(upstream))
    report, _ = run_dna(store, None, budget, client=client, max_items=2)
    stored = stored_dna(store, [good, bad])
    assert len(answers) == 1 + 3 and budget.taken == 2  # the answer, then one re-ask tried three times
    assert stored[("movie", good.tmdb_id)].status is Status.OK  # kept, not thrown away with the re-ask
    assert stored[("movie", bad.tmdb_id)].status is Status.PENDING and stored[("movie", bad.tmdb_id)].attempts == 0
    assert (report.fetched, report.released) == (1, 1)
    store.close()


# -- labels and vectors ------------------------------------------------------------------------------


def test_labels_are_stored_once_and_near_duplicates_merge_as_they_arrive(dna_db, embedder):
    from goodwatch_assets.stores.dna_index import IndexedTitle

    index = DnaIndex(dna_db, embedder)
    first = index.write_titles([IndexedTitle("movie", 1, "One", 2001, {"Humor": ["Dark Humor"], "Pacing": ["Slow Burn"]})])
    assert (first.labels_new, first.labels_merged, first.label_embeddings, first.title_embeddings) == (2, 0, 2, 1)
    second = index.write_titles([
        IndexedTitle("movie", 2, "Two", 2002, {"Humor": ["Dark Humour"], "Pacing": ["Slow Burn", "Breakneck"]}),
        IndexedTitle("tv", 3, "Three", 2003, {"Humor": ["Dark Humor"], "Key Props": ["Slow Burn"]}),
    ])
    # Dark Humour merged into Dark Humor; Breakneck new; Slow Burn as a Key Prop is its own label (another
    # category) but its text was embedded already.
    assert (second.labels_new, second.labels_merged, second.label_embeddings, second.title_embeddings) == (3, 1, 2, 2)
    with dna_db.connect() as conn:
        links = conn.execute("""SELECT d.tmdb_id, l.category || ': ' || l.label FROM title_dna d
                                JOIN dna_labels l ON l.id = d.label_id ORDER BY 1, 2""").fetchall()
    assert links == [(1, "Humor: Dark Humor"), (1, "Pacing: Slow Burn"), (2, "Humor: Dark Humor"),
                     (2, "Pacing: Breakneck"), (2, "Pacing: Slow Burn"), (3, "Humor: Dark Humor"),
                     (3, "Key Props: Slow Burn")]
    again = index.write_titles([IndexedTitle("movie", 1, "One", 2001, {"Humor": ["Dark Humor"], "Pacing": ["Slow Burn"]})])
    assert (again.labels_new, again.label_embeddings, again.title_embeddings) == (0, 0, 0)  # unchanged: nothing embedded


def test_dna_vectors_follows_changes_and_drops_dna_that_is_gone(dna_db, embedder):
    store = PostgresDocumentStore(dna_db)
    index = DnaIndex(dna_db, embedder)
    ids = [i for i in range(1, 200) if shard_of(i) == SHARD][:2]

    def described(tmdb_id: int, mood: str) -> FetchedDocument:
        dna = {"Mood": [mood], "Plot": ["Quest"]}
        return FetchedDocument("movie", tmdb_id, dna, record={"dna": dna, "title": f"T{tmdb_id}", "year": 2000})

    store.upsert("dna", [described(ids[0], "Tense"), described(ids[1], "Tense")])
    settle()
    assert index.index_changes(store, "movie", SHARD).titles == 2
    with Search(dna_db, embedder) as search:
        assert {h.tmdb_id for h in search.by_dna(["Mood=Tense"])} == set(ids)
    store.upsert("dna", [described(ids[0], "Eerie")])
    store.upsert("dna", [FetchedDocument("movie", ids[1], None, status=Status.NOT_FOUND, record={"not_found": "x"})])
    settle()
    stats = index.index_changes(store, "movie", SHARD)
    assert (stats.titles, stats.removed, stats.title_embeddings, stats.labels_new) == (1, 1, 1, 1)
    with Search(dna_db, embedder) as search:
        assert search.by_dna(["Mood=Tense"]) == []  # neither: one changed its mood, one has no DNA any more
        assert [h.tmdb_id for h in search.by_dna(["Mood=Eerie"])] == [ids[0]]
        with pytest.raises(SearchError, match="has no DNA vector"):
            search.similar_to_title("movie", ids[1])
    assert index.index_changes(store, "movie", SHARD).titles == 0  # read up to its watermark
    store.close()


def test_two_writers_of_one_partition_take_turns(dna_db, embedder):
    from concurrent.futures import ThreadPoolExecutor

    from goodwatch_assets.stores.dna_index import IndexedTitle

    titles = [IndexedTitle("movie", i, f"T{i}", 2000, {"Mood": ["Tense", "Eerie"], "Plot": ["Quest"]})
              for i in range(1, 300) if shard_of(i) == SHARD]
    DnaIndex(dna_db, embedder).write_titles(titles[:1])  # labels known: the label lock alone would not serialise
    with ThreadPoolExecutor(2) as pool:
        outcomes = list(pool.map(lambda _: DnaIndex(dna_db, embedder).write_titles(titles), range(2)))
    assert all(o.links == 3 * len(titles) for o in outcomes)
    with dna_db.connect() as conn:
        assert conn.execute("SELECT count(*) FROM title_dna").fetchone()[0] == 3 * len(titles)


