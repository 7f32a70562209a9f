"""DNA: answers checked and re-asked, quarantine, the daily budget, labels merged by embedding, vectors, and
both searches against the replica's ground truth."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import dagster as dg
import orjson
import pytest
from psycopg import sql

from goodwatch_assets.assets.dna import dna, dna_vectors
from goodwatch_assets.assets.lane1 import QUEUES
from goodwatch_assets.assets.tmdb import tmdb_daily_export, tmdb_details
from goodwatch_assets.embedding import Embedder
from goodwatch_assets.fetching.client import SourceClient
from goodwatch_assets.fetching.policy import policies_from_env
from goodwatch_assets.labels import dna_text, normalise_dna, normalise_label
from goodwatch_assets.models import DNA_CATEGORIES
from goodwatch_assets.pipeline import run_pipeline
from goodwatch_assets.replica import vocabulary as V
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.faults import FaultConfig
from goodwatch_assets.replica.llm import unknown_to_the_model
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.resources import build_resources
from goodwatch_assets.search import Search, SearchError, SearchFilters
from goodwatch_assets.shards import shard_of
from goodwatch_assets.sources.dna import TitlePrompt, dna_handle, parse_answer
from goodwatch_assets.stores.dna_index import DEFAULT_MERGE_SIMILARITY, DnaIndex
from goodwatch_assets.stores.documents import FetchedDocument, QueueEntry, Status
from goodwatch_assets.stores.llm_budget import LlmBudget
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets.workqueue import run_lane1
from goodwatch_assets_tests.conftest import settle

ORIGINAL = {variant: label for label, variant in V.DNA_VARIANTS.items()}
DNA_TABLES = "title_dna, title_vectors, dna_labels, text_embeddings, feed_watermarks, llm_budget, source_cooldowns"
SHARD = 5


@pytest.fixture
def dna_db(clean_serving_db):
    with clean_serving_db.connect() as conn:
        conn.execute(f"TRUNCATE {DNA_TABLES}")
    return clean_serving_db


@pytest.fixture(scope="module")
def embedder() -> Embedder:
    return Embedder()


# -- normalisation and the answer's schema -----------------------------------------------------------


@pytest.mark.parametrize(("raw", "normal"), [
    ("  SLOW BURN ", "Slow Burn"), ("slow  burn", "Slow Burn"), ("Slow burn", "Slow Burn"), ("coming-of-age", "Coming-of-Age"),
    ("BLACK AND WHITE", "Black and White"), ("DNA Test", "DNA Test"), ("McGuffin", "McGuffin"), ("1950s", "1950s"),
    ("dark humor.", "Dark Humor"), ("none", None), ("N/A", None), ("", None), ("-", None), ("x" * 81, None),
])
def test_labels_are_normalised_to_one_spelling(raw, normal):
    assert normalise_label(raw) == normal


def test_every_replica_label_survives_the_noise_models_add():
    for labels in V.DNA_LABELS.values():
        for label in labels:
            assert normalise_label(label) == normalise_label(label.lower()) == normalise_label(f"  {label.upper()} ") \
                == normalise_label(label.replace(" ", "  ")) == label


def test_dna_is_normalised_per_category_and_written_as_one_text():
    dna = normalise_dna({"Mood": ["tense", "TENSE", " Eerie", "none"], "Humor": ["", "n/a"], "Plot": ["Quest"]})
    assert dna == {"Mood": ("Tense", "Eerie"), "Plot": ("Quest",)}
    assert dna_text(dna) == "Mood: Tense, Eerie\nPlot: Quest"
    assert tuple(V.DNA_LABELS) == DNA_CATEGORIES  # the replica answers the categories the prompt asks for


def test_the_dna_text_follows_the_category_order_whatever_the_mapping_order():
    assert dna_text({"Plot": ["Quest"], "Mood": ["Tense"]}) == dna_text({"Mood": ["Tense"], "Plot": ["Quest"]}) \
        == "Mood: Tense\nPlot: Quest"


def answer_for(entries: list[dict]) -> str:
    return orjson.dumps({"titles": entries}).decode()


FULL = {category: ["Label A", "label b"] for category in DNA_CATEGORIES}
ASKED = [TitlePrompt("movie", 1, "One", 2001, "x"), TitlePrompt("tv", 2, "Two", None, None)]


def test_an_answer_is_checked_title_by_title():
    parsed = parse_answer(answer_for([
        {"media": "movie", "tmdb_id": 1, "dna": {**FULL, "Not A Category": ["x"]}},
        {"media": "tv", "tmdb_id": 2, "dna": {"Mood": ["Tense"]}},
    ]), ASKED, "m")
    assert parsed[("movie", 1)].dna["Mood"] == ("Label A", "Label B")  # normalised; unknown categories dropped
    assert "Not A Category" not in parsed[("movie", 1)].dna and parsed[("movie", 1)].llm_model == "m"
    assert parsed[("tv", 2)] == f"only 1 of the {len(DNA_CATEGORIES)} categories have labels (at least 6)"


@pytest.mark.parametrize(("content", "problem"), [
    ('{"titles": [{"media": "movie", "tmdb_id": 1, "dna": ', "the answer is not JSON"),
    ('{"answers": []}', 'the answer has no "titles" list'),
    (answer_for([{"media": "movie", "tmdb_id": 1, "unknown": True}]), "the model says it does not know this title"),
    (answer_for([{"media": "movie", "tmdb_id": 1, "dna": "Tense, Eerie"}]), '"dna" is not an object'),
    (answer_for([{"media": "movie", "tmdb_id": 1, "dna": {**FULL, "Mood": "Tense"}}]), "labels of Mood are not a list"),
    (answer_for([{"media": "movie", "tmdb_id": 1, "dna": {**FULL, "Plot": [1, 2]}}]), "labels of Plot are not a list"),
    (answer_for([]), "missing from the answer"),
])
def test_unusable_answers_name_their_problem(content, problem):
    assert parse_answer(content, ASKED[:1], "m")[("movie", 1)].startswith(problem)


def test_a_fenced_json_answer_is_still_read():
    content = "```json\n" + answer_for([{"media": "movie", "tmdb_id": 1, "dna": FULL}]) + "\n```"
    assert not isinstance(parse_answer(content, ASKED[:1], "m")[("movie", 1)], str)


# -- the handle against the replica: re-asks, quarantine, budget -----------------------------------------


class CountingBudget:
    def __init__(self, requests: int):
        self.left, self.taken = requests, 0

    def take(self) -> bool:
        if self.left <= 0:
            return False
        self.left -= 1
        self.taken += 1
        return True


def seed_details(store, catalog: SyntheticCatalog, count: int):
    """TMDB details of ``count`` movies of one shard, queued for DNA (as ``tmdb_details`` does)."""
    entries = [e for e in catalog.entries if e.media == "movie" and shard_of(e.tmdb_id) == SHARD][:count]
    assert len(entries) == count
    store.upsert("tmdb_details", [FetchedDocument("movie", e.tmdb_id, {}, record={
        "title": e.title, "year": e.year, "overview": catalog.details(e).overview}) for e in entries])
    store.enqueue("dna", [QueueEntry("movie", e.tmdb_id, e.popularity) for e in entries])
    return entries


def run_dna(store, server: ReplicaServer, budget, **kw):
    policy = policies_from_env({"GOODWATCH_REPLICA_URL": server.url, "GOODWATCH_LLM_RPS": "1000"})["llm"]

    async def go():
        async with SourceClient(policy) as client:
            report = await run_lane1(store, client, QUEUES["dna"], media="movie", shard=SHARD, handle=dna_handle(
                store, budget.take, model="test-model", api_key=None, titles_per_request=5), **kw)
            return report, client

    return asyncio.run(go())


def stored_dna(store, entries):
    return store.get_many("dna", [("movie", e.tmdb_id) for e in entries])


def run_with_faults(dna_db, catalog: SyntheticCatalog, count: int, faults: FaultConfig):
    """``count`` titles with details through one DNA run against a replica with ``faults``."""
    store = PostgresDocumentStore(dna_db)
    entries = seed_details(store, catalog, count)
    with ReplicaServer(Replica(catalog, faults)) as server:
        budget = CountingBudget(100)
        report, _ = run_dna(store, server, budget)
    return store, entries, budget, report


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
    import httpx

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

    policy = policies_from_env({"GOODWATCH_REPLICA_URL": "http://replica.test", "GOODWATCH_LLM_RPS": "1000"})["llm"]
    budget = CountingBudget(10)

    async def go():
        async with SourceClient(replace(policy, backoff_base_s=0.001), transport=httpx.MockTransport(upstream)) as client:
            return await run_lane1(store, client, QUEUES["dna"], media="movie", shard=SHARD, handle=dna_handle(
                store, budget.take, model="m", api_key=None, titles_per_request=5), max_items=2)

    report = asyncio.run(go())
    stored = stored_dna(store, [good, bad])
    assert len(answers) == 1 + 3 and budget.taken == 2  # the answer, then one re-ask tried three times
    assert stored[("movie", good.tmdb_id)].status is Status.OK  # kept, not thrown away with the re-ask
    assert stored[("movie", bad.tmdb_id)].status is Status.PENDING and stored[("movie", bad.tmdb_id)].attempts == 0
    assert (report.fetched, report.released) == (1, 1)
    store.close()


# -- labels and vectors ------------------------------------------------------------------------------


def test_the_merge_threshold_joins_spellings_and_keeps_distinct_labels_apart(embedder):
    """Every replica spelling variant is nearest to its own label above the threshold; no two distinct labels of
    a category are that close."""
    for category, labels in V.DNA_LABELS.items():
        vectors = embedder.encode(list(labels))
        similarity = vectors @ vectors.T
        for i in range(len(labels)):
            for j in range(i + 1, len(labels)):
                assert similarity[i, j] < DEFAULT_MERGE_SIMILARITY, (category, labels[i], labels[j])
        for label, variant in V.DNA_VARIANTS.items():
            if label in labels:
                scores = vectors @ embedder.encode([variant])[0]
                assert labels[int(scores.argmax())] == label and scores.max() >= DEFAULT_MERGE_SIMILARITY


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


# -- end to end on the replica -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def dna_pipeline(serving_db, tmp_path_factory):
    """The replica's catalog through export, details, DNA and vectors, every partition, as ``goodwatch run`` does."""
    with serving_db.connect() as conn:
        conn.execute(f"TRUNCATE raw.documents, {DNA_TABLES}")
    catalog = SyntheticCatalog(600, seed=11)
    day = (datetime.now(UTC) - timedelta(days=1)).date()
    with ReplicaServer(Replica(catalog)) as server, pytest.MonkeyPatch.context() as env:
        env.setenv("GOODWATCH_REPLICA_URL", server.url)
        for source in ("TMDB_API", "TMDB_FILES", "LLM"):
            env.setenv(f"GOODWATCH_{source}_RPS", "1000")
        defs = dg.Definitions(assets=[tmdb_daily_export, tmdb_details, dna, dna_vectors], resources=build_resources())
        with dg.instance_for_test() as instance:
            results = run_pipeline(defs, instance, day=day.isoformat(), report=lambda _: None)
    assert all(r.success for r in results) and len(results) == 1 + 3 * 32
    present = [e for e in catalog.entries if e.in_export(day)]
    return catalog, present


