"""The document-store contract, run against every backend (see ``conftest.document_store``)."""

from __future__ import annotations

import multiprocessing
import random
import re
from datetime import UTC, datetime, timedelta

import orjson
import polars as pl
import pytest

from goodwatch_assets.models.queue import FetchedDocument, QueueEntry, RetryPolicy, Status
from goodwatch_assets.models.shards import shard_of
from goodwatch_assets.stores.documents import (
    CatalogSync,
    DocumentStoreError,
    UpsertOutcome,
    lookup_documents,
    lookup_table,
    payload_hash,
)
from goodwatch_assets_tests.helpers import REAL_MONGODB_URI, settle

SOURCE = "tmdb_details"
LEASE = timedelta(minutes=10)
REFRESH = timedelta(days=7)


def ids_in_shard(shard: int, count: int, start: int = 1) -> list[int]:
    """The first ``count`` tmdb ids (from ``start``) that fall into ``shard``."""
    found, tmdb_id = [], start
    while len(found) < count:
        if shard_of(tmdb_id) == shard:
            found.append(tmdb_id)
        tmdb_id += 1
    return found


def doc(tmdb_id: int, payload, media: str = "movie", **kw) -> FetchedDocument:
    return FetchedDocument(media=media, tmdb_id=tmdb_id, payload=payload, **kw)


def reserve(store, shard: int, limit: int = 10, media: str = "movie"):
    return store.reserve(SOURCE, media=media, shard=shard, limit=limit, refresh_age=REFRESH, lease=LEASE)


# -- upsert and change detection ---------------------------------------------------------------


def test_upsert_reports_inserted_changed_and_unchanged(document_store, clock):
    first = document_store.upsert(SOURCE, [doc(1, {"title": "A", "score": 7}), doc(2, {"title": "B"})])
    assert (first.inserted, first.changed, first.unchanged) == (2, 0, 0)
    before = document_store.get_many(SOURCE, [("movie", 1), ("movie", 2)])

    clock.advance(hours=1)
    settle()
    # Same payload with keys in another order: unchanged. A different payload: changed.
    second = document_store.upsert(SOURCE, [doc(1, {"score": 7, "title": "A"}), doc(2, {"title": "B2"})])
    assert (second.inserted, second.changed, second.unchanged) == (0, 1, 1)

    after = document_store.get_many(SOURCE, [("movie", 1), ("movie", 2)])
    assert after[("movie", 1)].changed_at == before[("movie", 1)].changed_at  # unchanged: changed_at stays
    assert after[("movie", 1)].fetched_at == clock.now  # ... but it was fetched again
    assert after[("movie", 2)].payload == {"title": "B2"}
    assert after[("movie", 2)].changed_at > before[("movie", 2)].changed_at


def test_upsert_counts_a_queued_title_found_to_have_nothing_as_unchanged(document_store):
    document_store.enqueue(SOURCE, [QueueEntry("movie", 1), QueueEntry("movie", 2)])
    outcome = document_store.upsert(SOURCE, [FetchedDocument("movie", 1, None, {"not_found": "no page upstream"},
                                                             status=Status.NOT_FOUND), doc(2, {"title": "B"})])
    assert (outcome.inserted, outcome.changed, outcome.unchanged) == (0, 1, 1)  # no payload before, none now
    assert outcome.written == 2


def test_upsert_keeps_every_field_and_the_last_write_of_a_key_in_a_batch(document_store):
    outcome = document_store.upsert(
        SOURCE,
        [
            doc(5, {"v": 1}),
            doc(5, {"v": 2}, record={"title": "Five"}, source_url="http://127.0.0.1/5", popularity=3.5),
            doc(6, None, media="tv", status=Status.NOT_FOUND),
        ],
        batch_size=2,
    )
    assert outcome.written == 2 and outcome.inserted == 2
    stored = document_store.get_many(SOURCE, [("movie", 5), ("tv", 6), ("movie", 999)])
    five = stored[("movie", 5)]
    assert (five.payload, five.record, five.source_url, five.popularity) == (
        {"v": 2}, {"title": "Five"}, "http://127.0.0.1/5", 3.5,
    )
    assert five.status is Status.OK and five.shard == shard_of(5)
    assert stored[("tv", 6)].status is Status.NOT_FOUND and stored[("tv", 6)].payload is None
    assert ("movie", 999) not in stored


def test_batches_give_the_same_outcome_as_one_write(document_store):
    documents = [doc(i, {"i": i}) for i in range(1, 26)]
    assert document_store.upsert(SOURCE, documents, batch_size=4).inserted == 25
    again = document_store.upsert(SOURCE, documents, batch_size=7)
    assert (again.inserted, again.changed, again.unchanged) == (0, 0, 25)


def test_bad_input_is_refused_and_writes_nothing(document_store):
    with pytest.raises(DocumentStoreError, match="source names"):
        document_store.upsert("Robert'); DROP TABLE", [doc(1, {})])
    with pytest.raises(DocumentStoreError, match="media must be one of"):
        # A bad document in the middle of a batch: the good ones around it are not written either.
        document_store.upsert(SOURCE, [doc(1, {}), doc(2, {}, media="tv"), doc(3, {}, media="book"), doc(4, {})])
    with pytest.raises(DocumentStoreError, match="unknown status"):
        document_store.upsert(SOURCE, [doc(1, {}), doc(2, {}, status="great")])
    with pytest.raises(DocumentStoreError, match="batch size"):
        document_store.upsert(SOURCE, [doc(1, {})], batch_size=0)
    with pytest.raises(DocumentStoreError, match="hint names"):
        document_store.enqueue(SOURCE, [QueueEntry("movie", 1, hints={"title.en": "A"})])
    with pytest.raises(DocumentStoreError, match="lease must be positive"):
        document_store.reserve(SOURCE, media="movie", shard=0, limit=1, refresh_age=REFRESH, lease=timedelta(0))
    assert document_store.get_many(SOURCE, [("movie", 1), ("tv", 2), ("movie", 4)]) == {}


def test_nul_characters_are_stored_as_replacement_characters(document_store):
    outcome = document_store.upsert(SOURCE, [doc(1, {"title": "A\u0000B", "list": ["\u0000"]}), doc(2, {"ok": 1})])
    assert outcome.inserted == 2  # the document with NULs does not sink its batch
    stored = document_store.get_many(SOURCE, [("movie", 1)])[("movie", 1)]
    assert stored.payload == {"title": "A\ufffdB", "list": ["\ufffd"]}


# -- the change feed --------------------------------------------------------------------------


