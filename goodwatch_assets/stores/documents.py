"""The document store's contract: the raw layer every source writes and every combine reads.

One document per (source, media, tmdb_id) holds the source's payload, the canonical record parsed
from it, and that title's work-queue state for the source. Two backends implement the contract
(``postgres_documents`` and ``mongo_documents``) and one parametrized test suite checks both.

Queue semantics (lane 1, "completeness"):

* :meth:`DocumentStore.enqueue` makes titles known to a source (with their popularity and the
  hints the source needs, e.g. an IMDb id or title variations); it never touches fetched data.
* :meth:`DocumentStore.reserve` hands out due titles of one media type and shard: never fetched
  first (most popular first), then the least recently fetched among those older than the
  source's refresh age. A reservation is atomic (no two callers get the same title) and expires
  after its lease, so a crashed run's titles are taken again.
* A reserved title ends in one of: :meth:`upsert` (done: fetched, possibly "not found"),
  :meth:`fail` (a transient failure or an unusable answer, whose raw body is kept: backoff, then
  quarantine after ``max_attempts``), :meth:`quarantine` (given up on at once) or :meth:`release`
  (not tried, e.g. the run stopped at a rate limit).
* A quarantined title keeps the body that could not be used and the URL it came from. :meth:`quarantined` lists
  such titles (newest first); their bodies are parsed again by ``lib/quarantine.py`` (replay: what passes is stored
  with :meth:`upsert`, what still fails gets today's reason, :meth:`set_quarantine_reasons`), and
  :meth:`requeue` puts titles back in the queue, due at once.
"""

from __future__ import annotations

import hashlib
import re
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

import orjson
import polars as pl

from goodwatch_assets.errors import GoodwatchError
from goodwatch_assets.models.queue import (
    DocumentKey,
    FetchedDocument,
    QuarantinedTitle,
    QueueEntry,
    Reservation,
    RetryPolicy,
    Status,
    StoredDocument,
)
from goodwatch_assets.models.shards import MEDIA_TYPES

if TYPE_CHECKING:
    from goodwatch_assets.stores.serving_db import ServingDb


_SOURCE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,47}$")


class DocumentStoreError(GoodwatchError):
    """A document-store call was given something it cannot store."""


def check_source(source: str) -> str:
    if not _SOURCE_NAME.match(source):
        raise DocumentStoreError(f"source names are lower_snake_case identifiers, got {source!r}")
    return source


def canonical_json(value: Any) -> bytes:
    """Sorted-key JSON with NUL characters as U+FFFD (PostgreSQL's JSONB cannot hold NUL, so no backend
    keeps them). One serialization serves both the change hash and the stored text."""
    text = orjson.dumps(value, option=orjson.OPT_SORT_KEYS)
    return text.replace(b"\\u0000", b"\\ufffd") if b"\\u0000" in text else text


def json_text(value: Any) -> str | None:
    """JSON text for a jsonb parameter or COPY field (None stays SQL NULL)."""
    return None if value is None else orjson.dumps(value).decode()


def json_hash(text: bytes) -> str:
    return hashlib.blake2b(text, digest_size=16).hexdigest()


def payload_hash(payload: Any) -> str:
    """A stable hash of a payload (key order does not matter): equal hash means unchanged."""
    return json_hash(canonical_json(payload))


def without_nul(value: Any, text: bytes) -> Any:
    """``value`` as stored: re-read from its canonical text when that text may hold a replaced NUL
    (U+FFFD is rare in real data, so this costs nothing on the common path)."""
    return orjson.loads(text) if value is not None and b"\\ufffd" in text else value


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class UpsertOutcome:
    inserted: int = 0
    changed: int = 0
    unchanged: int = 0

    def __add__(self, other: UpsertOutcome) -> UpsertOutcome:
        return UpsertOutcome(
            self.inserted + other.inserted, self.changed + other.changed, self.unchanged + other.unchanged
        )

    @property
    def written(self) -> int:
        return self.inserted + self.changed + self.unchanged


