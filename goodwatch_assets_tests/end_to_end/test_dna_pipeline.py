"""DNA end to end on the replica: the catalog through export, details, DNA and vectors, every partition, as
``goodwatch run`` does it; both searches against the replica's ground truth, from Python and the CLI."""

from __future__ import annotations

import itertools
from collections import Counter
from datetime import UTC, datetime
from functools import partial

import dagster as dg
import pytest
from psycopg import sql

from goodwatch_assets.defs.dna.assets import dna, dna_vectors
from goodwatch_assets.defs.main_job import run_pipeline
from goodwatch_assets.defs.resources import FetchResource, build_resources
from goodwatch_assets.defs.sources.assets import PER_TITLE_ASSETS, tmdb_daily_export
from goodwatch_assets.lib.embedding import Embedder
from goodwatch_assets.lib.search import Search, SearchError, SearchFilters
from goodwatch_assets.models.labels import dna_text
from goodwatch_assets.models.queue import Status
from goodwatch_assets.models.shards import shard_of
from goodwatch_assets.replica import vocabulary as V
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.llm import unknown_to_the_model
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.settings import Settings
from goodwatch_assets.sources import tmdb
from goodwatch_assets.stores.dna_index import DnaIndex
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.helpers import DAY, DNA_TABLES, replica_resources
from goodwatch_assets_tests.helpers import DNA_SHARD as SHARD

# -- end to end on the replica -----------------------------------------------------------------------


def dna_definitions(replica_url: str) -> dg.Definitions:
    """The export, the details (what DNA describes), DNA and its vectors, on the replica (the main job's workers
    build them from this)."""
    details = PER_TITLE_ASSETS[tmdb.SPEC.name]
    return dg.Definitions(assets=[tmdb_daily_export, details, dna, dna_vectors], resources=replica_resources(replica_url))


@pytest.fixture(scope="module")
def dna_pipeline(serving_db, tmp_path_factory):
    """The replica's catalog through export, details, DNA and vectors, every partition, as ``goodwatch run`` does."""
    with serving_db.connect() as conn:
        conn.execute(f"TRUNCATE raw.documents, {DNA_TABLES}")
    catalog = SyntheticCatalog(600, seed=11)
    with ReplicaServer(Replica(catalog)) as server:
        with dg.instance_for_test() as instance:
            results = run_pipeline(partial(dna_definitions, server.url), instance, day=DAY.isoformat())
    # the export, then details and DNA one run per partition, the DNA vectors one run per media type
    assert all(r.success for r in results) and len(results) == 1 + 2 * 32 + 2
    present = [e for e in catalog.entries if e.in_export(DAY)]
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


def test_the_live_llm_without_a_key_stops_the_dna_run_with_one_clear_line():
    live = build_resources(Settings.from_env({"GOODWATCH_DATA_DIR": str(Settings.from_env().stores.data_dir)}))
    live["fetch"] = FetchResource(serving_db=live["serving_db"], sites=live["fetch"].sites, tmdb_api_key="k")
    with dg.instance_for_test() as instance:
        result = dg.materialize([dna], partition_key="movie|00", instance=instance, raise_on_error=False,
                                resources=live)
        assert not result.success
        messages = " ".join(str(r.dagster_event.event_specific_data) for r in instance.all_logs(result.run_id)
                            if r.dagster_event)
    assert "LLM_API_KEY: required by https://api.openai.com/v1" in messages