def test_change_feed_returns_only_changes_after_the_watermark(document_store):
    document_store.upsert(SOURCE, [doc(i, {"v": 1}) for i in range(1, 11)])
    settle()
    with document_store.changes(SOURCE, None, batch_size=3) as feed:
        batches = list(feed.batches())
        first_watermark = feed.watermark
    assert sorted(d.tmdb_id for b in batches for d in b) == list(range(1, 11))
    assert max(len(b) for b in batches) <= 3

    # Nothing new: an empty feed.
    with document_store.changes(SOURCE, first_watermark) as feed:
        assert list(feed) == []

    document_store.upsert(SOURCE, [doc(3, {"v": 2}), doc(4, {"v": 1}), doc(11, {"v": 1}, media="tv")])
    settle()
    with document_store.changes(SOURCE, first_watermark) as feed:
        changed = sorted((d.media, d.tmdb_id) for d in feed)
    assert changed == [("movie", 3), ("tv", 11)]  # 4 was rewritten unchanged

    with document_store.changes(SOURCE, first_watermark, media="tv") as feed:
        assert [d.tmdb_id for d in feed] == [11]
    with document_store.changes(SOURCE, None, shard=shard_of(3), media="movie") as feed:
        assert {d.tmdb_id for d in feed} == {i for i in range(1, 11) if shard_of(i) == shard_of(3)}


def test_changed_keys_are_the_change_feed_of_a_partition_without_the_documents(document_store, serving_db):
    shard = 6
    ids = ids_in_shard(shard, 4)
    document_store.upsert(SOURCE, [doc(i, {"v": 1}) for i in ids] + [doc(ids_in_shard(7, 1)[0], {"v": 1})])
    settle()
    watermark, keys = document_store.changed_keys(SOURCE, None, media="movie", shard=shard)
    with document_store.changes(SOURCE, None, media="movie", shard=shard) as feed:
        assert sorted(keys["tmdb_id"]) == sorted(d.tmdb_id for d in feed) == sorted(ids)
    assert keys.schema == {"media": pl.String, "tmdb_id": pl.Int64}
    document_store.upsert(SOURCE, [doc(ids[0], {"v": 2}), doc(ids[1], {"v": 1})])  # one changed, one rewritten
    settle()
    later, changed = document_store.changed_keys(SOURCE, watermark, media="movie", shard=shard)
    assert changed.rows() == [("movie", ids[0])]
    assert document_store.changed_keys(SOURCE, later, media="movie", shard=shard)[1].is_empty()
    # Where a reader in the serving database finds the documents: in place on PostgreSQL, nowhere on MongoDB.
    assert document_store.relation_in(serving_db) == (("raw", "documents") if document_store.backend == "postgres"
                                                      else None)


def test_change_feed_of_another_source_is_separate(document_store):
    document_store.upsert(SOURCE, [doc(1, {"v": 1})])
    document_store.upsert("imdb_ratings", [doc(1, {"rating": 8.1}), doc(2, {"rating": 6.0})])
    settle()
    with document_store.changes("imdb_ratings", None) as feed:
        assert sorted(d.tmdb_id for d in feed) == [1, 2]
    assert document_store.sources() == ["imdb_ratings", SOURCE]


def document_frame(rows: list[tuple]) -> pl.DataFrame:
    """(tmdb_id, payload, record, status) rows of movies as an upsert_frame frame."""
    return pl.DataFrame(
        [("movie", tmdb_id, None if p is None else orjson.dumps(p).decode(), None if r is None else orjson.dumps(r).decode(),
          status) for tmdb_id, p, r, status in rows],
        schema=["media", "tmdb_id", "payload", "record", "status"], orient="row")


def test_upsert_frame_writes_only_what_changed(document_store, clock):
    first = document_frame([(1, {"v": 1}, None, "ok"), (2, {"v": 2}, None, "ok"), (3, {"v": 3}, None, "ok"),
                            (4, {"v": 4, "t": "nul\u0000"}, None, "ok")])
    assert document_store.upsert_frame(SOURCE, first) == UpsertOutcome(inserted=4)
    settle()
    with document_store.changes(SOURCE, None) as feed:
        assert sorted(d.tmdb_id for d in feed) == [1, 2, 3, 4]
        watermark = feed.watermark
    before = document_store.get_many(SOURCE, [("movie", i) for i in (1, 2, 3, 4)])
    assert before[("movie", 4)].payload == {"v": 4, "t": "nul\ufffd"}
    document_store.mark_deleted_except(SOURCE, "movie", [1, 2, 3])
    clock.advance(days=1)
    # 1 as it was, 2 changed, 3 only its record, 4 back from deleted, 5 new; 1 appears twice (the last one counts).
    second = document_frame([(1, {"v": 0}, None, "ok"), (1, {"v": 1}, None, "ok"), (2, {"v": 20}, None, "ok"),
                             (3, {"v": 3}, {"r": 1}, "ok"), (4, {"v": 4, "t": "nul\u0000"}, None, "ok"),
                             (5, None, {"why": "gone"}, "not_found")])
    assert document_store.upsert_frame(SOURCE, second) == UpsertOutcome(inserted=1, changed=1, unchanged=3)
    after = document_store.get_many(SOURCE, [("movie", i) for i in (1, 2, 3, 4, 5)])
    assert after[("movie", 1)].fetched_at == before[("movie", 1)].fetched_at  # not written at all
    assert after[("movie", 2)].payload == {"v": 20} and after[("movie", 2)].fetched_at > before[("movie", 2)].fetched_at
    assert after[("movie", 3)].record == {"r": 1} and after[("movie", 3)].changed_at == before[("movie", 3)].changed_at
    assert after[("movie", 4)].status is Status.OK
    assert after[("movie", 5)].status is Status.NOT_FOUND and after[("movie", 5)].payload is None
    settle()
    with document_store.changes(SOURCE, watermark) as feed:
        assert sorted(d.tmdb_id for d in feed) == [2, 5]
    assert document_store.upsert_frame(SOURCE, second) == UpsertOutcome(unchanged=5)  # idempotent


