"""Why a title shows what it shows (``goodwatch explain``): every source's stored document of one title and its
serving row, each value with the source it came from.

For each source: its status, the values it stored, the page's URL, when it was fetched, the match confidence and
evidence (page-finding sources), why nothing was found (the paths tried, each rejected page with the reason and what
the page said it was), the error or quarantine reason, attempts, and when the title is fetched again. Documents are
read through the :class:`DocumentStore` contract, so either backend explains; the row through the serving database.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime, timedelta
from typing import Any

from goodwatch_assets.errors import GoodwatchError
from goodwatch_assets.lib.serving_row import ServingRow, read_serving_row
from goodwatch_assets.models.queue import NOT_DUE_STATUSES, Status, StoredDocument
from goodwatch_assets.sources.page_finding import NOT_THE_TITLES
from goodwatch_assets.sources.registry import SOURCES
from goodwatch_assets.sources.spec import SourceSpec
from goodwatch_assets.stores.documents import DocumentStore
from goodwatch_assets.stores.serving_columns import ROWS_SOURCE, SERVING_TABLES
from goodwatch_assets.stores.serving_db import ServingDb
from goodwatch_assets.stores.urls import redact

REJECTED = "rejected"
"""Not found because verification rejected every page found (``not_found`` is :data:`NOT_THE_TITLES`)."""
ABSENT = "absent"
"""No document: the title is not queued for the source (IMDb ratings without an IMDb id, a source not fed yet)."""
FINDING_FIELDS = ("url", "match_confidence", "evidence", "not_found", "tried", "rejected", "duplicate_of")
"""What a page-finding record says of the finding rather than of the title: explained apart from its values."""


class TitleUnknown(GoodwatchError):
    """No store knows the title."""


@dataclass(frozen=True)
class NextRefresh:
    """When the title is fetched again from the source.

    ``basis``: ``next_attempt_at`` (the due date its last fetch or failure set: its refresh age, the negative cache,
    a retry's backoff), ``refresh_age`` (its fetch plus the source's refresh age), ``never_fetched`` (due now),
    ``daily_file`` (a whole-file source: with the next daily file), ``partition_run`` (a source asked for a whole
    partition at once: with its next run), ``not_due`` (quarantined or deleted: not until that changes),
    ``not_queued`` or ``unknown_source``.
    """

    at: datetime | None
    basis: str
    due: bool


@dataclass(frozen=True)
class SourceExplanation:
    source: str
    status: str
    """A document status, or :data:`REJECTED` (not found: every page found was rejected), or :data:`ABSENT`."""
    url: str | None
    fetched_at: datetime | None
    changed_at: datetime | None
    values: dict[str, Any] | None
    """The stored record's fields the source serves (every field for a source that serves none); None without a
    payload (not found, a duplicate, never fetched)."""
    match_confidence: float | None
    evidence: dict[str, Any] | None
    not_found: str | None
    tried: tuple[str, ...]
    rejected: tuple[dict[str, Any], ...]
    """Each rejected page: ``path``, ``found_by``, ``reason`` and ``page`` (what it said it was)."""
    duplicate_of: tuple[str, int] | None
    """The title that holds the page (status duplicate)."""
    error: str | None
    """The last failure's error, or the quarantine reason."""
    attempts: int
    next_refresh: NextRefresh


@dataclass(frozen=True)
class Explanation:
    media: str
    tmdb_id: int
    title: str | None
    year: int | None
    sources: tuple[SourceExplanation, ...]
    serving: ServingRow | None
    """The row of ``movies`` / ``tv_shows``; None when the title has none (no TMDB details yet)."""

    def as_json(self) -> dict[str, Any]:
        """The explanation as JSON-ready values: sources by name, the row's values and aggregates by column, datetimes
        as ISO 8601 text."""
        plain = _plain(self)
        plain["sources"] = _keyed(plain["sources"], "source")
        if plain["serving"] is not None:
            plain["serving"]["values"] = _keyed(plain["serving"]["values"], "column")
            plain["serving"]["aggregates"] = _keyed(plain["serving"]["aggregates"], "column")
        return plain


