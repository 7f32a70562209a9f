"""The document store on MongoDB (``MONGODB_URI``): one collection per source and media type.

Documents are keyed by ``_id = tmdb_id`` inside ``<source>_<media>`` collections, as in the
original pipeline. Each reservation is one ``find_one_and_update`` (atomic per document), so
concurrent runs never take the same title.

Change detection is a compare-and-set on ``payload_hash``: a document is rewritten as "unchanged"
only while its stored hash still equals the new one, otherwise it is written as changed, so the
stored payload and the change feed never disagree. ``changed_at`` is stamped by the server
(``$currentDate``) when the write is applied, and the change feed reads up to the server's clock
minus ``visibility_lag`` (default 5 s, for replication to primaries' readers), so neither a slow
writer nor a writer whose clock is off can hide a change behind a watermark.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
import polars as pl
from pymongo import ASCENDING, DESCENDING, ReturnDocument, UpdateOne
from pymongo.database import Database

from goodwatch_assets.models.queue import (
    NOT_DUE_STATUSES,
    DocumentKey,
    FetchedDocument,
    QuarantinedTitle,
    QueueEntry,
    Reservation,
    RetryPolicy,
    Status,
    StoredDocument,
)
from goodwatch_assets.models.shards import MEDIA_TYPES, shard_of
from goodwatch_assets.stores.documents import (
    DOCUMENT_FRAME,
    ENTRY_FRAME,
    HINTS_FRAME,
    KEY_FRAME,
    NEGATIVE_STATUSES,
    QUEUED_FRAME,
    CatalogSync,
    ChangeFeed,
    DocumentStore,
    UpsertOutcome,
    body_bytes,
    canonical_json,
    check_hints,
    check_lease,
    check_media,
    check_source,
    checked_frame,
    chunked,
    frame_documents,
    json_hash,
    last_per_key,
    revived_status,
    validated,
    without_nul,
)

_NOT_DUE = [str(s) for s in NOT_DUE_STATUSES]
_NEGATIVE = [str(s) for s in NEGATIVE_STATUSES]
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MISSING = object()


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
        quarantine_body=bytes(raw["quarantine_body"]) if raw.get("quarantine_body") is not None else None,
        quarantine_url=raw.get("quarantine_url"),
        quarantined_at=_utc(raw.get("quarantined_at")),
        next_attempt_at=_utc(raw.get("next_attempt_at")),
        reserved_until=_utc(raw.get("reserved_until")),
        fetched_at=_utc(raw.get("fetched_at")),
        changed_at=_utc(raw.get("changed_at")),
    )


class MongoDocumentStore(DocumentStore):
    backend = "mongodb"

    def __init__(
        self,
        database: Database,
        *,
        visibility_lag: timedelta = timedelta(seconds=5),
        server_clock: Callable[[], datetime] | None = None,
    ):
        self._db = database
        self.visibility_lag = visibility_lag
        self.server_clock = server_clock or self._server_time
        self._indexed: set[str] = set()

    def _server_time(self) -> datetime:
        """The MongoDB server's clock: the one ``$currentDate`` stamps ``changed_at`` with."""
        return _utc(self._db.command("hello")["localTime"])

    def _collection(self, source: str, media: str):
        name = f"{check_source(source)}_{check_media(media)}"
        collection = self._db[name]
        if name not in self._indexed:
            collection.create_index([("shard", ASCENDING), ("fetched_at", ASCENDING), ("popularity", DESCENDING)])
            collection.create_index([("changed_at", ASCENDING)])
            collection.create_index([("status", ASCENDING)])
            collection.create_index([("source_url", ASCENDING)], partialFilterExpression={"status": str(Status.OK)})
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
                check_media(entry.media)
                update: dict[str, Any] = {
                    "$setOnInsert": {"shard": shard_of(entry.tmdb_id), "status": str(Status.PENDING), "attempts": 0},
                }
                fields = {f"hints.{hint}": value for hint, value in check_hints(entry.hints).items()}
                if entry.popularity is not None:
                    fields["popularity"] = entry.popularity
                if fields:
                    update["$set"] = fields
                grouped.setdefault(entry.media, []).append(UpdateOne({"_id": entry.tmdb_id}, update, upsert=True))
            for media, ops in grouped.items():
                collection = self._collection(source, media)
                new += collection.bulk_write(ops, ordered=False).upserted_count
                self._revive(collection, [entry.tmdb_id for entry in batch if entry.media == media])
        return new

    def sync_catalog(self, source: str, media: str, frame: pl.DataFrame) -> CatalogSync:
        check_source(source)
        frame = checked_frame(frame.with_columns(media=pl.lit(check_media(media))), ENTRY_FRAME)
        new = self.enqueue(source, (QueueEntry(media, tmdb_id, popularity, orjson.loads(hints) if hints else {})
                                    for media, tmdb_id, popularity, hints in frame.iter_rows()))
        return CatalogSync(new=new, deleted=self.mark_deleted_except(source, media, frame["tmdb_id"]))

    @staticmethod
    def _revive(collection, ids: list[int]) -> None:
        """DELETED titles enqueued again get the status :func:`revived_status` gives them."""
        deleted = {"_id": {"$in": ids}, "status": str(Status.DELETED)}
        for fetched, has_payload in ((False, False), (True, False), (True, True)):
            condition = {"fetched_at": {"$ne": None} if fetched else None}
            if fetched:
                condition["payload"] = {"$ne": None} if has_payload else None
            collection.update_many({**deleted, **condition},
                                   {"$set": {"status": str(revived_status(fetched, has_payload))}})

    def upsert(
        self, source: str, documents: Iterable[FetchedDocument], *, batch_size: int = 10_000
    ) -> UpsertOutcome:
        outcome = UpsertOutcome()
        for batch in chunked(documents, batch_size):
            grouped: dict[str, list[FetchedDocument]] = {}
            for document in validated(last_per_key(batch)):  # the whole batch first: all or nothing
                grouped.setdefault(document.media, []).append(document)
            for media, docs in grouped.items():
                outcome += self._upsert_group(self._collection(source, media), docs)
        return outcome

    def upsert_frame(self, source: str, frame: pl.DataFrame) -> UpsertOutcome:
        check_source(source)
        outcome = UpsertOutcome()
        for batch in chunked(frame_documents(checked_frame(frame, DOCUMENT_FRAME)), 10_000):
            grouped: dict[str, list[FetchedDocument]] = {}
            for document in batch:
                grouped.setdefault(document.media, []).append(document)
            for media, docs in grouped.items():
                outcome += self._upsert_group(self._collection(source, media), docs, touch_unchanged=False)
        return outcome

    def _upsert_group(self, collection, docs: list[FetchedDocument], *, touch_unchanged: bool = True) -> UpsertOutcome:
        """Write one media's documents; with ``touch_unchanged=False`` documents whose payload, record and
        status are all as stored are not written at all (:meth:`upsert_frame`)."""
        now = self.clock()
        texts = {d.tmdb_id: canonical_json(d.payload) for d in docs}
        hashes = {d.tmdb_id: None if d.payload is None else json_hash(texts[d.tmdb_id]) for d in docs}
        existing = {raw["_id"]: raw for raw in collection.find(
            {"_id": {"$in": list(hashes)}}, {"payload_hash": 1, "status": 1, "record": 1})}
        stored = {tmdb_id: raw.get("payload_hash") for tmdb_id, raw in existing.items()}

        def record_of(doc: FetchedDocument) -> dict[str, Any] | None:
            return None if doc.record is None else without_nul(doc.record, canonical_json(doc.record))

        def as_stored(doc: FetchedDocument) -> bool:
            raw = existing.get(doc.tmdb_id)
            return raw is not None and (raw.get("payload_hash"), raw.get("status"), raw.get("record")) == (
                hashes[doc.tmdb_id], str(doc.status), record_of(doc))

        untouched = 0 if touch_unchanged else sum(1 for d in docs if as_stored(d))
        if untouched:
            docs = [d for d in docs if not as_stored(d)]

        def refresh(doc: FetchedDocument) -> dict[str, Any]:
            record = record_of(doc)
            fields: dict[str, Any] = {
                "source_url": doc.source_url, "status": str(doc.status), "record": record, "fetched_at": now,
                "attempts": 0, "error": None, "quarantine_body": None, "quarantine_url": None, "quarantined_at": None,
                "next_attempt_at": None if doc.refresh_after is None else now + doc.refresh_after,
                "reserved_until": None,
            }
            if doc.popularity is not None:
                fields["popularity"] = doc.popularity
            return fields

        def write_changed(doc: FetchedDocument) -> UpdateOne:
            fields = {**refresh(doc), "shard": shard_of(doc.tmdb_id), "payload": without_nul(doc.payload, texts[doc.tmdb_id]),
                      "payload_hash": hashes[doc.tmdb_id]}
            return UpdateOne({"_id": doc.tmdb_id}, {"$set": fields, "$currentDate": {"changed_at": True}}, upsert=True)

        same = [d for d in docs if stored.get(d.tmdb_id, _MISSING) == hashes[d.tmdb_id]]
        different = [d for d in docs if stored.get(d.tmdb_id, _MISSING) != hashes[d.tmdb_id]]
        if same:
            # Compare-and-set: only while the stored hash is still ours is the write "unchanged".
            matched = collection.bulk_write(
                [UpdateOne({"_id": d.tmdb_id, "payload_hash": hashes[d.tmdb_id]}, {"$set": refresh(d)}) for d in same],
                ordered=False,
            ).matched_count
            if matched < len(same):  # another writer changed some in between: write those as changed
                still_same = {
                    raw["_id"] for raw in collection.find(
                        {"_id": {"$in": [d.tmdb_id for d in same]}}, {"payload_hash": 1}
                    ) if raw.get("payload_hash") == hashes[raw["_id"]]
                }
                moved = [d for d in same if d.tmdb_id not in still_same]
                same = [d for d in same if d.tmdb_id in still_same]
                different += moved
        if different:
            collection.bulk_write([write_changed(d) for d in different], ordered=False)
        inserted = sum(1 for d in different if d.tmdb_id not in stored)
        return UpsertOutcome(inserted=inserted, changed=len(different) - inserted, unchanged=len(same) + untouched)

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

    def changed_keys(self, source: str, since: str | None, *, media: str, shard: int) -> tuple[str, pl.DataFrame]:
        check_source(source)
        with _MongoChangeFeed(self, source, since, check_media(media), shard) as feed:
            return feed.watermark, feed.keys()

    def count_by_status(self, source: str, *, media: str | None = None, shard: int | None = None) -> dict[str, int]:
        counts: dict[str, int] = {}
        match = {} if shard is None else {"shard": shard}
        for one_media in [media] if media else MEDIA_TYPES:
            pipeline = [{"$match": match}, {"$group": {"_id": "$status", "n": {"$sum": 1}}}]
            for row in self._collection(source, one_media).aggregate(pipeline):
                counts[row["_id"]] = counts.get(row["_id"], 0) + row["n"]
        return counts

    def mark_deleted_except(self, source: str, media: str, present: Iterable[int]) -> int:
        collection = self._collection(source, media)
        keep = set(present)
        gone = [raw["_id"] for raw in collection.find({"status": {"$ne": str(Status.DELETED)}}, {"_id": 1})
                if raw["_id"] not in keep]
        marked = 0
        for batch in chunked(gone, 10_000):  # bounded queries, whatever the catalog's size
            marked += collection.update_many(
                {"_id": {"$in": batch}, "status": {"$ne": str(Status.DELETED)}},
                {"$set": {"status": str(Status.DELETED), "reserved_until": None}},
            ).modified_count
        return marked

    def field_values(self, source: str, field: str, *, media: str | None = None,
                     shard: int | None = None) -> pl.DataFrame:
        match = {f"record.{field}": {"$ne": None}, **({} if shard is None else {"shard": shard})}
        rows = [
            (one_media, raw["_id"], value if isinstance(value, str) else orjson.dumps(value).decode())
            for one_media in ([media] if media else MEDIA_TYPES)
            for raw in self._collection(source, one_media).find(match, {f"record.{field}": 1})
            for value in [raw["record"][field]]
        ]
        return pl.DataFrame(rows, schema={"media": pl.String, "tmdb_id": pl.Int64, "value": pl.String}, orient="row")

    def fetch_ages(self, source: str, quantiles: Sequence[float] = (0.5, 0.9, 1.0), *, media: str | None = None,
                   shard: int | None = None) -> dict[float, timedelta | None]:
        match = {"fetched_at": {"$ne": None}, **({} if shard is None else {"shard": shard})}
        fetched = sorted(
            (_utc(raw["fetched_at"]) for one_media in ([media] if media else MEDIA_TYPES)
             for raw in self._collection(source, one_media).find(match, {"fetched_at": 1})),
            reverse=True,
        )
        now = self.clock()
        if not fetched:
            return {q: None for q in quantiles}
        return {q: now - fetched[min(len(fetched) - 1, max(0, int(q * len(fetched) + 0.999999) - 1))] for q in quantiles}

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
        only: Sequence[int] | None = None,
    ) -> list[Reservation]:
        check_lease(lease)
        collection = self._collection(source, media)
        now = self.clock()
        available = {
            "shard": shard,
            **({} if only is None else {"_id": {"$in": list(only)}}),
            "status": {"$nin": _NOT_DUE},
            "$and": [
                {"$or": [{"reserved_until": None}, {"reserved_until": {"$lte": now}}]},
                {"$or": [{"next_attempt_at": None}, {"next_attempt_at": {"$lte": now}},
                         *([] if only is None else [{"status": str(Status.OK)}])]},
            ],
        }
        # Never fetched (most popular first), then due again: at the date the last fetch set, or once older than
        # the refresh age (least recently fetched first).
        lanes = (
            ({"fetched_at": None}, [("popularity", DESCENDING), ("_id", ASCENDING)]),
            ({"fetched_at": {"$ne": None}, "$or": [{"next_attempt_at": {"$ne": None}},
                                                     {"fetched_at": {"$lt": now - refresh_age}}]},
             [("fetched_at", ASCENDING), ("_id", ASCENDING)]),
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
                        verified_url=raw.get("source_url") if raw.get("status") not in _NEGATIVE else None,
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

    def fail(self, source: str, key: DocumentKey, error: str, *, policy: RetryPolicy,
             raw_body: str | bytes | None = None, url: str | None = None) -> Status:
        media, tmdb_id = key
        collection = self._collection(source, media)
        while True:  # compare-and-set on attempts: one atomic update, retried if another writer won
            raw = collection.find_one({"_id": tmdb_id}, {"attempts": 1})
            if raw is None:
                raise KeyError(f"{source}: no document for {media} {tmdb_id}")
            attempts = raw.get("attempts", 0) + 1
            now = self.clock()
            retry_at = policy.next_attempt_at(attempts, now)
            status = Status.FAILED if retry_at else Status.QUARANTINED
            kept = {"quarantine_body": body_bytes(raw_body), "quarantine_url": url} if raw_body is not None else {}
            result = collection.update_one(
                {"_id": tmdb_id, "attempts": raw.get("attempts", 0)},
                {"$set": {"attempts": attempts, "error": error, "status": str(status), "next_attempt_at": retry_at,
                          "reserved_until": None, "quarantined_at": None if retry_at else now, **kept}},
            )
            if result.matched_count:
                return status

    def quarantine(self, source: str, key: DocumentKey, reason: str, raw_body: str | bytes | None, *,
                   url: str | None = None) -> None:
        media, tmdb_id = key
        self._collection(source, media).update_one(
            {"_id": tmdb_id},
            {
                "$set": {
                    "status": str(Status.QUARANTINED), "error": reason, "quarantine_body": body_bytes(raw_body),
                    "quarantine_url": url, "quarantined_at": self.clock(), "next_attempt_at": None,
                    "reserved_until": None,
                },
                "$setOnInsert": {"shard": shard_of(tmdb_id)},
                "$inc": {"attempts": 1},
            },
            upsert=True,
        )

    def quarantined(self, source: str, *, since: datetime | None = None,
                    keys: Iterable[DocumentKey] | None = None) -> list[QuarantinedTitle]:
        titles = []
        by_media = None if keys is None else self._by_media(keys)
        for media in MEDIA_TYPES if by_media is None else by_media:
            query: dict[str, Any] = {"status": str(Status.QUARANTINED)}
            if since is not None:
                query["quarantined_at"] = {"$gte": since}
            if by_media is not None:
                query["_id"] = {"$in": by_media[media]}
            fields = {"attempts": 1, "error": 1, "quarantined_at": 1, "quarantine_url": 1, "quarantine_body": 1}
            # The body's size is read here, one document at a time: the cursor holds one batch of bodies, the list none.
            titles += [QuarantinedTitle(
                source=source, media=media, tmdb_id=raw["_id"], attempts=raw.get("attempts", 0), reason=raw.get("error"),
                quarantined_at=_utc(raw.get("quarantined_at")), url=raw.get("quarantine_url"),
                body_size=None if raw.get("quarantine_body") is None else len(raw["quarantine_body"]),
            ) for raw in self._collection(source, media).find(query, fields)]
        return sorted(titles, key=QuarantinedTitle.newest_first)

    def requeue(self, source: str, keys: Iterable[DocumentKey]) -> int:
        requeued, now = 0, self.clock()
        for media, ids in self._by_media(keys).items():
            collection = self._collection(source, media)
            quarantined = {"_id": {"$in": ids}, "status": str(Status.QUARANTINED)}
            for raw in collection.find(quarantined, {"fetched_at": 1, "payload": 1}):
                status = revived_status(raw.get("fetched_at") is not None, raw.get("payload") is not None)
                requeued += collection.update_one({"_id": raw["_id"], "status": str(Status.QUARANTINED)}, {"$set": {
                    "status": str(status), "attempts": 0, "error": None, "quarantine_body": None,
                    "quarantine_url": None, "quarantined_at": None, "next_attempt_at": now, "reserved_until": None,
                }}).modified_count
        return requeued

    def set_quarantine_reasons(self, source: str, reasons: Mapping[DocumentKey, str]) -> int:
        changed = 0
        for (media, tmdb_id), reason in reasons.items():
            changed += self._collection(source, media).update_one(
                {"_id": tmdb_id, "status": str(Status.QUARANTINED)}, {"$set": {"error": reason}}).matched_count
        return changed


    # -- page-finding sources --------------------------------------------------------------

    def queued(self, source: str, *, media: str, shard: int | None = None) -> pl.DataFrame:
        query: dict[str, Any] = {"status": {"$ne": str(Status.DELETED)}}
        if shard is not None:
            query["shard"] = shard
        rows = [(media, raw["_id"], raw.get("status", str(Status.PENDING)), orjson.dumps(raw.get("hints") or {}).decode())
                for raw in self._collection(source, media).find(query, {"status": 1, "hints": 1}).sort("_id", ASCENDING)]
        return pl.DataFrame(rows, schema=QUEUED_FRAME, orient="row")

    def merge_hints(self, source: str, frame: pl.DataFrame) -> int:
        check_source(source)
        frame = checked_frame(frame, HINTS_FRAME)
        now, changed = self.clock(), 0
        for media in frame["media"].unique().to_list():
            rows = frame.filter(pl.col("media") == media)
            new = {tmdb_id: orjson.loads(hints or "{}") for tmdb_id, hints in rows.select("tmdb_id", "hints").iter_rows()}
            collection = self._collection(source, media)
            ops = []
            for raw in collection.find({"_id": {"$in": list(new)}}, {"hints": 1, "status": 1}):
                stored = raw.get("hints") or {}
                changes = {name: value for name, value in new[raw["_id"]].items() if stored.get(name, _MISSING) != value}
                if not changes:
                    continue
                # Each hint set on its own: another writer's hints of the same title (an enqueue) are kept.
                fields: dict[str, Any] = {f"hints.{name}": value for name, value in changes.items()}
                if raw.get("status") in _NEGATIVE:
                    fields["next_attempt_at"] = now
                ops.append(UpdateOne({"_id": raw["_id"]}, {"$set": fields}))
            if ops:
                changed += collection.bulk_write(ops, ordered=False).modified_count
        return changed

    def make_due(self, source: str, keys: Iterable[DocumentKey]) -> int:
        due = 0
        for media, ids in self._by_media(keys).items():
            due += self._collection(source, media).update_many(
                {"_id": {"$in": ids}, "fetched_at": {"$ne": None},
                 "status": {"$in": [str(Status.OK), *_NEGATIVE]}},
                {"$set": {"next_attempt_at": self.clock()}}).matched_count
        return due

    def holders(self, source: str, urls: Iterable[str]) -> dict[str, list[StoredDocument]]:
        urls = sorted(set(urls))
        held: dict[str, list[StoredDocument]] = {}
        if not urls:
            return held
        for media in MEDIA_TYPES:
            for raw in self._collection(source, media).find(
                    {"status": str(Status.OK), "source_url": {"$in": urls}}).sort("_id", ASCENDING):
                held.setdefault(raw["source_url"], []).append(_document(source, media, raw))
        return held

    def mark_duplicates(self, source: str, url: str, losers: Iterable[DocumentKey], holder: DocumentKey, *,
                        until: datetime) -> int:
        marked = 0
        for media, tmdb_id in losers:
            collection = self._collection(source, media)
            holding = {"_id": tmdb_id, "status": str(Status.OK), "source_url": url}
            raw = collection.find_one(holding, {"record": 1})
            if raw is None:
                continue
            previous = raw.get("record") or {}
            record = {"duplicate_of": list(holder), "url": url, "evidence": previous.get("evidence"),
                      "match_confidence": previous.get("match_confidence")}
            marked += collection.update_one(
                holding,
                {"$set": {"status": str(Status.DUPLICATE), "payload": None, "payload_hash": None,
                          "record": record, "next_attempt_at": until},
                 "$currentDate": {"changed_at": True}}).modified_count
        return marked


class _MongoChangeFeed(ChangeFeed):
    def __init__(self, store: MongoDocumentStore, source: str, since: str | None, media: str | None,
                 shard: int | None, batch_size: int = 5_000):
        self._store = store
        self._source = source
        self._medias = [media] if media else list(MEDIA_TYPES)
        self._shard = shard
        self._batch_size = batch_size
        self._since = datetime.fromisoformat(since) if since else _EPOCH
        horizon = store.server_clock() - store.visibility_lag
        # Never move a watermark backwards (a clock step back must not re-read nor skip).
        self._horizon = max(horizon, self._since)
        self.watermark = self._horizon.isoformat()

    def _query(self) -> dict[str, Any]:
        query: dict[str, Any] = {"changed_at": {"$gte": self._since, "$lt": self._horizon}}
        if self._shard is not None:
            query["shard"] = self._shard
        return query

    def keys(self) -> pl.DataFrame:
        """The changed documents' keys alone (a :data:`KEY_FRAME`), read by index without the documents."""
        keys = [(media, raw["_id"]) for media in self._medias
                for raw in self._store._collection(self._source, media).find(self._query(), {"_id": 1})]
        return pl.DataFrame(keys, schema=KEY_FRAME, orient="row")

    def batches(self) -> Iterator[list[StoredDocument]]:
        query = self._query()
        for media in self._medias:
            cursor = (
                self._store._collection(self._source, media)
                .find(query)
                .sort([("changed_at", ASCENDING), ("_id", ASCENDING)])
                .batch_size(self._batch_size)
            )
            for batch in chunked(cursor, self._batch_size):
                yield [_document(self._source, media, raw) for raw in batch]