def test_upsert_lookup_stores_each_catalog_title_found_or_not_found_and_writes_only_what_changed(
        document_store, clock):
    document_store.upsert(SOURCE, [doc(1, {}, record={"imdb_id": "tt01"}), doc(2, {}, record={"imdb_id": "tt02"}),
                                   doc(3, {}, record={"imdb_id": "tt03"}), doc(4, {}, record={}),
                                   doc(5, {}, media="tv", record={"imdb_id": "tt05"})])
    ratings = pl.DataFrame({"imdb_id": ["tt01", "tt02", "tt05", "tt99", "tt02"], "rating": [7.0, 6.5, 8.25, 1.0, 6.1],
                            "votes": [10, 20, 30, 40, 21], "series": [False, False, True, False, False]})

    def lookup(table: pl.DataFrame) -> UpsertOutcome:
        return document_store.upsert_lookup("imdb_ratings", table, key="imdb_id", catalog_source=SOURCE,
                                            missing="not rated")

    assert lookup(ratings) == UpsertOutcome(inserted=4)
    stored = document_store.get_many("imdb_ratings", [("movie", 1), ("movie", 2), ("movie", 3), ("tv", 5)])
    assert stored[("movie", 1)].payload == stored[("movie", 1)].record == {
        "imdb_id": "tt01", "rating": 7.0, "series": False, "votes": 10}
    assert stored[("movie", 2)].payload["votes"] == 21  # a key's last row wins
    assert (stored[("movie", 3)].status, stored[("movie", 3)].payload, stored[("movie", 3)].record) == (
        Status.NOT_FOUND, None, {"imdb_id": "tt03", "not_found": "not rated"})
    assert stored[("tv", 5)].status is Status.OK
    settle()
    with document_store.changes("imdb_ratings", None) as feed:
        watermark = feed.watermark
    clock.advance(days=1)
    # The same documents as upsert_frame writes them from the same rows: nothing differs, nothing is written.
    catalog = document_store.field_values(SOURCE, "imdb_id").rename({"value": "imdb_id"})
    frame = lookup_documents(lookup_table(ratings, "imdb_id"), catalog, "imdb_id", "not rated")
    assert document_store.upsert_frame("imdb_ratings", frame) == UpsertOutcome(unchanged=4)
    changed = ratings.with_columns(votes=pl.when(pl.col("imdb_id") == "tt05").then(31).otherwise(pl.col("votes")))
    assert lookup(changed.filter(pl.col("imdb_id") != "tt01")) == UpsertOutcome(changed=2, unchanged=2)
    after = document_store.get_many("imdb_ratings", [("movie", 1), ("movie", 2)])
    assert after[("movie", 1)].status is Status.NOT_FOUND
    assert after[("movie", 2)].fetched_at == stored[("movie", 2)].fetched_at  # unchanged: not written at all
    settle()
    with document_store.changes("imdb_ratings", watermark) as feed:
        assert sorted(d.key for d in feed) == [("movie", 1), ("tv", 5)]
    with pytest.raises(DocumentStoreError, match="a lookup table needs a text column 'imdb_id'"):
        lookup(ratings.drop("imdb_id"))


def test_a_later_lookup_with_other_columns_stores_its_own_rows(document_store):
    document_store.upsert(SOURCE, [doc(1, {}, record={"imdb_id": "tt01"})])

    def lookup(table: pl.DataFrame) -> dict:
        document_store.upsert_lookup("imdb_ratings", table, key="imdb_id", catalog_source=SOURCE, missing="none")
        return document_store.get_many("imdb_ratings", [("movie", 1)])[("movie", 1)].payload

    assert lookup(pl.DataFrame({"imdb_id": ["tt01"], "votes": [10], "year": [1999]})) == {
        "imdb_id": "tt01", "votes": 10, "year": 1999}
    # The same columns in another order, then others: each value stays under its own name.
    assert lookup(pl.DataFrame({"imdb_id": ["tt01"], "year": [1999], "votes": [10]})) == {
        "imdb_id": "tt01", "votes": 10, "year": 1999}
    assert lookup(pl.DataFrame({"rank": [3], "imdb_id": ["tt01"]})) == {"imdb_id": "tt01", "rank": 3}


def test_upsert_frame_checks_the_whole_frame_before_writing(document_store):
    bad_media = document_frame([(1, {"v": 1}, None, "ok")]).vstack(
        pl.DataFrame([("film", 2, "{}", None, "ok")], schema=["media", "tmdb_id", "payload", "record", "status"],
                     orient="row"))
    with pytest.raises(DocumentStoreError, match="media must be one of"):
        document_store.upsert_frame(SOURCE, bad_media)
    with pytest.raises(DocumentStoreError, match="unknown statuses"):
        document_store.upsert_frame(SOURCE, document_frame([(1, {"v": 1}, None, "ok"), (2, {}, None, "done")]))
    assert document_store.count_by_status(SOURCE) == {}


@pytest.mark.parametrize(("rows", "problem"), [
    ([("movie", 1, '{"v": 1}', None, "ok"), ("movie", 2, '{"v": ', None, "ok")], "the payload of movie 2 is not JSON"),
    ([("movie", 1, "{}", "[1, 2]", "ok")], "the record of movie 1 is not a JSON object"),
    ([("movie", 0, "{}", None, "ok")], "tmdb ids are whole numbers from 1 to 2147483647"),
    ([("movie", 2**31, "{}", None, "ok")], "tmdb ids are whole numbers from 1 to 2147483647"),
])
def test_a_bad_document_frame_is_named_and_writes_nothing(document_store, rows, problem):
    frame = pl.DataFrame(rows, schema=["media", "tmdb_id", "payload", "record", "status"], orient="row")
    with pytest.raises(DocumentStoreError, match=problem):
        document_store.upsert_frame(SOURCE, frame)
    assert document_store.count_by_status(SOURCE) == {}


@pytest.mark.parametrize(("hints", "problem"), [
    ('{"a.b": 1}', "hint names are identifiers"), ("[1, 2]", "the hints of movie 2 is not a JSON object"),
    ('{"x": ', "the hints of movie 2 is not JSON"),
])
def test_bad_hints_in_a_catalog_are_named_and_write_nothing(document_store, hints, problem):
    frame = pl.DataFrame({"tmdb_id": [1, 2], "hints": ['{"ok": 1}', hints]})
    with pytest.raises(DocumentStoreError, match=re.escape(problem)):
        document_store.sync_catalog(SOURCE, "movie", frame)
    assert document_store.count_by_status(SOURCE) == {}


def test_shorter_hints_replace_longer_ones(document_store):
    document_store.enqueue(SOURCE, [QueueEntry("movie", 1, hints={"titles": ["Alien", "Wrong Title"], "year": 1979})])
    document_store.enqueue(SOURCE, [QueueEntry("movie", 1, hints={"titles": ["Alien"]})])
    assert document_store.get_many(SOURCE, [("movie", 1)])[("movie", 1)].hints == {"titles": ["Alien"], "year": 1979}
    document_store.sync_catalog(SOURCE, "movie", pl.DataFrame({"tmdb_id": [1], "hints": ['{"titles": []}']}))
    assert document_store.get_many(SOURCE, [("movie", 1)])[("movie", 1)].hints == {"titles": [], "year": 1979}