@dataclass(frozen=True)
class CatalogSync:
    """What :meth:`DocumentStore.sync_catalog` did: titles new to the source, and titles newly marked deleted."""

    new: int
    deleted: int


class ChangeFeed(ABC):
    """Documents of one source whose payload changed after a watermark, in batches.

    ``watermark`` is fixed when the feed opens: pass it as ``since`` next time to read exactly the
    changes not read yet. Watermarks are opaque strings, meaningful to the backend that made them.
    """

    watermark: str

    @abstractmethod
    def batches(self) -> Iterator[list[StoredDocument]]: ...

    def __iter__(self) -> Iterator[StoredDocument]:
        for batch in self.batches():
            yield from batch

    def close(self) -> None:
        """Release what the feed holds (a transaction, a cursor)."""

    def __enter__(self) -> ChangeFeed:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


DOCUMENT_FRAME = {"media": pl.String, "tmdb_id": pl.Int64, "payload": pl.String, "record": pl.String,
                  "status": pl.String}
"""The columns of :meth:`DocumentStore.upsert_frame`'s frame (``payload`` and ``record`` as JSON text)."""
KEY_FRAME = {"media": pl.String, "tmdb_id": pl.Int64}
"""The columns of a frame of document keys (:meth:`DocumentStore.changed_keys`)."""
ENTRY_FRAME = {"media": pl.String, "tmdb_id": pl.Int64, "popularity": pl.Float64, "hints": pl.String}
"""The columns of :meth:`DocumentStore.sync_catalog`'s frame (``hints`` a JSON object as text, or null)."""
HINTS_FRAME = {"media": pl.String, "tmdb_id": pl.Int64, "hints": pl.String}
"""The columns of :meth:`DocumentStore.merge_hints`'s frame (``hints`` a JSON object as text)."""
QUEUED_FRAME = {"media": pl.String, "tmdb_id": pl.Int64, "status": pl.String, "hints": pl.String}
"""The columns of :meth:`DocumentStore.queued` (``hints`` a JSON object as text)."""
NEGATIVE_STATUSES = (Status.NOT_FOUND, Status.DUPLICATE)
"""Fetched, with nothing of the title's own: left alone for the negative cache's period unless new hints arrive."""


def revived_status(fetched: bool, has_payload: bool) -> Status:
    """The status a DELETED title gets back when it reappears upstream."""
    if not fetched:
        return Status.PENDING
    return Status.OK if has_payload else Status.NOT_FOUND


def frame_documents(frame: pl.DataFrame) -> Iterator[FetchedDocument]:
    """A document frame's rows as documents (the row-by-row path of backends without a bulk one)."""
    for media, tmdb_id, payload, record, status in frame.select(list(DOCUMENT_FRAME)).iter_rows():
        yield FetchedDocument(media, tmdb_id, None if payload is None else orjson.loads(payload),
                              None if record is None else orjson.loads(record), status=Status(status))


MAX_TMDB_ID = 2**31 - 1
_JSON_COLUMNS = ("payload", "record", "hints")  # payload: any JSON; record and hints: objects


