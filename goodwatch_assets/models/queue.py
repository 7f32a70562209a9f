"""The raw layer's record and queue types: what sources produce, what the document store keeps and hands out.

Sources build :class:`FetchedDocument` from a :class:`Reservation`; the document store (``stores/documents.py``)
keeps them as :class:`StoredDocument` with a :class:`Status`; :class:`RetryPolicy` says how failed titles are
retried. No store and no Dagster here: sources, stores and the work loop all speak these types.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

DocumentKey = tuple[str, int]
"""(media, tmdb_id): the key of a document within one source."""


class Status(StrEnum):
    PENDING = "pending"  # known to the source, never fetched
    OK = "ok"  # fetched, payload stored
    NOT_FOUND = "not_found"  # fetched: upstream has nothing for this title
    FAILED = "failed"  # last attempt failed; retried after next_attempt_at
    QUARANTINED = "quarantined"  # given up on: invalid content or too many failures
    DELETED = "deleted"  # gone from upstream (e.g. absent from TMDB's daily export)
    DUPLICATE = "duplicate"  # its page is another title's: a better claimant holds it (page-finding sources)


NOT_DUE_STATUSES = (Status.QUARANTINED, Status.DELETED)


@dataclass(frozen=True)
class QueueEntry:
    """A title made known to a source's queue."""

    media: str
    tmdb_id: int
    popularity: float | None = None
    hints: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class FetchedDocument:
    """What a source produced for one title: written by :meth:`DocumentStore.upsert`."""

    media: str
    tmdb_id: int
    payload: Any
    record: dict[str, Any] | None = None
    source_url: str | None = None
    status: Status = Status.OK
    popularity: float | None = None
    refresh_after: timedelta | None = None
    """When the title is due again, from now (its own refresh age, or the negative cache's); None: the source's
    refresh age."""

    @property
    def key(self) -> DocumentKey:
        return (self.media, self.tmdb_id)


@dataclass(frozen=True)
class StoredDocument:
    source: str
    media: str
    tmdb_id: int
    shard: int
    popularity: float | None
    hints: dict[str, Any]
    payload: Any
    record: dict[str, Any] | None
    payload_hash: str | None
    source_url: str | None
    status: Status
    attempts: int
    error: str | None
    quarantine_body: bytes | None
    quarantine_url: str | None
    """The URL the kept body came from (not ``source_url``: that is the last verified page, which the next fetch tries
    first)."""
    quarantined_at: datetime | None
    """When the title was quarantined (None while it is not)."""
    next_attempt_at: datetime | None
    reserved_until: datetime | None
    fetched_at: datetime | None
    changed_at: datetime | None

    @property
    def key(self) -> DocumentKey:
        return (self.media, self.tmdb_id)


@dataclass(frozen=True)
class QuarantinedTitle:
    """A quarantined title as :meth:`DocumentStore.quarantined` lists it: why and when, without its kept body (only
    its size, None when no body was kept)."""

    source: str
    media: str
    tmdb_id: int
    attempts: int
    reason: str | None
    quarantined_at: datetime | None
    url: str | None
    body_size: int | None

    @property
    def key(self) -> DocumentKey:
        return (self.media, self.tmdb_id)

    def newest_first(self) -> tuple:
        """The order titles are listed in: the most recently quarantined first, those quarantined before the time was
        kept last; then by title."""
        at = self.quarantined_at
        return (at is None, -at.timestamp() if at else 0.0, self.source, self.media, self.tmdb_id)


@dataclass(frozen=True)
class Reservation:
    """A title handed out by :meth:`DocumentStore.reserve`, leased until ``reserved_until``."""

    media: str
    tmdb_id: int
    popularity: float | None
    hints: dict[str, Any]
    attempts: int
    fetched_at: datetime | None
    reserved_until: datetime
    verified_url: str | None = None
    """The URL of the page the title's last good fetch accepted (page-finding sources try it first); kept through a
    failed fetch, dropped once the title is not found or its page another title's."""

    @property
    def key(self) -> DocumentKey:
        return (self.media, self.tmdb_id)


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff between failed attempts of one title, and when to give up on it.

    The n-th failure (n = attempts after it) waits ``base_delay * 2**(n-1)``, capped at
    ``max_delay``, spread by ±``jitter``; the ``max_attempts``-th failure quarantines the title.
    """

    max_attempts: int = 5
    base_delay: timedelta = timedelta(minutes=30)
    max_delay: timedelta = timedelta(days=7)
    jitter: float = 0.25

    def next_attempt_at(self, attempts: int, now: datetime, rng: random.Random | None = None) -> datetime | None:
        """When to try again after ``attempts`` failures; ``None`` means quarantine."""
        if attempts >= self.max_attempts:
            return None
        delay = min(self.base_delay * (2 ** (attempts - 1)), self.max_delay)
        spread = 1 + self.jitter * (2 * (rng or random).random() - 1)
        return now + delay * spread
