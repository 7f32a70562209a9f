"""The serving tables' combine on synthetic documents: incremental and idempotent, links that vanish and return,
values an upstream lost, and both document-store backends. (End to end against the replica's truth:
``end_to_end/test_serving_pipeline``; a combine interrupted mid-way, killed or with its database stopped:
``end_to_end/test_fault_suite``.)"""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
import pytest

from goodwatch_assets.lib.embedding import Embedder
from goodwatch_assets.lib.synth import catalog_chunk, synthesize
from goodwatch_assets.models.queue import FetchedDocument, Status
from goodwatch_assets.models.records import ImdbRating, MetacriticScores, RottenTomatoesScores, TitleDetails, TropesPage
from goodwatch_assets.models.shards import shard_of
from goodwatch_assets.stores import combine
from goodwatch_assets.stores.combine import Combine
from goodwatch_assets.stores.dna_index import DnaIndex, IndexedTitle
from goodwatch_assets.stores.documents import utc_now
from goodwatch_assets.stores.mongo_documents import MongoDocumentStore
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.helpers import (
    clear_serving,
    close,
    combine_all,
    expected_aggregates,
    links_of,
    mongo_database,
    row_of,
    snapshot,
    written,
)

# -- incremental behaviour on synthetic documents -----------------------------------------------------------------

def rewrite(store, source: str, media: str, tmdb_id: int, **changes) -> None:
    """Store a document again with some record fields changed (``status`` too, when given)."""
    document = store.get_many(source, [(media, tmdb_id)])[(media, tmdb_id)]
    status = changes.pop("status", Status.OK)
    record = {**document.record, **changes}
    store.upsert(source, [FetchedDocument(media, tmdb_id, record, record, status=status)])


def test_only_changed_titles_are_read_and_a_vanished_link_becomes_obsolete_then_returns(serving_tables_db):
    store = PostgresDocumentStore(serving_tables_db)
    synthesize(store, movies=400, shows=100, links=4_000)
    first = combine_all(serving_tables_db, store)
    assert (first.changed_titles, first.rows_inserted) == (500, 500) and first.links_inserted > 3_500
    movie = store.get_many("tmdb_details", [("movie", 7)])[("movie", 7)].record
    assert len(movie["offers"]) >= 2
    gone, kept = movie["offers"][0], movie["offers"][1:]
    gone_key = (gone["country"], gone["provider_id"], gone["type"])

    rewrite(store, "tmdb_details", "movie", 7, offers=kept)
    stats = Combine(serving_tables_db, store).combine_partition("movie", shard_of(7))
    assert (stats.changed_titles, stats.rows_updated, stats.links_obsoleted, stats.links_inserted) == (1, 1, 1, 0)
    links = links_of(serving_tables_db, "movie", 7)
    assert links[gone_key] is False and sum(links.values()) == len(kept)  # kept, marked obsolete
    assert row_of(serving_tables_db, "movie", 7)["streaming_country_codes"] == sorted({o["country"] for o in kept})

    rewrite(store, "tmdb_details", "movie", 7, offers=movie["offers"])
    stats = Combine(serving_tables_db, store).combine_partition("movie", shard_of(7))
    assert (stats.links_updated, stats.links_inserted, stats.links_obsoleted) == (1, 0, 0)  # revived, not re-inserted
    assert links_of(serving_tables_db, "movie", 7)[gone_key] is True
    assert row_of(serving_tables_db, "movie", 7)["streaming_country_codes"] == sorted({o["country"] for o in movie["offers"]})
    store.close()


def test_a_source_that_lost_a_value_keeps_the_stored_one_and_a_new_value_replaces_it(serving_tables_db):
    store = PostgresDocumentStore(serving_tables_db)
    synthesize(store, movies=300, shows=0, links=1_000)
    combine_all(serving_tables_db, store)
    key = next(k for k, d in store.get_many("rotten_tomatoes", [("movie", i) for i in range(1, 300)]).items()
               if d.status is Status.OK)
    before = row_of(serving_tables_db, *key)
    assert before["rotten_tomatoes_audience_score_original"] is not None

    rewrite(store, "rotten_tomatoes", *key, audience_score=None, audience_count=None)  # the page lost its score
    rewrite(store, "tvtropes", *key, tropes=[]) if store.get_many("tvtropes", [key]) else None
    Combine(serving_tables_db, store).combine_partition(key[0], shard_of(key[1]))
    after = row_of(serving_tables_db, *key)
    assert after["rotten_tomatoes_audience_score_original"] == before["rotten_tomatoes_audience_score_original"]
    assert after["aggregated_overall_score_normalized_percent"] == before["aggregated_overall_score_normalized_percent"]
    assert after["trope_names"] == before["trope_names"]

    new_score = (before["rotten_tomatoes_audience_score_original"] + 7) % 101
    rewrite(store, "rotten_tomatoes", *key, audience_score=new_score)
    Combine(serving_tables_db, store).combine_partition(key[0], shard_of(key[1]))
    changed = row_of(serving_tables_db, *key)
    assert changed["rotten_tomatoes_audience_score_original"] == new_score
    assert close(changed["aggregated_user_score_normalized_percent"],
                 expected_aggregates(changed)["user"])
    assert changed["rotten_tomatoes_updated_at"] > before["rotten_tomatoes_updated_at"]
    store.close()