def test_every_title_with_details_gets_dna_or_an_explained_quarantine(dna_pipeline, serving_db):
    catalog, present = dna_pipeline
    store = PostgresDocumentStore(serving_db)
    keys = [(e.media, e.tmdb_id) for e in present]
    details, stored = store.get_many("tmdb_details", keys), store.get_many("dna", keys)
    assert len(details) == len(present)
    for entry in present:
        document = stored[(entry.media, entry.tmdb_id)]
        if unknown_to_the_model(catalog, entry):
            assert document.status is Status.QUARANTINED and "does not know this title" in document.error
        else:
            assert document.status is Status.OK, (entry.tmdb_id, document.status, document.error)
    with serving_db.connect() as conn:
        vectors = conn.execute("SELECT count(*) FROM title_vectors").fetchone()[0]
        canonical = conn.execute("SELECT count(*) FROM dna_labels WHERE canonical_id IS NULL").fetchone()[0]
        merged = dict(conn.execute("""SELECT l.label, c.label FROM dna_labels l JOIN dna_labels c
                                      ON c.id = l.canonical_id""").fetchall())
    assert vectors == sum(1 for e in present if not unknown_to_the_model(catalog, e))
    assert canonical == sum(len(labels) for labels in V.DNA_LABELS.values())  # one per distinct true label
    assert {frozenset(pair) for pair in merged.items()} <= {frozenset(pair) for pair in V.DNA_VARIANTS.items()}
    assert len(merged) == len(V.DNA_VARIANTS)  # every spelling met was merged into its label
    store.close()