def checked_frame(frame: pl.DataFrame, columns: dict[str, Any]) -> pl.DataFrame:
    """``frame`` with exactly ``columns`` (missing optional ones as nulls) and the last row per key, checked
    whole before any of it is written: media, ids, statuses, and JSON columns (record and hints objects,
    hint names identifiers), each problem naming the first title it was found in. NUL characters in the
    JSON text become U+FFFD, as :func:`canonical_json` makes them."""
    missing = {"media", "tmdb_id"} - set(frame.columns)
    if missing:
        raise DocumentStoreError(f"a document frame needs the columns {sorted(missing)}")
    try:
        frame = frame.select([
            (pl.col(name) if name in frame.columns else pl.lit(None)).cast(dtype).alias(name)
            for name, dtype in columns.items()
        ])
    except pl.exceptions.PolarsError as error:
        raise DocumentStoreError(f"a document frame's columns are not of the types {columns}: {error}") from error
    frame = frame.unique(subset=["media", "tmdb_id"], keep="last", maintain_order=True).with_columns(
        pl.col(name).str.replace_all("\\u0000", "\\ufffd", literal=True) for name in _JSON_COLUMNS if name in columns)
    bad_ids = frame.filter(pl.col("tmdb_id").is_null() | (pl.col("tmdb_id") < 1) | (pl.col("tmdb_id") > MAX_TMDB_ID))
    if bad_ids.height:
        raise DocumentStoreError(f"tmdb ids are whole numbers from 1 to {MAX_TMDB_ID}; {bad_ids.height} are not, "
                                 f"first: {bad_ids.row(0)[:2]}")
    unknown = set(frame["media"].unique().to_list()) - set(MEDIA_TYPES)
    if unknown:
        raise DocumentStoreError(f"media must be one of {MEDIA_TYPES}, got {sorted(map(str, unknown))}")
    if "status" in columns:
        statuses = set(frame["status"].unique().to_list()) - {str(s) for s in Status}
        if statuses:
            raise DocumentStoreError(f"unknown statuses {sorted(map(str, statuses))}")
    for name in _JSON_COLUMNS:
        if name in columns:
            _check_json_column(frame, name)
    return frame


def lookup_table(table: pl.DataFrame, key: str) -> pl.DataFrame:
    """:meth:`DocumentStore.upsert_lookup`'s table checked (column names and types) and with the last row per key."""
    if key not in table.columns or table.schema[key] != pl.String:
        raise DocumentStoreError(f"a lookup table needs a text column {key!r}, got the columns {table.schema}")
    for name, dtype in table.schema.items():
        if not _HINT_KEY.match(name) or not (dtype.is_integer() or dtype.is_float() or dtype in (pl.String, pl.Boolean)):
            raise DocumentStoreError(f"a lookup table's columns are identifiers of text, numbers or booleans; "
                                     f"{name!r} is {dtype}")
    return table.filter(pl.col(key).is_not_null()).unique(subset=[key], keep="last", maintain_order=True)


def lookup_documents(table: pl.DataFrame, catalog: pl.DataFrame, key: str, missing: str) -> pl.DataFrame:
    """The document frame of :meth:`DocumentStore.upsert_lookup`: ``catalog`` (``media``, ``tmdb_id`` and the
    ``key`` value of each title) joined to ``table``, each found row as a JSON object with its keys sorted."""
    found = pl.col("_found")
    row = pl.struct(sorted(table.columns)).struct.json_encode()
    return catalog.join(table.with_columns(_found=pl.lit(True)), on=key, how="left").select(
        "media", "tmdb_id",
        payload=pl.when(found).then(row),
        record=pl.when(found).then(row).otherwise(
            pl.struct(pl.col(key), not_found=pl.lit(missing)).struct.json_encode()),
        status=pl.when(found).then(pl.lit(str(Status.OK))).otherwise(pl.lit(str(Status.NOT_FOUND))),
    )


def _check_json_column(frame: pl.DataFrame, name: str) -> None:
    for media, tmdb_id, text in frame.select("media", "tmdb_id", name).drop_nulls(name).iter_rows():
        try:
            value = orjson.loads(text)
        except orjson.JSONDecodeError as error:
            raise DocumentStoreError(f"the {name} of {media} {tmdb_id} is not JSON: {error}") from None
        if name != "payload" and not isinstance(value, dict):
            raise DocumentStoreError(f"the {name} of {media} {tmdb_id} is not a JSON object: {text[:80]!r}")
        if name == "hints":
            check_hints(value)