def explain_title(store: DocumentStore, db: ServingDb, media: str, tmdb_id: int, *,
                  refresh_ages: Mapping[str, timedelta] | None = None) -> Explanation:
    """Explain one title from every source's document and its serving row.

    ``refresh_ages``: per-title source -> its refresh age as configured (default: its spec's); only a title without a
    due date of its own (``next_attempt_at``) counts from it. Raises :class:`TitleUnknown` when no store knows the
    title.
    """
    key, now = (media, tmdb_id), store.clock()
    specs = {spec.name: spec for spec in sorted(SOURCES, key=lambda spec: spec is not ROWS_SOURCE)}
    names = [*specs, *sorted(set(store.sources()) - set(specs))]
    documents = {name: store.get_many(name, [key]).get(key) for name in names}
    serving = read_serving_row(db, media, tmdb_id)
    if serving is None and not any(documents.values()):
        raise TitleUnknown(f"{media} {tmdb_id} is in no store: no source has a document of it and "
                           f"{SERVING_TABLES[media]} has no row")
    ages = {name: spec.queue.refresh_age for name, spec in specs.items() if spec.queue} | dict(refresh_ages or {})
    sources = tuple(_explain_source(name, specs.get(name), documents[name], ages.get(name), now) for name in names)
    title, year = _identity(serving, documents.get(ROWS_SOURCE.name))
    return Explanation(media, tmdb_id, title, year, sources, serving)


def status_of(document: StoredDocument | None) -> str:
    """The document's status, "rejected" for a page-finding source's "not found" that verification made, "absent"
    without a document."""
    if document is None:
        return ABSENT
    if document.status is Status.NOT_FOUND and (document.record or {}).get("not_found") == NOT_THE_TITLES:
        return REJECTED
    return str(document.status)


def served_fields(spec: SourceSpec | None) -> tuple[str, ...] | None:
    """The record fields the source serves (``Serving.record_fields``: ``"name type, …"``); None: it serves none."""
    if spec is None or spec.serving is None:
        return None
    return tuple(part.split()[0].strip('"') for part in spec.serving.record_fields.split(","))


def next_refresh(spec: SourceSpec | None, document: StoredDocument | None, refresh_age: timedelta | None,
                 now: datetime) -> NextRefresh:
    """When the title is fetched again, as the queue decides it (``DocumentStore.reserve``): at the due date its last
    fetch or failure set, else once older than the refresh age; never fetched: now."""
    if spec is None:
        return NextRefresh(None, "unknown_source", False)
    if not spec.per_title:
        return NextRefresh(None, "daily_file" if spec.partitions == "daily" else "partition_run", False)
    if document is None:
        return NextRefresh(None, "not_queued", False)
    if document.status in NOT_DUE_STATUSES:
        return NextRefresh(None, "not_due", False)
    if document.next_attempt_at is not None:
        return NextRefresh(document.next_attempt_at, "next_attempt_at", document.next_attempt_at <= now)
    if document.fetched_at is None:
        return NextRefresh(None, "never_fetched", True)
    at = document.fetched_at + refresh_age
    return NextRefresh(at, "refresh_age", at <= now)


def _explain_source(name: str, spec: SourceSpec | None, document: StoredDocument | None,
                    refresh_age: timedelta | None, now: datetime) -> SourceExplanation:
    record = (document.record if document else None) or {}
    url = (document.source_url if document else None) or record.get("url")
    duplicate_of = record.get("duplicate_of")
    return SourceExplanation(
        source=name,
        status=status_of(document),
        url=redact(url) if url else None,
        fetched_at=document.fetched_at if document else None,
        changed_at=document.changed_at if document else None,
        values=_values(spec, document),
        match_confidence=record.get("match_confidence"),
        evidence=record.get("evidence"),
        not_found=record.get("not_found"),
        tried=tuple(record.get("tried") or ()),
        rejected=tuple(record.get("rejected") or ()),
        duplicate_of=tuple(duplicate_of) if duplicate_of else None,
        error=document.error if document else None,
        attempts=document.attempts if document else 0,
        next_refresh=next_refresh(spec, document, refresh_age, now),
    )


def _values(spec: SourceSpec | None, document: StoredDocument | None) -> dict[str, Any] | None:
    if document is None or document.payload is None or document.record is None:
        return None
    names = served_fields(spec) or tuple(document.record)
    return {name: document.record.get(name) for name in names if name not in FINDING_FIELDS}


def _identity(serving: ServingRow | None, details: StoredDocument | None) -> tuple[str | None, int | None]:
    """The title's name and year: its row's, else its TMDB details'."""
    if serving is not None:
        row = {value.column: value.value for value in serving.values}
        return row["title"], row["release_year"]
    record = (details.record if details else None) or {}
    return record.get("title"), record.get("year")


def _keyed(items: list[dict[str, Any]], key: str) -> dict[str, dict[str, Any]]:
    return {item.pop(key): item for item in items}


def _plain(value: Any) -> Any:
    """Dataclasses as dicts, tuples as lists, dates and datetimes as ISO 8601 text."""
    if is_dataclass(value):
        return {field.name: _plain(getattr(value, field.name)) for field in fields(value)}
    if isinstance(value, dict):
        return {str(key): _plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, date):  # a datetime is a date too
        return value.isoformat()
    return value