def test_sync_catalog_queues_the_list_refreshes_popularity_revives_and_deletes(document_store):
    frame = pl.DataFrame({"tmdb_id": [1, 2, 3], "popularity": [5.0, 4.0, 3.0],
                          "hints": ['{"export": {"title": "One"}}', None, None]})
    assert document_store.sync_catalog(SOURCE, "movie", frame) == CatalogSync(new=3, deleted=0)
    document_store.enqueue(SOURCE, [QueueEntry("tv", 1)])  # another media type is not part of the list
    document_store.upsert(SOURCE, [doc(2, {"v": 2})])
    assert document_store.sync_catalog(SOURCE, "movie", frame.filter(pl.col("tmdb_id") == 1)) == CatalogSync(0, 2)
    assert document_store.sync_catalog(SOURCE, "movie", frame.with_columns(popularity=pl.lit(9.0))) == CatalogSync(0, 0)
    stored = document_store.get_many(SOURCE, [("movie", i) for i in (1, 2, 3)] + [("tv", 1)])
    assert {(k, d.status, d.popularity) for k, d in stored.items()} == {
        (("movie", 1), Status.PENDING, 9.0), (("movie", 2), Status.OK, 9.0), (("movie", 3), Status.PENDING, 9.0),
        (("tv", 1), Status.PENDING, None)}
    assert stored[("movie", 1)].hints == {"export": {"title": "One"}}
    with pytest.raises(DocumentStoreError, match="media must be one of"):
        document_store.sync_catalog(SOURCE, "film", frame)
    document_store.mark_deleted_except(SOURCE, "movie", [])
    assert document_store.enqueue(SOURCE, [QueueEntry("movie", 3)]) == 0  # the row-by-row enqueue revives too
    assert document_store.get_many(SOURCE, [("movie", 3)])[("movie", 3)].status is Status.PENDING


def test_titles_absent_from_an_export_are_marked_deleted_not_dropped(document_store, clock):
    document_store.upsert(SOURCE, [doc(i, {"v": i}) for i in (1, 2, 3, 4)] + [doc(9, {"v": 9}, media="tv")])
    assert document_store.mark_deleted_except(SOURCE, "movie", [1, 3]) == 2
    assert document_store.mark_deleted_except(SOURCE, "movie", [1, 3]) == 0  # idempotent
    stored = document_store.get_many(SOURCE, [("movie", 2), ("movie", 3), ("tv", 9)])
    assert stored[("movie", 2)].status is Status.DELETED and stored[("movie", 2)].payload == {"v": 2}
    assert stored[("movie", 3)].status is Status.OK and stored[("tv", 9)].status is Status.OK
    clock.advance(days=REFRESH.days + 1)
    assert 2 not in [r.tmdb_id for r in reserve(document_store, shard_of(2))]  # deleted titles are never due
    document_store.upsert(SOURCE, [doc(2, {"v": 2})])  # back in the export: revived
    assert document_store.get_many(SOURCE, [("movie", 2)])[("movie", 2)].status is Status.OK


def test_field_values_reads_one_record_field_across_the_source(document_store):
    assert document_store.field_values(SOURCE, "imdb_id").rows() == []
    document_store.upsert(SOURCE, [doc(1, {}, record={"imdb_id": "tt0000001"}), doc(2, {}, record={"imdb_id": None}),
                                   doc(3, {}, record={"title": "x"}), doc(4, {}, media="tv", record={"imdb_id": "tt0000004"})])
    values = document_store.field_values(SOURCE, "imdb_id").sort("media", "tmdb_id")
    assert values.rows() == [("movie", 1, "tt0000001"), ("tv", 4, "tt0000004")]
    document_store.upsert(SOURCE, [doc(5, {}, record={"rating": 7.5}), doc(6, {}, record={"rating": 10, "ok": True})])
    assert sorted(document_store.field_values(SOURCE, "rating").rows()) == [("movie", 5, "7.5"), ("movie", 6, "10")]
    assert document_store.field_values(SOURCE, "ok").rows() == [("movie", 6, "true")]
    one_partition = document_store.field_values(SOURCE, "imdb_id", media="tv", shard=shard_of(4))
    assert one_partition.rows() == [("tv", 4, "tt0000004")]  # a catalog partition's values only
    assert document_store.field_values(SOURCE, "imdb_id", media="movie", shard=shard_of(4)).rows() == (
        [("movie", 1, "tt0000001")] if shard_of(1) == shard_of(4) else [])


def test_fetch_ages_at_quantiles(document_store, clock):
    assert document_store.fetch_ages(SOURCE) == {0.5: None, 0.9: None, 1.0: None}
    for tmdb_id in range(1, 11):  # fetched 10, 9, ..., 1 days ago
        document_store.upsert(SOURCE, [doc(tmdb_id, {"v": 1})])
        clock.advance(days=1)
    ages = document_store.fetch_ages(SOURCE, (0.5, 0.9, 1.0))
    assert ages == {0.5: timedelta(days=5), 0.9: timedelta(days=9), 1.0: timedelta(days=10)}
    oldest_shard = document_store.fetch_ages(SOURCE, (1.0,), media="movie", shard=shard_of(1))
    in_shard = [i for i in range(1, 11) if shard_of(i) == shard_of(1)]
    assert oldest_shard == {1.0: timedelta(days=11 - min(in_shard))}  # a catalog partition's documents only
    assert document_store.fetch_ages(SOURCE, (1.0,), media="tv", shard=shard_of(1)) == {1.0: None}


# -- counts -----------------------------------------------------------------------------------


def test_count_by_status(document_store):
    document_store.enqueue(SOURCE, [QueueEntry("movie", i) for i in range(1, 6)] + [QueueEntry("tv", 9)])
    document_store.upsert(SOURCE, [doc(1, {"v": 1}), doc(2, None, status=Status.NOT_FOUND)])
    document_store.quarantine(SOURCE, ("movie", 3), "title did not match", "<html>")
    assert document_store.count_by_status(SOURCE) == {"ok": 1, "not_found": 1, "quarantined": 1, "pending": 3}
    assert document_store.count_by_status(SOURCE, media="tv") == {"pending": 1}
    assert sum(document_store.count_by_status(SOURCE, shard=shard_of(1)).values()) == sum(
        1 for i in (1, 2, 3, 4, 5, 9) if shard_of(i) == shard_of(1)
    )


# -- the work queue ---------------------------------------------------------------------------


def test_enqueue_counts_new_titles_and_never_touches_fetched_data(document_store):
    first = [QueueEntry("movie", 1, 5.0, {"imdb_id": "tt1"}), QueueEntry("movie", 2)]
    assert document_store.enqueue(SOURCE, first) == 2
    document_store.upsert(SOURCE, [doc(1, {"v": 1})])
    assert document_store.enqueue(SOURCE, [QueueEntry("movie", 1, 9.0, {"year": 1999}), QueueEntry("movie", 3)]) == 1
    one = document_store.get_many(SOURCE, [("movie", 1)])[("movie", 1)]
    assert one.payload == {"v": 1} and one.status is Status.OK
    assert one.popularity == 9.0 and one.hints == {"imdb_id": "tt1", "year": 1999}


