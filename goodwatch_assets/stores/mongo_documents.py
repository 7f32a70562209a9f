"""The document store on MongoDB (``MONGODB_URI``): one collection per source and media type.

Documents are keyed by ``_id = tmdb_id`` inside ``<source>_<media>`` collections, as in the
original pipeline. Each reservation is one ``find_one_and_update`` (atomic per document), so
concurrent runs never take the same title.

MongoDB has no transaction ids to order changes by, so the change feed uses ``changed_at`` and
stops ``visibility_lag`` before "now": a bulk write that began before a reader's watermark has
that long to become visible. Readers of this backend see changes that much later.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.database import Database

from goodwatch_assets.shards import MEDIA_TYPES, shard_of
from goodwatch_assets.stores.documents import (
    NOT_DUE_STATUSES,
    ChangeFeed,
    DocumentKey,
    DocumentStore,
    FetchedDocument,
    QueueEntry,
    Reservation,
    RetryPolicy,
    Status,
    StoredDocument,
    UpsertOutcome,
    body_text,
    check_media,
    check_source,
    chunked,
    last_per_key,
    payload_hash,
)

_NOT_DUE = [str(s) for s in NOT_DUE_STATUSES]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _utc(value: datetime | None) -> datetime | None:
    """MongoDB returns naive UTC datetimes; the contract speaks timezone-aware ones."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def _document(source: str, media: str, raw: dict[str, Any]) -> StoredDocument:
    return StoredDocument(
        source=source,
        media=media,
        tmdb_id=raw["_id"],
        shard=raw["shard"],
        popularity=raw.get("popularity"),
        hints=raw.get("hints") or {},
        payload=raw.get("payload"),
        record=raw.get("record"),
        payload_hash=raw.get("payload_hash"),
        source_url=raw.get("source_url"),
        status=Status(raw.get("status", Status.PENDING)),
        attempts=raw.get("attempts", 0),
        error=raw.get("error"),
        quarantine_body=raw.get("quarantine_body"),
        next_attempt_at=_utc(raw.get("next_attempt_at")),
        reserved_until=_utc(raw.get("reserved_until")),
        fetched_at=_utc(raw.get("fetched_at")),
        changed_at=_utc(raw.get("changed_at")),
    )