def test_filtering_by_dna_returns_exactly_the_titles_the_truth_gives(dna_pipeline, serving_db):
    catalog, present = dna_pipeline
    described = [e for e in present if not unknown_to_the_model(catalog, e)]
    search = Search(serving_db)
    for category, labels in V.DNA_LABELS.items():
        for label in labels:
            expected = {(e.media, e.tmdb_id) for e in described if label in catalog.details(e).dna[category]}
            found = {(h.media, h.tmdb_id) for h in search.by_dna([f"{category}={label}"], limit=1000)}
            assert found == expected, (category, label)
    both = search.by_dna(["Pacing: slow-burn", "Humor=dark humour"], SearchFilters(media="tv", year_from=2000), 1000)
    expected = {e.tmdb_id for e in described if e.media == "tv" and e.year >= 2000
                and "Slow Burn" in catalog.details(e).dna["Pacing"] and "Dark Humor" in catalog.details(e).dna["Humor"]}
    assert {h.tmdb_id for h in both} == expected and all(h.media == "tv" for h in both)
    with pytest.raises(SearchError, match="no title has the DNA label"):
        search.by_dna(["Mood=Purple Elephant"])
    with pytest.raises(SearchError, match="unknown DNA category"):
        search.by_dna(["Vibes=Tense"])