@pytest.mark.parametrize("status", [Status.NOT_FOUND, Status.DUPLICATE])
def test_a_page_that_was_not_the_titles_empties_its_columns(serving_tables_db, status):
    """A page-finding source disowns a title (its page is gone, or another title holds it): nothing of the page stays
    in the title's row, so a remake never keeps showing its namesake's scores."""
    store = PostgresDocumentStore(serving_tables_db)
    synthesize(store, movies=300, shows=0, links=0)
    combine_all(serving_tables_db, store)
    key = next(k for k, d in store.get_many("rotten_tomatoes", [("movie", i) for i in range(1, 300)]).items()
               if d.status is Status.OK and d.record.get("tomatometer") is not None)
    before = row_of(serving_tables_db, *key)
    assert before["rotten_tomatoes_tomato_score_original"] is not None and before["rotten_tomatoes_url"]

    if status is Status.DUPLICATE:
        holder = next(k for k in store.get_many("rotten_tomatoes", [("movie", i) for i in range(1, 300)]) if k != key)
        document = store.get_many("rotten_tomatoes", [key])[key]
        url = document.record["url"]
        store.upsert("rotten_tomatoes", [FetchedDocument(*key, document.payload, document.record, source_url=url)])
        assert store.mark_duplicates("rotten_tomatoes", url, [key], holder, until=store.clock()) == 1
    else:
        store.upsert("rotten_tomatoes", [FetchedDocument(*key, None, {"not_found": "no page upstream"},
                                                         status=Status.NOT_FOUND)])
    Combine(serving_tables_db, store).combine_partition(key[0], shard_of(key[1]))
    after = row_of(serving_tables_db, *key)
    rotten = [name for name in after if name.startswith("rotten_tomatoes_") and not name.endswith("_updated_at")]
    assert all(after[name] is None for name in rotten), {name: after[name] for name in rotten}
    assert close(after["aggregated_official_score_normalized_percent"], expected_aggregates(after)["official"])
    assert after["title"] == before["title"] and after["metacritic_url"] == before["metacritic_url"]
    store.close()


def test_a_tmdb_average_without_votes_is_no_score(serving_tables_db):
    store = PostgresDocumentStore(serving_tables_db)
    synthesize(store, movies=20, shows=0, links=0)
    rewrite(store, "tmdb_details", "movie", 3, vote_average=0.0, vote_count=0)
    combine_all(serving_tables_db, store)
    row = row_of(serving_tables_db, "movie", 3)
    assert row["tmdb_user_score_normalized_percent"] is None and row["tmdb_user_score_rating_count"] == 0
    store.close()


def test_titles_without_details_wait_and_get_every_source_when_details_arrive(serving_tables_db):
    store = PostgresDocumentStore(serving_tables_db)
    frames = catalog_chunk("movie", 1, 41, seed=4, offers_per_title=3)
    for source in ("imdb_ratings", "rotten_tomatoes"):
        store.upsert_frame(source, frames[source])
    assert written(combine_all(serving_tables_db, store)) == 0  # scores alone make no row
    store.upsert_frame("tmdb_details", frames["tmdb_details"])
    combine_all(serving_tables_db, store)
    with serving_tables_db.connect() as conn:
        rows, with_rt = conn.execute("SELECT count(*), count(rotten_tomatoes_audience_score_original) FROM movies").fetchone()
    assert (rows, with_rt) == (40, frames["rotten_tomatoes"].height)
    store.close()


def test_synthetic_records_pass_the_schema_gate():
    frames = catalog_chunk("tv", 1, 201, seed=2, offers_per_title=8)
    models = {"tmdb_details": TitleDetails, "imdb_ratings": ImdbRating, "metacritic": MetacriticScores,
              "rotten_tomatoes": RottenTomatoesScores, "tvtropes": TropesPage}
    for source, model in models.items():
        for text in frames[source]["record"]:
            model(**orjson.loads(text))
    assert frames["offer_count"] == sum(len(orjson.loads(t)["offers"]) for t in frames["tmdb_details"]["record"])
    offers = [orjson.loads(t)["offers"] for t in frames["tmdb_details"]["record"]]
    assert all(len({(o["country"], o["provider_id"], o["type"]) for o in title}) == len(title) for title in offers)