class MongoDocumentStore(DocumentStore):
    backend = "mongodb"

    def __init__(self, database: Database, *, visibility_lag: timedelta = timedelta(seconds=60)):
        self._db = database
        self.visibility_lag = visibility_lag
        self._indexed: set[str] = set()

    def _collection(self, source: str, media: str):
        name = f"{check_source(source)}_{check_media(media)}"
        collection = self._db[name]
        if name not in self._indexed:
            collection.create_index([("shard", ASCENDING), ("fetched_at", ASCENDING), ("popularity", DESCENDING)])
            collection.create_index([("changed_at", ASCENDING)])
            collection.create_index([("status", ASCENDING)])
            self._indexed.add(name)
        return collection

    def _by_media(self, keys: Iterable[DocumentKey]) -> dict[str, list[int]]:
        grouped: dict[str, list[int]] = {}
        for media, tmdb_id in keys:
            grouped.setdefault(check_media(media), []).append(tmdb_id)
        return grouped

    # -- writes ------------------------------------------------------------------------------

    def enqueue(self, source: str, entries: Iterable[QueueEntry], *, batch_size: int = 10_000) -> int:
        new = 0
        for batch in chunked(entries, batch_size):
            grouped: dict[str, list[UpdateOne]] = {}
            for entry in last_per_key(batch):
                update: dict[str, Any] = {
                    "$setOnInsert": {"shard": shard_of(entry.tmdb_id), "status": str(Status.PENDING), "attempts": 0},
                }
                if entry.popularity is not None:
                    update["$set"] = {"popularity": entry.popularity}
                for hint, value in entry.hints.items():
                    update.setdefault("$set", {})[f"hints.{hint}"] = value
                grouped.setdefault(entry.media, []).append(UpdateOne({"_id": entry.tmdb_id}, update, upsert=True))
            for media, ops in grouped.items():
                new += self._collection(source, media).bulk_write(ops, ordered=False).upserted_count
        return new

    def upsert(
        self, source: str, documents: Iterable[FetchedDocument], *, batch_size: int = 10_000
    ) -> UpsertOutcome:
        outcome = UpsertOutcome()
        for batch in chunked(documents, batch_size):
            now = self.clock()
            grouped: dict[str, list[FetchedDocument]] = {}
            for document in last_per_key(batch):
                grouped.setdefault(check_media(document.media), []).append(document)
            for media, docs in grouped.items():
                collection = self._collection(source, media)
                stored_hashes = {
                    raw["_id"]: raw.get("payload_hash")
                    for raw in collection.find({"_id": {"$in": [d.tmdb_id for d in docs]}}, {"payload_hash": 1})
                }
                ops, inserted, changed, unchanged = [], 0, 0, 0
                for doc in docs:
                    digest = payload_hash(doc.payload)
                    fields: dict[str, Any] = {
                        "shard": shard_of(doc.tmdb_id), "payload": doc.payload, "record": doc.record,
                        "payload_hash": digest, "source_url": doc.source_url, "status": str(Status(doc.status)),
                        "fetched_at": now, "attempts": 0, "error": None, "quarantine_body": None,
                        "next_attempt_at": None, "reserved_until": None,
                    }
                    if doc.popularity is not None:
                        fields["popularity"] = doc.popularity
                    if doc.tmdb_id not in stored_hashes:
                        inserted += 1
                        fields["changed_at"] = now
                    elif stored_hashes[doc.tmdb_id] != digest:
                        changed += 1
                        fields["changed_at"] = now
                    else:
                        unchanged += 1
                    ops.append(UpdateOne({"_id": doc.tmdb_id}, {"$set": fields}, upsert=True))
                collection.bulk_write(ops, ordered=False)
                outcome += UpsertOutcome(inserted, changed, unchanged)
        return outcome

    # -- reads -------------------------------------------------------------------------------

    def get_many(self, source: str, keys: Iterable[DocumentKey]) -> dict[DocumentKey, StoredDocument]:
        found: dict[DocumentKey, StoredDocument] = {}
        for media, ids in self._by_media(keys).items():
            for raw in self._collection(source, media).find({"_id": {"$in": ids}}):
                found[(media, raw["_id"])] = _document(source, media, raw)
        return found

    def changes(
        self,
        source: str,
        since: str | None,
        *,
        media: str | None = None,
        shard: int | None = None,
        batch_size: int = 5_000,
    ) -> ChangeFeed:
        check_source(source)
        return _MongoChangeFeed(self, source, since, media, shard, batch_size)

    def count_by_status(self, source: str, *, media: str | None = None, shard: int | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        match = {} if shard is None else {"shard": shard}
        for one_media in [media] if media else MEDIA_TYPES:
            pipeline = [{"$match": match}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}]
            for row in self._collection(source, one_media).aggregate(pipeline):
                counts[row["_id"]] = counts.get(row["_id"], 0) + row["n"]
        return counts

    def sources(self) -> list[str]:
        suffixes = tuple(f"_{media}" for media in MEDIA_TYPES)
        names = {
            name.rsplit("_", 1)[0]
            for name in self._db.list_collection_names()
            if name.endswith(suffixes) and self._db[name].estimated_document_count() > 0
        }
        return sorted(names)

    # -- the work queue ----------------------------------------------------------------------

    def reserve(
        self,
        source: str,
        *,
        media: str,
        shard: int,
        limit: int,
        refresh_age: timedelta,
        lease: timedelta,
    ) -> list[Reservation]:
        collection = self._collection(source, media)
        now = self.clock()
        available = {
            "shard": shard,
            "status": {"$nin": _NOT_DUE},
            "$and": [
                {"$or": [{"reserved_until": None}, {"reserved_until": {"$lte": now}}]},
                {"$or": [{"next_attempt_at": None}, {"next_attempt_at": {"$lte": now}}]},
            ],
        }
        lanes = (
            ({"fetched_at": None}, [("popularity", DESCENDING), ("_id", ASCENDING)]),
            ({"fetched_at": {"$lt": now - refresh_age}}, [("fetched_at", ASCENDING), ("_id", ASCENDING)]),
        )
        taken: list[Reservation] = []
        for lane_filter, order in lanes:
            while len(taken) < limit:
                raw = collection.find_one_and_update(
                    {**available, **lane_filter},
                    {"$set": {"reserved_until": now + lease}},
                    sort=order,
                    return_document=ReturnDocument.AFTER,
                )
                if raw is None:
                    break
                taken.append(
                    Reservation(
                        media=media, tmdb_id=raw["_id"], popularity=raw.get("popularity"),
                        hints=raw.get("hints") or {}, attempts=raw.get("attempts", 0),
                        fetched_at=_utc(raw.get("fetched_at")), reserved_until=_utc(raw["reserved_until"]),
                    )
                )
        return taken

    def release(self, source: str, keys: Iterable[DocumentKey]) -> int:
        released = 0
        for media, ids in self._by_media(keys).items():
            result = self._collection(source, media).update_many(
                {"_id": {"$in": ids}}, {"$set": {"reserved_until": None}}
            )
            released += result.matched_count
        return released

    def fail(self, source: str, key: DocumentKey, error: str, *, policy: RetryPolicy) -> Status:
        media, tmdb_id = key
        collection = self._collection(source, media)
        raw = collection.find_one_and_update(
            {"_id": tmdb_id}, {"$inc": {"attempts": 1}}, return_document=ReturnDocument.AFTER
        )
        if raw is None:
            raise KeyError(f"{source}: no document for {media} {tmdb_id}")
        retry_at = policy.next_attempt_at(raw["attempts"], self.clock())
        status = Status.FAILED if retry_at else Status.QUARANTINED
        collection.update_one(
            {"_id": tmdb_id},
            {"$set": {"error": error, "status": str(status), "next_attempt_at": retry_at, "reserved_until": None}},
        )
        return status

    def quarantine(self, source: str, key: DocumentKey, reason: str, raw_body: str | bytes | None) -> None:
        media, tmdb_id = key
        self._collection(source, media).update_one(
            {"_id": tmdb_id},
            {
                "$set": {
                    "status": str(Status.QUARANTINED), "error": reason, "quarantine_body": body_text(raw_body),
                    "next_attempt_at": None, "reserved_until": None,
                },
                "$setOnInsert": {"shard": shard_of(tmdb_id)},
                "$inc": {"attempts": 1},
            },
            upsert=True,
        )


class _MongoChangeFeed(ChangeFeed):
    def __init__(self, store: MongoDocumentStore, source: str, since: str | None, media: str | None,
                 shard: int | None, batch_size: int):
        self._store = store
        self._source = source
        self._medias = [media] if media else list(MEDIA_TYPES)
        self._shard = shard
        self._batch_size = batch_size
        self._since = datetime.fromisoformat(since) if since else _EPOCH
        horizon = store.clock() - store.visibility_lag
        # Never move a watermark backwards (a clock step back must not re-read nor skip).
        self._horizon = max(horizon, self._since)
        self.watermark = self._horizon.isoformat()

    def batches(self) -> Iterator[list[StoredDocument]]:
        query: dict[str, Any] = {"changed_at": {"$gte": self._since, "$lt": self._horizon}}
        if self._shard is not None:
            query["shard"] = self._shard
        for media in self._medias:
            cursor = (
                self._store._collection(self._source, media)
                .find(query)
                .sort([("changed_at", ASCENDING), ("_id", ASCENDING)])
                .batch_size(self._batch_size)
            )
            for batch in chunked(cursor, self._batch_size):
                yield [_document(self._source, media, raw) for raw in batch]
