"""Quarantine you can act on: the titles a per-title source gave up on, what it kept of them, and two ways back.

A title is quarantined with the reason, the body that could not be used and the URL that body came from
(``DocumentStore.fail`` / ``quarantine``). From here:

* :func:`quarantined_titles` lists them, newest first, across the sources asked for;
* :func:`kept_document` is one of them with its body;
* :func:`replay` parses the kept bodies again with today's parsers (each source's ``SourceSpec.replay``), without a
  request: what passes is stored as a fetch stores it (``title_fetching.store_fetched``: its record, status ok, its
  next fetch when what the title is says, the sources it feeds told), what still fails keeps today's reason, what
  only a fetch can settle (a kept page that is another title's, a split TV Tropes article) goes back to the queue,
  and a title without a kept body is left for :func:`release`;
* :func:`release` puts titles back in the queue, due at once, attempts reset, their kept bodies dropped (the next
  fetch keeps its own: a body kept across it would be shown and replayed as what the next quarantine failed on).

Whole-file sources (IMDb's ratings, the daily exports) quarantine no title: a file that does not parse fails its run
and nothing of it is written. The ``goodwatch quarantine`` commands and the ``quarantine_replay`` /
``quarantine_release`` jobs are thin callers of this module.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from goodwatch_assets.errors import GoodwatchError, ParseError
from goodwatch_assets.fetching.policy import SitePolicy
from goodwatch_assets.lib.title_fetching import store_fetched
from goodwatch_assets.models.queue import DocumentKey, FetchedDocument, QuarantinedTitle, Status, StoredDocument
from goodwatch_assets.models.shards import MEDIA_TYPES
from goodwatch_assets.sources import registry
from goodwatch_assets.sources.spec import CannotReplay, Kept, NeedsRequests, QueueSettings, SourceSpec
from goodwatch_assets.stores.documents import DocumentStore, chunked

REPLAY_BATCH = 50
"""Kept bodies read, replayed and stored together (pages are up to a few hundred kB each)."""
_AGE = re.compile(r"^(\d+)\s*([mhdw])$")
_AGE_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class QuarantineError(GoodwatchError):
    """A quarantine command was asked for something that is not there (a source, a date, a title)."""


@dataclass(frozen=True)
class Selection:
    """Which quarantined titles a command acts on: of these sources, quarantined since then, among these titles."""

    sources: tuple[SourceSpec, ...]
    since: datetime | None = None
    keys: tuple[DocumentKey, ...] | None = None
    note: str | None = None
    """Why a source asked for has no titles to act on (it reads whole files)."""
    narrowed: bool = True
    """A source, a time or titles were named (not every quarantined title of every source)."""

    @classmethod
    def parse(cls, source: str | None = None, since: str | None = None, titles: Sequence[str] = (), *,
              now: datetime | None = None) -> Selection:
        """From what a user typed: a source's name (None: every per-title source), a date, time or age (``7d``), and
        titles as MEDIA TMDB_ID pairs (``movie 603 tv 1399``, one word each or pairs in one)."""
        sources, note = _sources(source)
        keys = parse_titles(titles)
        return cls(sources, since=None if since is None else parse_since(since, now or datetime.now(UTC)),
                   keys=keys or None, note=note, narrowed=bool(source or since or keys))


def _sources(name: str | None) -> tuple[tuple[SourceSpec, ...], str | None]:
    if name is None:
        return registry.PER_TITLE_SOURCES, None
    spec = next((s for s in registry.SOURCES if s.name == name), None)
    if spec is None:
        known = ", ".join(s.name for s in registry.SOURCES)
        raise QuarantineError(f"unknown source {name!r}: the sources are {known}")
    if not spec.per_title:
        return (), (f"{name} reads whole files: it quarantines no title (a file that does not parse fails its run, "
                    "and nothing of it is written)")
    return (spec,), None


def parse_since(text: str, now: datetime) -> datetime:
    """``2026-11-01`` (midnight UTC), ``2026-11-01T12:00`` (UTC unless it says otherwise), or an age before ``now``:
    ``90m``, ``12h``, ``7d``, ``2w``."""
    text = text.strip()
    if match := _AGE.match(text):
        return now - timedelta(**{_AGE_UNITS[match[2]]: int(match[1])})
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise QuarantineError(f"since {text!r} is not a date (2026-11-01), a UTC time (2026-11-01T12:00) or an age "
                              "(90m, 12h, 7d, 2w)") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def parse_titles(words: Sequence[str]) -> tuple[DocumentKey, ...]:
    """MEDIA TMDB_ID pairs (``movie 603 tv 1399``) as document keys."""
    tokens = [token for word in words for token in word.split()]
    if len(tokens) % 2:
        raise QuarantineError(f"titles are MEDIA TMDB_ID pairs (movie 603 tv 1399); got {' '.join(tokens)!r}")
    keys = []
    for media, tmdb_id in zip(tokens[::2], tokens[1::2], strict=True):
        if media not in MEDIA_TYPES or not tmdb_id.isdigit() or int(tmdb_id) < 1:
            raise QuarantineError(f"{media} {tmdb_id!r} is not a title: MEDIA is one of {', '.join(MEDIA_TYPES)}, "
                                  "TMDB_ID a positive whole number")
        keys.append((media, int(tmdb_id)))
    return tuple(dict.fromkeys(keys))


# -- looking ----------------------------------------------------------------------------------------------------------

def quarantined_titles(store: DocumentStore, selection: Selection) -> list[QuarantinedTitle]:
    """The selected quarantined titles of every source selected, newest first (without a time, last)."""
    titles = [title for spec in selection.sources
              for title in store.quarantined(spec.name, since=selection.since, keys=selection.keys)]
    return sorted(titles, key=QuarantinedTitle.newest_first)


def kept_document(store: DocumentStore, source: str, key: DocumentKey) -> StoredDocument:
    """One quarantined title's document, with its kept body; QuarantineError when it is not quarantined."""
    _, note = _sources(source)
    if note:
        raise QuarantineError(note)
    document = store.get_many(source, [key]).get(key)
    if document is None:
        raise QuarantineError(f"{source} has no {key[0]} {key[1]}")
    if document.status is not Status.QUARANTINED:
        raise QuarantineError(f"{source} {key[0]} {key[1]} is not quarantined (its status is {document.status})")
    return document