def test_reserve_takes_never_fetched_by_popularity_then_least_recently_fetched(document_store, clock):
    shard = 3
    a, b, c, d, e = ids_in_shard(shard, 5)
    other_shard = ids_in_shard(4, 1)[0]
    document_store.enqueue(
        SOURCE,
        [QueueEntry("movie", a, 1.0), QueueEntry("movie", b, 50.0), QueueEntry("movie", other_shard, 99.0)],
    )
    document_store.upsert(SOURCE, [doc(c, {"v": 1})])
    clock.advance(days=1)
    document_store.upsert(SOURCE, [doc(d, {"v": 1})])
    clock.advance(days=1)
    document_store.upsert(SOURCE, [doc(e, {"v": 1})])  # fetched just now: not due
    clock.advance(days=REFRESH.days - 1, hours=1)  # c and d are now older than the refresh age; e is not

    taken = reserve(document_store, shard, limit=10)
    assert [r.tmdb_id for r in taken] == [b, a, c, d]
    assert all(r.reserved_until == clock.now + LEASE for r in taken)
    assert reserve(document_store, shard) == []  # all reserved


def test_reserve_only_given_titles_takes_them_however_recently_fetched(document_store, clock):
    a, b, c, d = ids_in_shard(2, 4)
    document_store.enqueue(SOURCE, [QueueEntry("movie", i, float(i)) for i in (a, b, c)])
    document_store.upsert(SOURCE, [doc(b, {"v": 1}), doc(d, {"v": 1})])  # b and d fetched just now
    clock.advance(seconds=1)
    taken = document_store.reserve(SOURCE, media="movie", shard=2, limit=10, refresh_age=timedelta(0), lease=LEASE,
                                   only=[b, c, d])
    assert sorted(r.tmdb_id for r in taken) == sorted([b, c, d])  # never fetched or fetched a second ago: both due
    assert document_store.reserve(SOURCE, media="movie", shard=2, limit=10, refresh_age=timedelta(0), lease=LEASE,
                                  only=[b, c, d]) == []  # reserved
    assert [r.tmdb_id for r in reserve(document_store, 2, limit=10)] == [a]  # the rest of the queue is untouched


def test_reserve_respects_the_limit_and_media(document_store):
    ids = ids_in_shard(0, 6)
    document_store.enqueue(SOURCE, [QueueEntry("movie", i, float(i)) for i in ids] + [QueueEntry("tv", ids[0])])
    first = reserve(document_store, 0, limit=4)
    second = reserve(document_store, 0, limit=4)
    assert [r.tmdb_id for r in first] == sorted(ids, reverse=True)[:4]
    assert len(second) == 2 and not {r.tmdb_id for r in first} & {r.tmdb_id for r in second}
    assert [r.key for r in reserve(document_store, 0, media="tv")] == [("tv", ids[0])]


def test_an_expired_reservation_is_taken_again(document_store, clock):
    (tmdb_id,) = ids_in_shard(1, 1)
    document_store.enqueue(SOURCE, [QueueEntry("movie", tmdb_id)])
    assert [r.tmdb_id for r in reserve(document_store, 1)] == [tmdb_id]
    clock.advance(minutes=9)
    assert reserve(document_store, 1) == []  # lease still running
    clock.advance(minutes=2)  # the run that took it crashed: its lease ran out
    again = reserve(document_store, 1)
    assert [r.tmdb_id for r in again] == [tmdb_id] and again[0].reserved_until == clock.now + LEASE


def test_release_makes_titles_due_again_without_an_attempt(document_store):
    ids = ids_in_shard(2, 3)
    document_store.enqueue(SOURCE, [QueueEntry("movie", i) for i in ids])
    taken = reserve(document_store, 2)
    assert document_store.release(SOURCE, [r.key for r in taken]) == 3
    again = reserve(document_store, 2)
    assert sorted(r.tmdb_id for r in again) == ids and all(r.attempts == 0 for r in again)


def test_upsert_ends_the_reservation_and_resets_attempts(document_store, clock):
    (tmdb_id,) = ids_in_shard(5, 1)
    document_store.enqueue(SOURCE, [QueueEntry("movie", tmdb_id)])
    reserve(document_store, 5)
    document_store.fail(SOURCE, ("movie", tmdb_id), "HTTP 503", policy=RetryPolicy())
    clock.advance(days=1)
    reserve(document_store, 5)
    document_store.upsert(SOURCE, [doc(tmdb_id, {"v": 1})])
    stored = document_store.get_many(SOURCE, [("movie", tmdb_id)])[("movie", tmdb_id)]
    assert (stored.status, stored.attempts, stored.error, stored.reserved_until, stored.next_attempt_at) == (
        Status.OK, 0, None, None, None,
    )


# -- per-title refresh, the negative cache, and the page-finding sources' methods ---------------


def test_a_title_is_due_at_the_date_its_fetch_set_and_lane_two_waits_only_for_the_negative_cache(document_store, clock):
    a, b, c, d = ids_in_shard(7, 4)
    document_store.upsert(SOURCE, [doc(a, {"v": 1}, refresh_after=timedelta(days=2)),  # an airing show
                                   doc(b, {"v": 1}, refresh_after=timedelta(days=30)),  # an old movie
                                   doc(c, None, status=Status.NOT_FOUND, refresh_after=timedelta(days=90)),
                                   doc(d, {"v": 1})])  # no date of its own: the refresh age (7 days)
    clock.advance(days=3)
    assert [r.tmdb_id for r in reserve(document_store, 7)] == [a]
    document_store.release(SOURCE, [("movie", a)])
    clock.advance(days=5)  # day 8
    assert sorted(r.tmdb_id for r in reserve(document_store, 7)) == sorted([a, d])
    only = document_store.reserve(SOURCE, media="movie", shard=7, limit=10, refresh_age=timedelta(0), lease=LEASE,
                                  only=[b, c])
    assert [r.tmdb_id for r in only] == [b]  # lane 2 asks now for a title with a refresh date; never in the cache
    clock.advance(days=83)  # day 91
    assert c in [r.tmdb_id for r in reserve(document_store, 7)]


def test_a_reservation_carries_the_url_of_the_page_its_title_verified(document_store):
    a, b = ids_in_shard(8, 2)
    document_store.upsert(SOURCE, [doc(a, {"v": 1}, source_url="https://site/m/a", refresh_after=timedelta(0)),
                                   doc(b, None, status=Status.NOT_FOUND, source_url="https://site/m/x",
                                       refresh_after=timedelta(0))])
    taken = {r.tmdb_id: r.verified_url for r in reserve(document_store, 8)}
    assert taken == {a: "https://site/m/a", b: None}