class DocumentStore(ABC):
    """The raw layer's contract; see the module docstring for the queue semantics."""

    backend: str
    """A short name for status output: ``postgres`` or ``mongodb``."""

    clock = staticmethod(utc_now)
    """Where "now" comes from; tests replace it to move time."""

    @abstractmethod
    def enqueue(self, source: str, entries: Iterable[QueueEntry], *, batch_size: int = 10_000) -> int:
        """Make titles known to a source; refresh popularity and merge hints of known ones, and revive
        DELETED ones (a title back in the export is due again).

        Returns how many titles were new.
        """

    @abstractmethod
    def upsert(
        self, source: str, documents: Iterable[FetchedDocument], *, batch_size: int = 10_000
    ) -> UpsertOutcome:
        """Store fetched documents by (media, tmdb_id) and end their reservations.

        ``changed_at`` moves only when the payload's hash differs from the stored one; the
        outcome counts inserted, changed and unchanged documents.
        """

    @abstractmethod
    def upsert_frame(self, source: str, frame: pl.DataFrame) -> UpsertOutcome:
        """Store a whole file's documents at once: the bulk write of the daily whole-file sources.

        ``frame`` has the columns of :data:`DOCUMENT_FRAME`: ``payload`` and ``record`` as JSON text
        (null for none). New and changed documents (payload, record or status differ) are written as by
        :meth:`upsert`; unchanged ones are not written at all, ``fetched_at`` included, so a daily file
        costs what changed in it. A whole-file source's ``fetched_at`` is therefore when its document
        last changed; the file's own freshness is its daily partition. The whole frame is checked before
        anything is written (PostgreSQL also writes it in one transaction).
        """

    def upsert_lookup(self, source: str, table: pl.DataFrame, *, key: str, catalog_source: str,
                      missing: str) -> UpsertOutcome:
        """Store one document per title whose ``catalog_source`` record has the field ``key``, looked up in a
        whole file by that field: a daily file keyed by another site's id (IMDb's ratings by IMDb id).

        ``table``'s ``key`` column is text, its other columns text, whole numbers, decimals or booleans, all
        named as identifiers (a key's last row wins). A title whose value is in it gets the row as its payload
        and record (a JSON object of the row's columns, status ok); any other, no payload and the record
        ``{key: value, "not_found": missing}`` (status not_found). Written as by :meth:`upsert_frame`: only what
        changed. This default joins :meth:`field_values` to the table and writes with :meth:`upsert_frame`;
        PostgreSQL does the same in the database.
        """
        table = lookup_table(table, key)
        catalog = self.field_values(catalog_source, key).select("media", "tmdb_id", pl.col("value").alias(key))
        return self.upsert_frame(source, lookup_documents(table, catalog, key, missing))

    @abstractmethod
    def sync_catalog(self, source: str, media: str, frame: pl.DataFrame) -> CatalogSync:
        """A media type's whole title list (a daily export) into a source's queue, in one write: every title
        enqueued as by :meth:`enqueue` (popularity and hints refreshed only where they differ, DELETED ones
        revived), and the media's titles absent from the list marked DELETED.

        ``frame`` has the columns of :data:`ENTRY_FRAME` (``media`` optional, every row of ``media``); it is
        checked whole before anything is written (PostgreSQL also writes it in one transaction).
        """

    @abstractmethod
    def get_many(self, source: str, keys: Iterable[DocumentKey]) -> dict[DocumentKey, StoredDocument]: ...

    @abstractmethod
    def changes(
        self,
        source: str,
        since: str | None,
        *,
        media: str | None = None,
        shard: int | None = None,
        batch_size: int = 5_000,
    ) -> ChangeFeed:
        """Documents whose payload changed after ``since`` (``None``: all ever changed)."""

    def changed_keys(self, source: str, since: str | None, *, media: str, shard: int) -> tuple[str, pl.DataFrame]:
        """The keys (a :data:`KEY_FRAME`) of one partition's documents whose payload changed after ``since``, and
        the watermark to pass next time: :meth:`changes` without the documents (both backends read the keys
        alone)."""
        with self.changes(source, since, media=media, shard=shard) as feed:
            keys = [document.key for document in feed]
            return feed.watermark, pl.DataFrame(keys, schema=KEY_FRAME, orient="row")

    def relation_in(self, db: ServingDb) -> tuple[str, ...] | None:
        """The SQL relation (schema, table) that holds this store's documents when they live in ``db`` (then readers there join
        them in place); ``None`` when they live elsewhere."""
        return None

    @abstractmethod
    def count_by_status(self, source: str, *, media: str | None = None, shard: int | None = None) -> dict[str, int]: ...

    @abstractmethod
    def mark_deleted_except(self, source: str, media: str, present: Iterable[int]) -> int:
        """Mark every document of ``source`` and ``media`` whose id is not in ``present`` as DELETED
        (kept, not dropped; an upsert revives it). Returns how many were newly marked."""

    @abstractmethod
    def field_values(self, source: str, field: str, *, media: str | None = None,
                     shard: int | None = None) -> pl.DataFrame:
        """``media``, ``tmdb_id`` and ``value`` (``record[field]`` as text: strings as they are, numbers and
        booleans as JSON) for every document whose record has that field set (of one media type and shard when
        given: a catalog partition)."""

    @abstractmethod
    def fetch_ages(self, source: str, quantiles: Sequence[float] = (0.5, 0.9, 1.0), *, media: str | None = None,
                   shard: int | None = None) -> dict[float, timedelta | None]:
        """How long ago fetched documents were fetched, at these quantiles (None when nothing was fetched); of one
        media type and shard when given."""

    @abstractmethod
    def sources(self) -> list[str]:
        """Every source that has documents."""

    @abstractmethod
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
        """Atomically take up to ``limit`` due titles of one media type and shard: never fetched ones first, then those
        whose due date (``next_attempt_at``, set by their last fetch or failure) has passed or, without one, that are
        older than ``refresh_age``. ``only``: among these tmdb ids (lane 2 asks for given titles, with a refresh age
        of zero; a fetched title's own due date does not hold it back, a failure's backoff and the negative cache
        do)."""

    @abstractmethod
    def release(self, source: str, keys: Iterable[DocumentKey]) -> int:
        """End reservations without counting an attempt (the titles were not tried)."""

    @abstractmethod
    def fail(self, source: str, key: DocumentKey, error: str, *, policy: RetryPolicy,
             raw_body: str | bytes | None = None, url: str | None = None) -> Status:
        """Count a failed attempt: back off (``FAILED``), or ``QUARANTINED`` after the last attempt.

        ``raw_body`` (an answer that could not be used) is kept for replay, with the ``url`` it came from; a failure
        without a body (a timeout) keeps the body and URL of an earlier one."""

    @abstractmethod
    def quarantine(self, source: str, key: DocumentKey, reason: str, raw_body: str | bytes | None, *,
                   url: str | None = None) -> None:
        """Give up on a title for now, keeping the raw body that could not be used and the URL it came from (for
        replay)."""

    @abstractmethod
    def quarantined(self, source: str, *, since: datetime | None = None,
                    keys: Iterable[DocumentKey] | None = None) -> list[QuarantinedTitle]:
        """The source's quarantined titles, newest first (those quarantined before their time was kept last):
        quarantined at or after ``since``, and among ``keys``, when given. Without their bodies (read them with
        :meth:`get_many`): a long list stays small."""

    @abstractmethod
    def requeue(self, source: str, keys: Iterable[DocumentKey]) -> int:
        """Put quarantined titles back in the queue, due at once: attempts reset, their kept body, its URL and the
        reason dropped (the next fetch keeps its own), their status what it was before (pending when never fetched;
        ok or not found by the payload kept). Titles that are not quarantined are left alone. Returns how many."""

    @abstractmethod
    def set_quarantine_reasons(self, source: str, reasons: Mapping[DocumentKey, str]) -> int:
        """Give titles that are still quarantined a new reason (their kept body judged again); nothing else changes.
        Returns how many were."""

    # -- page-finding sources --------------------------------------------------------------

    @abstractmethod
    def queued(self, source: str, *, media: str, shard: int | None = None) -> pl.DataFrame:
        """Every title of the source's queue of this media (and shard) that is not deleted: a :data:`QUEUED_FRAME`."""

    @abstractmethod
    def merge_hints(self, source: str, frame: pl.DataFrame) -> int:
        """Merge hints (a :data:`HINTS_FRAME`) into titles the source's queue already has (never adding titles),
        keys present overwriting stored ones. A title whose hints change while it is negatively cached (not found, a
        duplicate) is due at once: new candidates for it arrived. Returns how many titles changed."""

    @abstractmethod
    def make_due(self, source: str, keys: Iterable[DocumentKey]) -> int:
        """Make these fetched titles due at once (upstream says they changed). Returns how many were."""

    @abstractmethod
    def holders(self, source: str, urls: Iterable[str]) -> dict[str, list[StoredDocument]]:
        """URL -> the documents (status ``ok``) that hold that page."""

    @abstractmethod
    def mark_duplicates(self, source: str, url: str, losers: Iterable[DocumentKey], holder: DocumentKey, *,
                        until: datetime) -> int:
        """Titles that hold the page at ``url`` (``ok``, still that page) while ``holder`` keeps it: status
        ``duplicate``, payload dropped (their serving columns empty), record naming the holder with the evidence they
        had, due again at ``until``. Returns how many were marked."""

    def close(self) -> None:
        """Release connections."""


