"""The serving tables end to end: the whole graph on the replica, as ``goodwatch run`` does it, against the replica's
truth; a second combine with nothing changed writes nothing."""

from __future__ import annotations

from functools import partial

import dagster as dg
import pytest

from goodwatch_assets.defs.dna.assets import dna, dna_vectors
from goodwatch_assets.defs.main_job import run_pipeline
from goodwatch_assets.defs.partitions import all_catalog_partitions
from goodwatch_assets.defs.serving.assets import serving_tables
from goodwatch_assets.defs.sources.assets import PER_TITLE_ASSETS, imdb_ratings, tmdb_daily_export
from goodwatch_assets.models.queue import Status
from goodwatch_assets.models.records import ImdbRating, MetacriticScores, RottenTomatoesScores, TitleDetails, TropesPage
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.replica.truth import title_truth
from goodwatch_assets.replica.vocabulary import PROVIDERS
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.helpers import (
    DAY,
    clear_serving,
    close,
    combine_all,
    expected_aggregates,
    links_of,
    replica_resources,
    row_of,
    snapshot,
    written,
)

# -- end to end against the replica ------------------------------------------------------------------------------

def serving_definitions(replica_url: str) -> dg.Definitions:
    """The whole graph but the candidates' assets, on the replica (the main job's workers build it from this)."""
    assets = [tmdb_daily_export, imdb_ratings, *PER_TITLE_ASSETS.values(), dna, dna_vectors, serving_tables]
    return dg.Definitions(assets=assets, resources=replica_resources(replica_url))


@pytest.fixture(scope="module")
def serving_pipeline(serving_db):
    """The whole graph on a 300-title replica, as ``goodwatch run`` does it."""
    with serving_db.connect() as conn:
        conn.execute("TRUNCATE raw.documents, title_dna, title_vectors, dna_labels, text_embeddings, llm_budget, "
                     "source_cooldowns, feed_watermarks")
    clear_serving(serving_db)
    catalog = SyntheticCatalog(300, seed=21)
    with ReplicaServer(Replica(catalog)) as server:
        with dg.instance_for_test() as instance:
            results = run_pipeline(partial(serving_definitions, server.url), instance, day=DAY.isoformat())
            assert all(r.success for r in results)
            combines = [r for r in results if dg.AssetKey("movies") in r.dagster_run.asset_selection]
            materialized = {(e.dagster_event.asset_key.to_user_string(), e.dagster_event.partition) for r in combines
                            for e in instance.all_logs(r.dagster_run.run_id,
                                                       of_type=dg.DagsterEventType.ASSET_MATERIALIZATION)}
    assert len(combines) == 2  # one run per media type, each over its 16 partitions (BackfillPolicy.single_run)
    assert materialized == {(table, p.key) for p in all_catalog_partitions()
                            for table in ("movies", "tv_shows", "streaming_links", "streaming_providers")}
    present = [e for e in catalog.entries if e.in_export(DAY)]
    return catalog, present