def first_line(reason: str | None) -> str:
    """A reason's first line (``show`` prints the rest)."""
    lines = (reason or "").strip().splitlines()
    return lines[0] if lines else "(no reason kept)"


def title_label(source: str, key: DocumentKey) -> str:
    """A title as every quarantine output names it: source, media, tmdb id, in aligned columns."""
    return f"{source:<16} {key[0]:<5} {key[1]:>9}"


# -- replay -----------------------------------------------------------------------------------------------------------

STORED = "stored"
STILL_FAILING = "still failing"
REQUEUED = "back in the queue"
NOT_REPLAYED = "not replayed"
NOTHING_TO_REPLAY = "nothing to replay, use release"


@dataclass(frozen=True)
class ReplaySettings:
    """What replay needs of this environment: each source's queue (its refresh ages, negative cache), each site as
    configured (a kept page's URL read as a path on it), and the chat model DNA answers are recorded as from."""

    queue: Callable[[SourceSpec], QueueSettings]
    site: Callable[[SitePolicy], SitePolicy]
    llm_model: str


@dataclass(frozen=True)
class Replayed:
    source: str
    key: DocumentKey
    outcome: str
    detail: str

    def line(self) -> str:
        return f"{title_label(self.source, self.key)}  {self.outcome}: {self.detail}"


@dataclass
class ReplayReport:
    titles: list[Replayed] = field(default_factory=list)
    note: str | None = None

    def count(self, outcome: str) -> int:
        return sum(1 for title in self.titles if title.outcome == outcome)

    def summary(self) -> str:
        return (f"replayed {len(self.titles)} quarantined titles: {self.count(STORED)} stored, "
                f"{self.count(STILL_FAILING)} still failing, {self.count(REQUEUED)} back in the queue for a fetch, "
                f"{self.count(NOT_REPLAYED)} not replayed (nothing kept to replay: use release)")

    def lines(self) -> list[str]:
        return [*([self.note] if self.note else []), *(t.line() for t in self.titles), self.summary()]

    def as_metadata(self) -> dict[str, Any]:
        return {"titles": len(self.titles), "stored": self.count(STORED), "still_failing": self.count(STILL_FAILING),
                "requeued": self.count(REQUEUED), "not_replayed": self.count(NOT_REPLAYED)}


def replay(store: DocumentStore, selection: Selection, settings: ReplaySettings, *,
           batch_size: int = REPLAY_BATCH) -> ReplayReport:
    """Parse the selected titles' kept bodies again with today's parsers, without a request, and store what passes
    (see the module docstring). Sends nothing anywhere: every source's replay is a pure function of what was kept."""
    report = ReplayReport(note=selection.note)
    for spec in selection.sources:
        for titles in chunked(store.quarantined(spec.name, since=selection.since, keys=selection.keys), batch_size):
            report.titles += _replay_batch(store, spec, titles, settings)
    return report