def chunked(items: Iterable[Any], size: int) -> Iterator[list[Any]]:
    """Consecutive lists of at most ``size`` items: memory stays bounded by the batch size."""
    if size < 1:
        raise DocumentStoreError(f"batch size must be at least 1, got {size}")
    batch: list[Any] = []
    for item in items:
        batch.append(item)
        if len(batch) >= size:
            yield batch
            batch = []
    if batch:
        yield batch


def last_per_key(documents: Sequence[Any]) -> list[Any]:
    """Keep the last of several writes of one (media, tmdb_id) in a batch, in first-seen order."""
    by_key: dict[DocumentKey, Any] = {}
    for document in documents:
        by_key[(document.media, document.tmdb_id)] = document
    return list(by_key.values())


def check_media(media: str) -> str:
    if media not in MEDIA_TYPES:
        raise DocumentStoreError(f"media must be one of {MEDIA_TYPES}, got {media!r}")
    return media


def body_bytes(raw_body: str | bytes | None) -> bytes | None:
    """A raw body exactly as received (text is stored UTF-8 encoded): kept for replay, NUL bytes and all."""
    if raw_body is None or isinstance(raw_body, bytes):
        return raw_body
    return raw_body.encode("utf-8", errors="surrogateescape")


_HINT_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def check_hints(hints: dict[str, Any]) -> dict[str, Any]:
    for key in hints:
        if not _HINT_KEY.match(key):
            raise DocumentStoreError(f"hint names are identifiers (no dots or spaces), got {key!r}")
    return hints


def check_lease(lease: timedelta) -> timedelta:
    if lease <= timedelta(0):
        raise DocumentStoreError(f"a reservation lease must be positive, got {lease}")
    return lease


def validated(documents: Sequence[FetchedDocument]) -> list[FetchedDocument]:
    """Check a whole batch before any of it is written (so a bad document writes nothing)."""
    checked = []
    for document in documents:
        check_media(document.media)
        try:
            status = Status(document.status)
        except ValueError:
            raise DocumentStoreError(
                f"unknown status {document.status!r} for {document.media} {document.tmdb_id}"
            ) from None
        checked.append(document if document.status is status else replace(document, status=status))
    return checked