def test_merge_hints_changes_known_titles_only_and_reopens_the_negative_cache(document_store, clock):
    a, b, c, d = ids_in_shard(9, 4)
    document_store.enqueue(SOURCE, [QueueEntry("movie", i, hints={"title": f"T{i}"}) for i in (a, b, c)])
    document_store.upsert(SOURCE, [doc(b, None, status=Status.NOT_FOUND, refresh_after=timedelta(days=90)),
                                   doc(c, {"v": 1}, refresh_after=timedelta(days=90))])
    frame = pl.DataFrame({"media": ["movie"] * 4, "tmdb_id": [a, b, c, d],
                          "hints": ['{"wikidata_ids": ["m/a"]}', '{"wikidata_ids": ["m/b"]}', '{"wikidata_ids": []}',
                                    '{"wikidata_ids": ["m/d"]}']})
    assert document_store.merge_hints(SOURCE, frame) == 3  # d is not in the queue: never added
    assert document_store.merge_hints(SOURCE, frame) == 0  # nothing new
    stored = document_store.get_many(SOURCE, [("movie", i) for i in (a, b, c, d)])
    assert ("movie", d) not in stored and stored[("movie", a)].hints == {"title": f"T{a}", "wikidata_ids": ["m/a"]}
    clock.advance(seconds=1)
    assert sorted(r.tmdb_id for r in reserve(document_store, 9)) == sorted([a, b])  # b: a new candidate; c: ok, fresh
    with pytest.raises(DocumentStoreError, match="not a JSON object"):
        document_store.merge_hints(SOURCE, pl.DataFrame({"media": ["movie"], "tmdb_id": [a], "hints": ["[1]"]}))


def test_queued_lists_a_partitions_titles_with_their_hints(document_store):
    a, b = ids_in_shard(10, 2)
    document_store.enqueue(SOURCE, [QueueEntry("movie", a, hints={"title": "A"}), QueueEntry("movie", b),
                                    QueueEntry("tv", a)])
    document_store.mark_deleted_except(SOURCE, "movie", [a])
    queued = document_store.queued(SOURCE, media="movie", shard=10)
    assert queued.columns == ["media", "tmdb_id", "status", "hints"]
    assert [(m, i, st, orjson.loads(h)) for m, i, st, h in queued.rows()] == [("movie", a, "pending", {"title": "A"})]
    assert document_store.queued(SOURCE, media="tv")["tmdb_id"].to_list() == [a]


def test_make_due_makes_fetched_titles_due_at_once(document_store, clock):
    a, b, c = ids_in_shard(11, 3)
    document_store.upsert(SOURCE, [doc(a, {"v": 1}, refresh_after=timedelta(days=30)), doc(b, {"v": 1})])
    document_store.enqueue(SOURCE, [QueueEntry("movie", c)])  # never fetched: due anyway
    assert document_store.make_due(SOURCE, [("movie", a), ("movie", c), ("tv", a)]) == 1
    clock.advance(seconds=1)
    assert sorted(r.tmdb_id for r in reserve(document_store, 11)) == sorted([a, c])


def test_pages_held_by_several_titles_and_the_losers_marked_duplicate(document_store, clock):
    a, b, c = ids_in_shard(12, 3)
    page = "https://site/m/dark_water"
    document_store.upsert(SOURCE, [
        doc(a, {"v": 1}, record={"url": page, "evidence": {"title": "exact"}}, source_url=page),
        doc(b, {"v": 2}, record={"url": page, "evidence": {"title": "exact"}}, source_url=page),
        doc(c, {"v": 3}, record={"url": "https://site/m/x"}, source_url="https://site/m/x")])
    held = document_store.holders(SOURCE, [page, "https://site/m/x", "https://site/m/none"])
    assert {url: sorted(d.tmdb_id for d in docs) for url, docs in held.items()} == {
        page: sorted([a, b]), "https://site/m/x": [c]}
    assert document_store.mark_duplicates(SOURCE, "https://site/m/x", [("movie", b)], ("movie", a), until=clock.now) \
        == 0  # b holds another page now: left alone
    assert document_store.mark_duplicates(SOURCE, page, [("movie", b)], ("movie", a),
                                          until=clock.now + timedelta(days=90)) == 1
    assert document_store.mark_duplicates(SOURCE, page, [("movie", b)], ("movie", a), until=clock.now) == 0  # not ok
    loser = document_store.get_many(SOURCE, [("movie", b)])[("movie", b)]
    assert (loser.status, loser.payload, loser.next_attempt_at) == (Status.DUPLICATE, None, clock.now + timedelta(days=90))
    assert loser.record == {"duplicate_of": ["movie", a], "url": page, "evidence": {"title": "exact"},
                            "match_confidence": None}
    assert [d.tmdb_id for d in document_store.holders(SOURCE, [page])[page]] == [a]
    settle()
    with document_store.changes(SOURCE, None) as feed:
        assert ("movie", b) in {d.key for d in feed}  # the combine hears of it


def test_failures_back_off_then_quarantine_keeping_the_stored_payload(document_store, clock):
    (tmdb_id,) = ids_in_shard(6, 1)
    key = ("movie", tmdb_id)
    policy = RetryPolicy(max_attempts=3, base_delay=timedelta(hours=1), jitter=0.0)
    document_store.upsert(SOURCE, [doc(tmdb_id, {"good": True})])
    clock.advance(days=REFRESH.days + 1)

    assert reserve(document_store, 6)
    assert document_store.fail(SOURCE, key, "HTTP 503", policy=policy) is Status.FAILED
    assert reserve(document_store, 6) == []  # backing off for 1 h
    clock.advance(minutes=61)
    assert reserve(document_store, 6)
    assert document_store.fail(SOURCE, key, "timeout", policy=policy) is Status.FAILED
    clock.advance(minutes=61)
    assert reserve(document_store, 6) == []  # second backoff is 2 h
    clock.advance(minutes=60)
    assert reserve(document_store, 6)
    assert document_store.fail(SOURCE, key, "HTTP 500", policy=policy) is Status.QUARANTINED

    clock.advance(days=30)
    assert reserve(document_store, 6) == []  # quarantined titles are never due
    stored = document_store.get_many(SOURCE, [key])[key]
    assert (stored.status, stored.attempts, stored.error, stored.payload) == (
        Status.QUARANTINED, 3, "HTTP 500", {"good": True},
    )


def test_quarantine_keeps_the_raw_body_for_replay(document_store):
    (tmdb_id,) = ids_in_shard(7, 1)
    document_store.upsert(SOURCE, [doc(tmdb_id, {"score": 91})])
    body = b"<html>\xff\x00913</html>"  # not UTF-8, with a NUL byte: kept byte for byte
    document_store.quarantine(SOURCE, ("movie", tmdb_id), "score 913 out of range", body)
    document_store.quarantine(SOURCE, ("tv", tmdb_id), "unparseable", "<p>été</p>")
    stored = document_store.get_many(SOURCE, [("movie", tmdb_id), ("tv", tmdb_id)])
    movie, tv = stored[("movie", tmdb_id)], stored[("tv", tmdb_id)]
    assert movie.status is Status.QUARANTINED and movie.error == "score 913 out of range"
    assert movie.quarantine_body == body
    assert movie.payload == {"score": 91}  # what was stored before is not lost
    assert (tv.quarantine_body, tv.attempts, tv.payload) == ("<p>été</p>".encode(), 1, None)