def test_similar_titles_are_the_titles_the_truth_makes_neighbours(dna_pipeline, serving_db):
    catalog, present = dna_pipeline
    described = [e for e in present if not unknown_to_the_model(catalog, e)]
    archetypes = Counter(catalog.details(e).archetype for e in described)
    search = Search(serving_db)
    same = compared = 0
    for entry in described[::5]:
        archetype = catalog.details(entry).archetype
        wanted = min(10, archetypes[archetype] - 1)
        hits = search.similar_to_title(entry.media, entry.tmdb_id, limit=wanted)
        assert (entry.media, entry.tmdb_id) not in {(h.media, h.tmdb_id) for h in hits}
        assert all(a.similarity >= b.similarity - 1e-6 for a, b in itertools.pairwise(hits))  # nearest first
        by_key = {(e.media, e.tmdb_id): e for e in described}
        same += sum(catalog.details(by_key[h.media, h.tmdb_id]).archetype == archetype for h in hits)
        compared += len(hits)
    assert same / compared >= 0.9, f"{same} of {compared} neighbours share the title's archetype"
    # Filters apply before the limit: a narrow year still gives as many titles as it holds.
    entry = described[0]
    same_year = [e for e in described if e.year == entry.year and e is not entry]
    hits = search.similar_to_title(entry.media, entry.tmdb_id, SearchFilters(year_from=entry.year, year_to=entry.year),
                                   limit=10)
    assert {h.tmdb_id for h in hits} <= {e.tmdb_id for e in same_year} and len(hits) == min(10, len(same_year))
    # Free text: a title's own DNA text finds that title first.
    entry = described[0]
    assert search.similar_to_text(dna_text(catalog.details(entry).dna), limit=1)[0].tmdb_id == entry.tmdb_id