def _replay_batch(store: DocumentStore, spec: SourceSpec, titles: list[QuarantinedTitle],
                  settings: ReplaySettings) -> list[Replayed]:
    keys = [t.key for t in titles if t.body_size is not None]
    documents = store.get_many(spec.name, keys)
    fed = store.get_many(spec.fed_by.source, keys) if spec.fed_by and keys else {}
    site = settings.site(spec.site)
    results: dict[DocumentKey, Replayed] = {}
    fetched: list[tuple[FetchedDocument, dict[str, Any]]] = []
    reasons: dict[DocumentKey, str] = {}
    requeue: list[DocumentKey] = []
    for title in titles:
        document = documents.get(title.key)
        if title.body_size is None or spec.replay is None:
            why = "no body was kept" if spec.replay else f"{spec.name} has no replay"
            results[title.key] = Replayed(spec.name, title.key, NOT_REPLAYED,
                                          f"{NOTHING_TO_REPLAY} ({why}; quarantined for: {first_line(title.reason)})")
            continue
        if document is None or document.status is not Status.QUARANTINED or document.quarantine_body is None:
            continue  # released or fetched since it was listed
        url, fed_document = document.quarantine_url, fed.get(title.key)
        kept = Kept(title.media, title.tmdb_id, document.quarantine_body, url, site.path_of(url) if url else None,
                    document.hints, fed_document.record if fed_document else None, settings.llm_model)
        try:
            fetched.append((spec.replay(kept), document.hints))
        except NeedsRequests as error:
            requeue.append(title.key)
            results[title.key] = Replayed(spec.name, title.key, REQUEUED, f"{error} (due at once)")
        except CannotReplay as error:
            results[title.key] = Replayed(spec.name, title.key, NOT_REPLAYED, f"{NOTHING_TO_REPLAY} ({error})")
        except ParseError as error:
            reasons[title.key] = str(error)
            results[title.key] = Replayed(spec.name, title.key, STILL_FAILING, first_line(str(error)))
    if fetched:
        batch = store_fetched(store, spec.name, settings.queue(spec), fetched, feeds=registry.fed_by(spec.name),
                              shared_pages=spec.finding is not None)
        now_stored = store.get_many(spec.name, [d.key for d in batch.documents])
        for document in batch.documents:
            results[document.key] = Replayed(spec.name, document.key, STORED,
                                             _stored_detail(document, now_stored.get(document.key)))
    store.set_quarantine_reasons(spec.name, reasons)
    store.requeue(spec.name, requeue)
    return [results[t.key] for t in titles if t.key in results]


def _stored_detail(document: FetchedDocument, stored: StoredDocument | None) -> str:
    """What a replayed title was stored as: its status (after pages shared by several titles were settled), the page,
    the match confidence, and when it is due again."""
    status = stored.status if stored else document.status
    parts = [str(status) if status is not Status.DUPLICATE else "duplicate (another title claims the page more "
             "strongly)"]
    if document.source_url:
        parts.append(document.source_url)
    if (document.record or {}).get("match_confidence") is not None:
        parts.append(f"match confidence {document.record['match_confidence']}")
    due = "due again at the source's refresh age" if document.refresh_after is None else \
        f"due again in {document.refresh_after.days} days"
    return f"{', '.join(parts)}; {due}"


# -- release ----------------------------------------------------------------------------------------------------------

@dataclass
class ReleaseReport:
    titles: list[QuarantinedTitle] = field(default_factory=list)
    """The titles asked for."""
    released: Counter = field(default_factory=Counter)
    """Source -> titles put back in the queue (fewer than asked when some were fetched or released meanwhile)."""
    note: str | None = None

    def lines(self) -> list[str]:
        per_source = ", ".join(f"{source} {count}" for source, count in sorted(self.released.items()))
        return [*([self.note] if self.note else []),
                *(f"{title_label(t.source, t.key)}  released (quarantined for: {first_line(t.reason)})"
                  for t in self.titles),
                f"released {sum(self.released.values())} titles{f' ({per_source})' if per_source else ''}: due at "
                "once, attempts reset, kept bodies dropped"]

    def as_metadata(self) -> dict[str, Any]:
        return {"released": sum(self.released.values()), **{f"{s}/released": n for s, n in self.released.items()}}


def release(store: DocumentStore, selection: Selection, *, every_title: bool = False) -> ReleaseReport:
    """Put the selected quarantined titles back in their source's queue (``DocumentStore.requeue``).

    Releasing drops the kept bodies, the only copy replay could use, so a selection that names nothing (every title of
    every source) is refused unless ``every_title`` says so."""
    if not selection.narrowed and not every_title:
        raise QuarantineError("release drops the kept bodies: name a source, a time (since) or titles, or ask for "
                              "every quarantined title of every source (--all)")
    report = ReleaseReport(note=selection.note)
    for spec in selection.sources:
        titles = store.quarantined(spec.name, since=selection.since, keys=selection.keys)
        if titles:
            report.titles += titles
            report.released[spec.name] += store.requeue(spec.name, [t.key for t in titles])
    return report