def test_a_quarantined_title_keeps_the_url_its_body_came_from_and_when_and_a_fetch_clears_them(document_store, clock):
    a, b = ids_in_shard(7, 2)
    policy = RetryPolicy(max_attempts=2, base_delay=timedelta(hours=1), jitter=0.0)
    document_store.upsert(SOURCE, [doc(a, {"v": 1}, source_url="https://site/m/verified")])
    document_store.enqueue(SOURCE, [QueueEntry("movie", b)])
    assert document_store.fail(SOURCE, ("movie", a), "unparseable", policy=policy, raw_body=b"<html>1",
                               url="https://site/m/candidate") is Status.FAILED
    clock.advance(hours=2)
    # A failure without a body keeps the earlier body and its URL, and quarantines the title now.
    assert document_store.fail(SOURCE, ("movie", a), "HTTP 503", policy=policy) is Status.QUARANTINED
    document_store.quarantine(SOURCE, ("movie", b), "score 913 out of range", "<p>913</p>", url="https://site/m/b")
    stored = document_store.get_many(SOURCE, [("movie", a), ("movie", b)])
    assert (stored[("movie", a)].quarantine_body, stored[("movie", a)].quarantine_url,
            stored[("movie", a)].quarantined_at) == (b"<html>1", "https://site/m/candidate", clock.now)
    assert stored[("movie", a)].source_url == "https://site/m/verified"  # the verified page stays the first candidate
    assert (stored[("movie", b)].quarantine_url, stored[("movie", b)].quarantined_at) == ("https://site/m/b", clock.now)

    document_store.upsert(SOURCE, [doc(a, {"v": 2})])
    fetched = document_store.get_many(SOURCE, [("movie", a)])[("movie", a)]
    assert (fetched.quarantine_body, fetched.quarantine_url, fetched.quarantined_at) == (None, None, None)


def test_quarantined_lists_titles_newest_first_by_time_and_title_without_their_bodies(document_store, clock):
    a, b, c, d = ids_in_shard(3, 4)
    document_store.enqueue(SOURCE, [QueueEntry("movie", i) for i in (a, b, c, d)])
    document_store.quarantine(SOURCE, ("movie", a), "oldest", b"<html>\x00abc", url="https://site/a")
    clock.advance(hours=1)
    document_store.quarantine(SOURCE, ("tv", b), "no body", None)
    clock.advance(hours=1)
    document_store.fail(SOURCE, ("movie", c), "newest\nsecond line", policy=RetryPolicy(max_attempts=1),
                        raw_body="été", url="https://site/c")
    document_store.upsert(SOURCE, [doc(d, {"v": 1})])  # not quarantined: never listed
    start = clock.now - timedelta(hours=2)

    listed = document_store.quarantined(SOURCE)
    assert [(t.source, t.media, t.tmdb_id, t.attempts, t.reason, t.quarantined_at, t.url, t.body_size)
            for t in listed] == [
        (SOURCE, "movie", c, 1, "newest\nsecond line", start + timedelta(hours=2), "https://site/c", 5),  # UTF-8
        (SOURCE, "tv", b, 1, "no body", start + timedelta(hours=1), None, None),
        (SOURCE, "movie", a, 1, "oldest", start, "https://site/a", 10),
    ]
    assert [t.tmdb_id for t in document_store.quarantined(SOURCE, since=start + timedelta(minutes=30))] == [c, b]
    assert [t.key for t in document_store.quarantined(SOURCE, keys=[("movie", a), ("tv", b), ("movie", d),
                                                                    ("tv", a)])] == [("tv", b), ("movie", a)]
    assert document_store.quarantined(SOURCE, keys=[]) == [] and document_store.quarantined("dna") == []


def test_requeue_puts_quarantined_titles_back_due_at_once_as_they_were_before(document_store, clock):
    never, ok, gone, other = ids_in_shard(4, 4)
    document_store.enqueue(SOURCE, [QueueEntry("movie", never)])
    document_store.upsert(SOURCE, [doc(ok, {"v": 1}, refresh_after=timedelta(days=30)),
                                   doc(gone, None, status=Status.NOT_FOUND, refresh_after=timedelta(days=90)),
                                   doc(other, {"v": 1}, refresh_after=timedelta(days=30))])
    for tmdb_id in (never, ok, gone):
        document_store.fail(SOURCE, ("movie", tmdb_id), "unparseable", policy=RetryPolicy(max_attempts=1),
                            raw_body=b"<html>", url="https://site/x")
    assert reserve(document_store, 4) == []  # quarantined titles are never due

    keys = [("movie", i) for i in (never, ok, gone, other)]
    assert document_store.requeue(SOURCE, keys) == 3  # ``other`` is not quarantined: left alone
    stored = document_store.get_many(SOURCE, keys)
    assert {i: stored[("movie", i)].status for i in (never, ok, gone, other)} == {
        never: Status.PENDING, ok: Status.OK, gone: Status.NOT_FOUND, other: Status.OK}
    for tmdb_id in (never, ok, gone):
        requeued = stored[("movie", tmdb_id)]
        assert (requeued.attempts, requeued.error, requeued.quarantine_body, requeued.quarantine_url,
                requeued.quarantined_at, requeued.next_attempt_at) == (0, None, None, None, None, clock.now)
    assert stored[("movie", ok)].payload == {"v": 1}  # what was stored before is still there
    assert sorted(r.tmdb_id for r in reserve(document_store, 4)) == sorted([never, ok, gone])  # due at once
    assert document_store.requeue(SOURCE, []) == 0


def test_new_quarantine_reasons_reach_only_titles_still_quarantined(document_store):
    a, b = ids_in_shard(5, 2)
    document_store.quarantine(SOURCE, ("movie", a), "old parser", b"<html>", url="https://site/a")
    document_store.upsert(SOURCE, [doc(b, {"v": 1})])
    assert document_store.set_quarantine_reasons(SOURCE, {("movie", a): "today's parser", ("movie", b): "x"}) == 1
    stored = document_store.get_many(SOURCE, [("movie", a), ("movie", b)])
    assert (stored[("movie", a)].error, stored[("movie", a)].status, stored[("movie", a)].attempts,
            stored[("movie", a)].quarantine_body, stored[("movie", a)].quarantine_url) == (
        "today's parser", Status.QUARANTINED, 1, b"<html>", "https://site/a")
    assert (stored[("movie", b)].error, stored[("movie", b)].status) == (None, Status.OK)
    assert document_store.set_quarantine_reasons(SOURCE, {}) == 0