def test_search_results_and_filters_read_the_serving_tables(dna_pipeline, serving_db):
    """Scores and streaming offers as the combine writes them (rows written here directly)."""
    catalog, present = dna_pipeline
    tense = [e for e in present if not unknown_to_the_model(catalog, e) and "Tense" in catalog.details(e).dna["Mood"]][:6]
    links = [(tense[0], "US", 8, "flatrate", None), (tense[1], "US", 8, "flatrate", datetime.now(UTC)),
             (tense[2], "DE", 337, "rent", None), (tense[2], "DE", 8, "ads", None)]
    with serving_db.connect() as conn:
        conn.execute("TRUNCATE movies, tv_shows, streaming_links, streaming_providers")
        conn.execute("INSERT INTO streaming_providers (provider_id, name) VALUES (8, 'Netflix'), (337, 'Disney Plus')")
        for n, e in enumerate(tense):
            conn.execute(sql.SQL(
                "INSERT INTO {} (tmdb_id, shard, title, release_year, popularity, aggregated_overall_score_normalized_percent,"
                " aggregated_overall_score_voting_count) VALUES (%s, %s, %s, %s, %s, %s, %s)").format(
                sql.Identifier("movies" if e.media == "movie" else "tv_shows")),
                (e.tmdb_id, shard_of(e.tmdb_id), e.title, e.year, 100 - n, 50 + 8 * n, 1000 + n))
        for e, country, provider, kind, obsolete in links:
            conn.execute("""INSERT INTO streaming_links (media, tmdb_id, country_code, provider_id, stream_type, obsolete_at)
                            VALUES (%s, %s, %s, %s, %s, %s)""", (e.media, e.tmdb_id, country, provider, kind, obsolete))
    try:
        with Search(serving_db) as search:
            hits = search.by_dna(["Mood=Tense"], limit=1000)
            assert [h.tmdb_id for h in hits[:6]] == [e.tmdb_id for e in tense]  # most popular first
            assert (hits[0].score, hits[0].score_count, hits[0].streaming) == (50, 1000, ("US: Netflix (flatrate)",))
            assert hits[1].streaming == ()  # its only link is obsolete
            assert hits[2].streaming == ("DE: Disney Plus (rent)", "DE: Netflix (ads)")
            assert hits[6].score is None  # no serving row (yet): still found, without a score
            assert [h.tmdb_id for h in search.by_dna(["Mood=Tense"], SearchFilters(min_score=66), 100)] == [
                e.tmdb_id for e in tense[2:]]
            assert [h.tmdb_id for h in search.by_dna(["Mood=Tense"], SearchFilters(country="us"), 100)] == [tense[0].tmdb_id]
            disney = search.provider_id("disney plus")
            assert [h.tmdb_id for h in search.by_dna(["Mood=Tense"], SearchFilters(provider=disney), 100)] == [
                tense[2].tmdb_id]
            near = search.similar_to_title(tense[1].media, tense[1].tmdb_id, SearchFilters(country="DE"), limit=5)
            assert [(h.tmdb_id, h.streaming) for h in near] == [(tense[2].tmdb_id, ("DE: Disney Plus (rent)",
                                                                                    "DE: Netflix (ads)"))]
            with pytest.raises(SearchError, match="no streaming provider is called 'Nowhere TV'"):
                search.provider_id("Nowhere TV")
    finally:
        with serving_db.connect() as conn:
            conn.execute("TRUNCATE movies, tv_shows, streaming_links, streaming_providers")