def test_serving_rows_equal_the_stored_documents_and_the_truth(serving_pipeline, serving_db):
    catalog, present = serving_pipeline
    store = PostgresDocumentStore(serving_db)
    keys = [(e.media, e.tmdb_id) for e in present]
    docs = {source: store.get_many(source, keys) for source in
            ("tmdb_details", "imdb_ratings", "metacritic", "rotten_tomatoes", "tvtropes")}
    with serving_db.connect() as conn:
        label_ids = {}
        for media, tmdb_id, label in conn.execute("SELECT media, tmdb_id, label_id FROM title_dna").fetchall():
            label_ids.setdefault((media, tmdb_id), []).append(label)
    compared, wrong_vs_documents, wrong_vs_truth = 0, [], []

    def check(wrong, key, field, expected, actual):
        nonlocal compared
        compared += 1
        same = close(expected, actual) if isinstance(expected, float) or isinstance(actual, float) else expected == actual
        if not same:
            wrong.append((key, field, expected, actual))

    def ok(source, key):
        document = docs[source].get(key)
        return document.record if document is not None and document.status is Status.OK else None

    for entry, key in zip(present, keys, strict=True):
        truth, row = title_truth(catalog, entry), row_of(serving_db, *key)
        assert row is not None, key  # every title with details has its row
        details = TitleDetails(**docs["tmdb_details"][key].record)
        # Id-based sources: equal to the truth itself.
        check(wrong_vs_truth, key, "title", entry.title, row["title"])
        check(wrong_vs_truth, key, "year", entry.year, row["release_year"])
        check(wrong_vs_truth, key, "genres", truth["tmdb"]["genres"], row["genres"])
        voted = truth["tmdb"]["vote_count"] > 0
        check(wrong_vs_truth, key, "tmdb %", truth["tmdb"]["vote_average"] * 10 if voted else None,
              row["tmdb_user_score_normalized_percent"])
        check(wrong_vs_truth, key, "imdb %", truth["imdb"] and truth["imdb"]["rating"] * 10,
              row["imdb_user_score_normalized_percent"])
        check(wrong_vs_truth, key, "links", {(c, p, t) for c, t, p in truth["tmdb"]["offers"]},
              {k for k, current in links_of(serving_db, *key).items() if current})
        check(wrong_vs_truth, key, "countries", sorted({c for c, _, _ in truth["tmdb"]["offers"]}),
              row["streaming_country_codes"])
        # Guessed sources: equal to what was stored (a guess can land on a same-title twin), and to the truth.
        mc, rt, tv = ok("metacritic", key), ok("rotten_tomatoes", key), ok("tvtropes", key)
        mc, rt, tv = (MetacriticScores(**mc) if mc else None, RottenTomatoesScores(**rt) if rt else None,
                      TropesPage(**tv) if tv else None)
        imdb = ImdbRating(**ok("imdb_ratings", key)) if ok("imdb_ratings", key) else None
        for field, expected in (
            ("runtime", details.runtime), ("imdb_id", details.imdb_id),
            ("imdb_user_score_rating_count", imdb and imdb.votes),
            ("metacritic_meta_score_original", mc and mc.metascore),
            ("metacritic_meta_score_review_count", mc and mc.critic_count),
            ("metacritic_user_score_normalized_percent", mc and mc.user_score is not None and mc.user_score * 10 or None),
            ("rotten_tomatoes_tomato_score_original", rt and rt.tomatometer),
            ("rotten_tomatoes_audience_score_original", rt and rt.audience_score),
            ("rotten_tomatoes_audience_score_rating_count", rt and rt.audience_count),
            ("rotten_tomatoes_url", rt and rt.url), ("metacritic_url", mc and mc.url),
            ("trope_names", sorted(tv.tropes) if tv else []),
            ("dna_label_ids", sorted(label_ids.get(key, []))),
        ):
            actual = sorted(row[field]) if field == "trope_names" else row[field]
            check(wrong_vs_documents, key, field, expected, actual)
        for source, field, column in (("metacritic", "metascore", "metacritic_meta_score_original"),
                                      ("rotten_tomatoes", "tomatometer", "rotten_tomatoes_tomato_score_original"),
                                      ("rotten_tomatoes", "audience_score", "rotten_tomatoes_audience_score_original")):
            if ok(source, key):  # (a page stored for a title with none upstream is a twin's: its score is wrong)
                check(wrong_vs_truth, key, column, truth[source][field] if truth[source] else None, row[column])
        aggregates = expected_aggregates(row)
        for name, column in (("user", "aggregated_user_score_normalized_percent"),
                             ("user_count", "aggregated_user_score_rating_count"),
                             ("official", "aggregated_official_score_normalized_percent"),
                             ("official_count", "aggregated_official_score_review_count"),
                             ("overall", "aggregated_overall_score_normalized_percent"),
                             ("overall_count", "aggregated_overall_score_voting_count")):
            check(wrong_vs_documents, key, column, aggregates[name], row[column])
    described = sum(1 for key in keys if label_ids.get(key))
    print(f"\nvalues compared {compared}; wrong against the documents {len(wrong_vs_documents)}, against the truth "
          f"{len(wrong_vs_truth)}: {wrong_vs_truth[:3]}; titles with DNA labels {described} of {len(keys)}")
    assert compared > 8_000
    assert wrong_vs_documents == []
    assert len(wrong_vs_truth) <= 0.005 * compared  # guessed pages of same-title, same-year twins only
    assert described >= 0.95 * len(keys)
    with serving_db.connect() as conn:
        providers = dict(conn.execute("SELECT provider_id, name FROM streaming_providers").fetchall())
    offered = {p for e in present for _, _, p in title_truth(catalog, e)["tmdb"]["offers"]}
    assert providers == {pid: name for pid, name, _ in PROVIDERS if pid in offered}
    store.close()


def test_a_second_combine_with_no_changes_writes_nothing(serving_pipeline, serving_db):
    store = PostgresDocumentStore(serving_db)
    before = snapshot(serving_db)
    with serving_db.connect() as conn:
        stamps = conn.execute("SELECT max(updated_at) FROM movies").fetchone()[0]
    again = combine_all(serving_db, store)
    assert again.changed_titles == 0 and written(again) == 0
    full = combine_all(serving_db, store, full=True)  # every title recombined: still nothing differs
    assert full.changed_titles > 250 and written(full) == 0
    assert snapshot(serving_db) == before
    with serving_db.connect() as conn:
        assert conn.execute("SELECT max(updated_at) FROM movies").fetchone()[0] == stamps
    store.close()