def test_retry_policy_backoff_grows_caps_and_jitters():
    policy = RetryPolicy(max_attempts=10, base_delay=timedelta(minutes=10), max_delay=timedelta(hours=1), jitter=0.2)
    now = datetime(2026, 1, 1, tzinfo=UTC)
    rng = random.Random(1)
    delays = [policy.next_attempt_at(n, now, rng) - now for n in range(1, 6)]
    assert timedelta(minutes=8) <= delays[0] <= timedelta(minutes=12)
    assert timedelta(minutes=16) <= delays[1] <= timedelta(minutes=24)
    assert all(d <= timedelta(minutes=72) for d in delays[3:])  # capped at 1 h ± 20 %
    assert policy.next_attempt_at(10, now) is None


# -- concurrency: two processes, one queue ----------------------------------------------------


def _reserve_until_empty(url: str, shard: int, start, results) -> None:
    from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
    from goodwatch_assets.stores.serving_db import ServingDb

    store = PostgresDocumentStore(ServingDb(url=url, embedded=False))
    start.wait()
    taken = []
    while batch := store.reserve(SOURCE, media="movie", shard=shard, limit=7, refresh_age=REFRESH, lease=LEASE):
        taken.extend(r.tmdb_id for r in batch)
    store.close()
    results.put(taken)


def _reserve_until_empty_mongo(uri: str, database: str, shard: int, start, results) -> None:
    import pymongo

    from goodwatch_assets.stores.mongo_documents import MongoDocumentStore

    store = MongoDocumentStore(pymongo.MongoClient(uri, tz_aware=True)[database])
    start.wait()
    taken = []
    while batch := store.reserve(SOURCE, media="movie", shard=shard, limit=7, refresh_age=REFRESH, lease=LEASE):
        taken.extend(r.tmdb_id for r in batch)
    results.put(taken)


def test_two_processes_reserving_from_one_queue_never_get_the_same_title(document_store):
    if document_store.backend == "mongodb" and not REAL_MONGODB_URI:
        pytest.skip("mongomock keeps its data inside one process; set MONGODB_URI to run this on a real server")
    ids = ids_in_shard(9, 600)
    document_store.enqueue(SOURCE, [QueueEntry("movie", i, float(i % 97)) for i in ids])

    context = multiprocessing.get_context("spawn")
    start, results = context.Barrier(2), context.Queue()
    if document_store.backend == "postgres":
        args = (document_store._db.url, 9, start, results)
        target = _reserve_until_empty
    else:
        args = (REAL_MONGODB_URI, document_store._db.name, 9, start, results)
        target = _reserve_until_empty_mongo
    workers = [context.Process(target=target, args=args) for _ in range(2)]
    for worker in workers:
        worker.start()
    taken = [results.get(timeout=120) for _ in workers]
    for worker in workers:
        worker.join(timeout=30)

    first, second = (set(t) for t in taken)
    assert len(taken[0]) == len(first) and len(taken[1]) == len(second)  # no repeats within a process
    assert not first & second  # no title went to both
    assert first | second == set(ids)  # and none was lost
    assert first and second  # both really competed


# -- backend-specific guarantees ----------------------------------------------------------------


def test_postgres_feed_never_skips_a_write_that_commits_after_the_reader(clean_serving_db):
    """A writer holds a transaction open (older xid) while a newer one commits and a reader reads."""
    import psycopg

    from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore

    store = PostgresDocumentStore(clean_serving_db)
    slow = psycopg.connect(clean_serving_db.url)
    slow_store = PostgresDocumentStore.__new__(PostgresDocumentStore)
    slow_store._db, slow_store._conn = clean_serving_db, slow
    with slow.transaction():
        slow.execute("SELECT pg_current_xact_id()")  # the slow writer's xid is assigned first
        store.upsert(SOURCE, [doc(2, {"fast": True})])
        with store.changes(SOURCE, None) as feed:
            assert [d.tmdb_id for d in feed] == []  # 2 is above the horizon while the older xid runs
            watermark = feed.watermark
        with slow.cursor() as cur:
            cur.execute(
                "INSERT INTO raw.documents (source, media, tmdb_id, shard, payload, payload_hash, status, change_xid) "
                "VALUES (%s, 'movie', 1, 0, '{}', 'h', 'ok', pg_current_xact_id())",
                (SOURCE,),
            )
    with store.changes(SOURCE, watermark) as feed:
        assert sorted(d.tmdb_id for d in feed) == [1, 2]  # both, once the slow writer committed
        watermark = feed.watermark
    with store.changes(SOURCE, watermark) as feed:
        assert list(feed) == []
    slow.close()
    store.close()


def test_mongo_feed_waits_out_its_visibility_lag():
    import mongomock

    from goodwatch_assets.stores.mongo_documents import MongoDocumentStore
    from goodwatch_assets_tests.helpers import FakeClock, teach_mongomock_current_bulk_api

    teach_mongomock_current_bulk_api()
    server = FakeClock(datetime.now(UTC))
    store = MongoDocumentStore(mongomock.MongoClient(tz_aware=True)["lag"], visibility_lag=timedelta(seconds=5),
                               server_clock=server)
    store.upsert(SOURCE, [doc(1, {"v": 1})])
    with store.changes(SOURCE, None) as feed:
        assert list(feed) == []  # written less than 5 s before the server's now
        watermark = feed.watermark
    server.advance(seconds=6)
    with store.changes(SOURCE, watermark) as feed:
        assert [d.tmdb_id for d in feed] == [1]


def test_mongo_upsert_racing_another_writer_reports_what_it_stored(monkeypatch):
    """Between our hash look-up and our write another writer stores v2: ours (v1) must count as a change."""
    import mongomock

    from goodwatch_assets.stores import mongo_documents
    from goodwatch_assets_tests.helpers import teach_mongomock_current_bulk_api

    teach_mongomock_current_bulk_api()
    store = mongo_documents.MongoDocumentStore(mongomock.MongoClient(tz_aware=True)["race"],
                                               visibility_lag=timedelta(0), server_clock=datetime.now)
    store.upsert(SOURCE, [doc(1, {"v": 1})])
    collection = store._collection(SOURCE, "movie")
    real_find = collection.find

    def find_then_other_writer(*args, **kwargs):
        found = list(real_find(*args, **kwargs))
        theirs = {"payload": {"v": 2}, "payload_hash": payload_hash({"v": 2})}
        collection.update_one({"_id": 1}, {"$set": theirs})
        monkeypatch.setattr(collection, "find", real_find)
        return found

    monkeypatch.setattr(collection, "find", find_then_other_writer)
    outcome = store.upsert(SOURCE, [doc(1, {"v": 1})])
    assert (outcome.changed, outcome.unchanged) == (1, 0)
    assert store.get_many(SOURCE, [("movie", 1)])[("movie", 1)].payload == {"v": 1}