# -- a first combine: titles and links none of which is stored -------------------------------------------------------

def test_titles_and_links_none_of_which_is_stored_are_inserted_as_the_merge_would_write_them(
        serving_tables_db, document_store, monkeypatch):
    """A partition's first combine inserts its rows and links without conflict checks, probes of stored rows or
    staged offers: the same tables, values and counts as the merge path gives on the same documents (forced here),
    on either document store, with duplicate offers, disowning pages and titles without details among them."""
    synthesize(document_store, movies=300, shows=60, links=3_000, chunk_titles=64)
    offers = document_store.get_many("tmdb_details", [("movie", 7)])[("movie", 7)].record["offers"]
    rewrite(document_store, "tmdb_details", "movie", 7, offers=[*offers, {**offers[0], "display_priority": 99}])
    for tmdb_id, status in ((11, Status.NOT_FOUND), (12, Status.DUPLICATE)):
        if document_store.get_many("rotten_tomatoes", [("movie", tmdb_id)]):
            rewrite(document_store, "rotten_tomatoes", "movie", tmdb_id, status=status)
    document_store.upsert("tmdb_details", [FetchedDocument("tv", 5, None, {"not_found": "gone"}, status=Status.NOT_FOUND)])

    inserted = combine_all(serving_tables_db, document_store, full=True)
    assert "links obsoleted" not in inserted.seconds  # no merge ran: nothing was stored
    first = snapshot(serving_tables_db)
    clear_serving(serving_tables_db)
    monkeypatch.setattr(combine, "_any_stored", lambda cur, table: (True, True))
    merged = combine_all(serving_tables_db, document_store, full=True)
    assert "links obsoleted" in merged.seconds
    assert merged == inserted and inserted.rows_inserted == 359 and inserted.links_inserted > 2_500
    assert snapshot(serving_tables_db) == first
    assert len(links_of(serving_tables_db, "movie", 7)) == len(offers)  # the duplicate offer is one link


# -- every document-store backend ------------------------------------------------------------------------------------

def test_both_backends_give_the_same_serving_tables(serving_tables_db):
    """On PostgreSQL the combine joins the documents in place; on MongoDB it stages them first: the same rows."""
    client, database = mongo_database()
    stores = [PostgresDocumentStore(serving_tables_db),
              MongoDocumentStore(database, visibility_lag=timedelta(0), server_clock=utc_now)]
    results = {}
    try:
        for store in stores:
            synthesize(store, movies=150, shows=50, links=1_500, chunk_titles=64)
            first = combine_all(serving_tables_db, store)
            synthesize(store, movies=150, shows=50, links=1_500, revision=1, changed_share=0.2, chunk_titles=64)
            changed = combine_all(serving_tables_db, store)
            assert first.rows_inserted == 200 and 20 <= changed.rows_updated == changed.changed_titles <= 70
            results[store.backend] = (first, changed, strip_update_times(snapshot(serving_tables_db)))
            clear_serving(serving_tables_db)
    finally:
        stores[0].close()
        client.drop_database(database.name)
        client.close()
    assert results["postgres"] == results["mongodb"]


def strip_update_times(tables: dict[str, list[tuple]]) -> dict[str, list[tuple]]:
    """Per-source *_updated_at are when each backend stored a document: drop them to compare backends."""
    return {name: [tuple(v for v in row if not isinstance(v, datetime)) for row in rows] for name, rows in tables.items()}


def test_dna_linked_after_the_combine_reaches_the_serving_row_at_once(serving_tables_db):
    with serving_tables_db.connect() as conn:
        conn.execute("TRUNCATE title_dna, title_vectors, dna_labels CASCADE")
    store = PostgresDocumentStore(serving_tables_db)
    synthesize(store, movies=10, shows=0, links=0)
    combine_all(serving_tables_db, store)
    assert row_of(serving_tables_db, "movie", 4)["dna_label_ids"] == []
    DnaIndex(serving_tables_db, Embedder()).write_titles(
        [IndexedTitle("movie", 4, "A title", 2001, {"Mood": ["Tense", "Bleak"], "Place": ["Lighthouse"]})])
    with serving_tables_db.connect() as conn:
        linked = sorted(i for (i,) in conn.execute("SELECT label_id FROM title_dna WHERE tmdb_id = 4").fetchall())
    assert len(linked) == 3 and row_of(serving_tables_db, "movie", 4)["dna_label_ids"] == linked
    store.close()