def test_the_search_command_prints_what_the_python_search_finds(dna_pipeline, serving_db):
    import subprocess
    import sys
    from pathlib import Path

    goodwatch = str(Path(sys.executable).with_name("goodwatch"))
    with Search(serving_db) as search:
        expected = search.by_dna(["Pacing=Slow Burn", "Mood=Tense"], limit=5)
        entry = expected[0]
        similar = search.similar_to_title(entry.media, entry.tmdb_id, SearchFilters(media="tv"), limit=3)
    shown = subprocess.run([goodwatch, "search", "dna", "pacing=slow-burn", "Mood: tense", "--limit", "5"],
                           capture_output=True, text=True, timeout=120)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.splitlines()[:2] == ["pacing=slow-burn -> Pacing: Slow Burn", "Mood: tense -> Mood: Tense"]
    assert [int(line.split()[1]) for line in shown.stdout.splitlines()[2:]] == [h.tmdb_id for h in expected]
    shown = subprocess.run([goodwatch, "search", "similar", entry.media, str(entry.tmdb_id), "--media", "tv",
                            "--limit", "3"], capture_output=True, text=True, timeout=120)
    assert [int(line.split()[1]) for line in shown.stdout.splitlines()] == [h.tmdb_id for h in similar]
    shown = subprocess.run([goodwatch, "search", "dna", "Vibes=Tense"], capture_output=True, text=True, timeout=120)
    assert shown.returncode == 2 and shown.stderr.startswith("error: unknown DNA category 'Vibes'")


def test_dna_vectors_reads_only_what_changed(dna_pipeline, serving_db):
    store = PostgresDocumentStore(serving_db)
    index = DnaIndex(serving_db, Embedder())
    for media in ("movie", "tv"):
        stats = index.index_changes(store, media, SHARD)
        assert stats.titles == 0 and stats.title_embeddings == 0  # nothing changed since the pipeline ran
    store.close()


# -- settings ---------------------------------------------------------------------------------------


def test_the_live_llm_without_a_key_stops_the_dna_run_with_one_clear_line(monkeypatch):
    from goodwatch_assets.resources import UpstreamsResource

    monkeypatch.delenv("GOODWATCH_REPLICA_URL", raising=False)
    monkeypatch.delenv("LLM_BASE_URL", raising=False)
    with dg.instance_for_test() as instance:
        result = dg.materialize([dna], partition_key="movie|00", instance=instance, raise_on_error=False,
                                resources={**build_resources(), "upstreams": UpstreamsResource(tmdb_api_key="k")})
        assert not result.success
        messages = " ".join(str(r.dagster_event.event_specific_data) for r in instance.all_logs(result.run_id)
                            if r.dagster_event)
    assert "LLM_API_KEY: required by https://api.openai.com/v1" in messages


@pytest.mark.parametrize(("name", "value", "message"), [
    ("GOODWATCH_LLM_DAILY_REQUESTS", "lots", "GOODWATCH_LLM_DAILY_REQUESTS: expected a whole number, got 'lots'"),
    ("GOODWATCH_LABEL_MERGE_SIMILARITY", "high", "GOODWATCH_LABEL_MERGE_SIMILARITY: expected a number, got 'high'"),
])
def test_a_malformed_number_setting_names_itself(monkeypatch, name, value, message):
    from goodwatch_assets.errors import ConfigurationError

    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigurationError, match=message):
        build_resources()


def test_a_merge_similarity_outside_zero_to_one_is_refused():
    from goodwatch_assets.errors import ConfigurationError
    from goodwatch_assets.resources import EmbeddingResource

    with pytest.raises(ConfigurationError, match=r"GOODWATCH_LABEL_MERGE_SIMILARITY: expected a similarity in \(0, 1\]"):
        EmbeddingResource(merge_similarity=1.5).setup_for_execution(dg.build_init_resource_context())


def test_an_embedding_model_that_cannot_load_is_named(tmp_path):
    from goodwatch_assets.errors import ConfigurationError

    with pytest.raises(ConfigurationError, match="GOODWATCH_EMBEDDING_MODEL: cannot load the embedding model"):
        Embedder(str(tmp_path / "no-model-here")).encode(["x"])
