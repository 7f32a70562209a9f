"""One run of a per-title source over one catalog partition: take titles from its queue, fetch them, store the outcome.

Lane 1 (completeness) takes due titles (never fetched first, by popularity; then, least recently fetched first,
those whose own due date passed or, without one, older than the source's refresh age); lane 2 (priority) asks for
given titles. Each batch ends in the store
before the next is taken, so a run that stops — rate limit, crash, kill — loses at most the batch
in flight, whose reservations expire and are taken again.

Per item, the source's ``handle`` returns a :class:`FetchedDocument` (stored: done, or "not found"),
raises ``ParseError`` (an unusable answer: its raw body is kept) or fails transiently; both count an
attempt with backoff, and the title is quarantined after ``retry.max_attempts`` (a broken page can be
a passing fault, so it is tried again first; a source that re-asks itself quarantines at once, see
``QueueSettings.quarantine_rejected``). Items the run did not try are released untouched.

A :class:`GroupHandle` takes several titles per request (an LLM prompt) and returns one result per title.

Each stored title's next fetch is set by what it is (``QueueSettings.refresh_after``: its refresh age, or the
negative cache's when nothing of the title's own was found). A page-finding source's stored pages are arbitrated
after each batch (``lib/shared_pages.py``): a page several titles claim stays with the best claimant.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from goodwatch_assets.errors import ParseError
from goodwatch_assets.fetching.client import ItemOutcome, SourceClient
from goodwatch_assets.lib.shared_pages import settle_shared_pages
from goodwatch_assets.models.queue import FetchedDocument, QueueEntry, Reservation, Status
from goodwatch_assets.sources.spec import GroupHandle, Handle, QueueSettings, SourceSpec, TitleResult
from goodwatch_assets.stores.documents import DocumentStore, UpsertOutcome


def _one_at_a_time(handle: Handle) -> GroupHandle:
    async def group(client: SourceClient, reservations: list[Reservation]) -> list[TitleResult]:
        return [await handle(client, reservation) for reservation in reservations]

    return GroupHandle(1, group)


def _per_title(groups: list[list[Reservation]], outcomes: list[ItemOutcome]) -> list[ItemOutcome]:
    """A group's outcome for each of its titles (a group's result list is one result per title)."""
    titles = []
    for group, outcome in zip(groups, outcomes, strict=True):
        if outcome.state != "done":
            titles += [ItemOutcome(r, outcome.state, error=outcome.error, body=outcome.body, url=outcome.url)
                       for r in group]
            continue
        for reservation, result in zip(group, outcome.value, strict=True):
            if result is None:
                titles.append(ItemOutcome(reservation, "not_tried"))
            elif isinstance(result, ParseError):
                titles.append(ItemOutcome(reservation, "rejected", error=str(result), body=result.body, url=result.url))
            else:
                titles.append(ItemOutcome(reservation, "done", value=result))
    return titles


@dataclass
class FetchReport:
    stored: UpsertOutcome = field(default_factory=UpsertOutcome)
    not_found: int = 0
    failed: int = 0
    rejected: int = 0  # unusable answers (counted in failed or quarantined too)
    quarantined: int = 0
    duplicates: int = 0  # titles whose page another title claims more strongly
    released: int = 0
    rate_limited: bool = False
    stopped_by: str | None = None

    @property
    def fetched(self) -> int:
        return self.stored.written

    def progress_line(self, taken: int, budget: int | None, client: SourceClient) -> str:
        """Where a run stands after a batch, for its log: titles tried of those taken from the queue so far (and its
        budget), what became of them, and the site's achieved rate."""
        of_budget = f" (budget {budget})" if budget is not None else ""
        tried = self.fetched + self.failed + self.quarantined
        return (f"{tried} titles tried of {taken} taken{of_budget}: {self.fetched} stored "
                f"({self.stored.inserted + self.stored.changed} changed, {self.not_found} not found), "
                f"{self.failed} failed, {self.quarantined} quarantined, {self.released} released untried; "
                f"{client.stats.requests} requests at {client.stats.achieved_rate:.1f}/s")

    def as_metadata(self, client: SourceClient) -> dict[str, Any]:
        return {
            "fetched": self.fetched, "changed": self.stored.inserted + self.stored.changed,
            "unchanged": self.stored.unchanged, "not_found": self.not_found, "failed": self.failed,
            "rejected": self.rejected, "duplicates": self.duplicates,
            "quarantined": self.quarantined, "released": self.released, "rate_limited": self.rate_limited,
            "stopped_by": self.stopped_by or "nothing", "pace": round(client.pace, 4),
            "duration_s": round(client.stats.elapsed_s, 3), **client.stats.as_metadata(),
        }


async def fetch_titles(
    store: DocumentStore,
    client: SourceClient,
    source: str,
    settings: QueueSettings,
    *,
    media: str,
    shard: int,
    handle: Handle | GroupHandle,
    max_items: int | None = None,
    only: Sequence[int] | None = None,
    feeds: Sequence[SourceSpec] = (),
    before_storing: Callable[[list[FetchedDocument]], None] | None = None,
    shared_pages: bool = False,
    on_batch: Callable[[FetchReport, int], None] | None = None,
) -> FetchReport:
    """Process due titles of one partition until none is due, ``max_items`` are done, or a rate limit.

    ``only`` restricts the run to these tmdb ids (lane 2, with the settings' refresh age taken as zero: the titles
    are fetched now, however recently they were, unless a failure's backoff or the negative cache holds them). Each
    batch's fetched titles are queued for the sources this one ``feeds``, and shown to ``before_storing``, just before
    they are stored: a run killed between the two writes leaves the next sources' queues with a title more, which is
    harmless, never a stored title they never hear of.
    ``shared_pages``: the source finds pages that several titles may claim; they are arbitrated after each batch.
    ``on_batch`` is shown the report and the titles reserved so far after each batch is stored (a run's progress).
    """
    refresh_age = settings.refresh_age if only is None else timedelta(0)
    # Each asked title once: with a refresh age of zero, a title fetched earlier in this run would be due again.
    remaining = None if only is None else list(dict.fromkeys(only))
    report = FetchReport()
    grouped = handle if isinstance(handle, GroupHandle) else _one_at_a_time(handle)
    taken = 0
    while not client.stopped and not client.halted and (max_items is None or taken < max_items) and remaining != []:
        limit = settings.batch_size if max_items is None else min(settings.batch_size, max_items - taken)
        reservations = store.reserve(source, media=media, shard=shard, limit=limit,
                                     refresh_age=refresh_age, lease=settings.lease, only=remaining)
        if not reservations:
            break
        taken += len(reservations)
        if remaining is not None:
            reserved = {r.tmdb_id for r in reservations}
            remaining = [tmdb_id for tmdb_id in remaining if tmdb_id not in reserved]
        groups = [reservations[i:i + grouped.size] for i in range(0, len(reservations), grouped.size)]
        outcomes = _per_title(groups, await client.run_items(groups, grouped.handle))
        batch = store_fetched(store, source, settings, [(o.value, o.item.hints) for o in outcomes if o.state == "done"],
                              feeds=feeds, before_storing=before_storing, shared_pages=shared_pages)
        documents = batch.documents
        report.stored += batch.outcome
        report.duplicates += batch.duplicates
        if settings.negative_cache is not None:
            _reopen_with_new_hints(store, source, reservations, documents)
        report.not_found += sum(1 for d in documents if d.status == Status.NOT_FOUND)
        for outcome in outcomes:
            if outcome.state == "rejected" and settings.quarantine_rejected:
                store.quarantine(source, outcome.item.key, outcome.error or "rejected", outcome.body, url=outcome.url)
                report.quarantined += 1
                report.rejected += 1
            elif outcome.state in ("rejected", "failed"):
                status = store.fail(source, outcome.item.key, outcome.error or outcome.state,
                                    policy=settings.retry, raw_body=outcome.body, url=outcome.url)
                report.quarantined += status == Status.QUARANTINED
                report.failed += status == Status.FAILED
                report.rejected += outcome.state == "rejected"
        untried = [o.item.key for o in outcomes if o.state == "not_tried"]
        report.released += store.release(source, untried) if untried else 0
        if on_batch is not None:
            on_batch(report, taken)
    report.rate_limited = client.rate_limited is not None
    report.stopped_by = client.rate_limited.reason if client.rate_limited else client.halted
    return report


@dataclass(frozen=True)
class StoredBatch:
    documents: list[FetchedDocument]
    """As written: each with the due date it was given."""
    outcome: UpsertOutcome
    duplicates: int
    """Titles whose page another title claims more strongly (page-finding sources)."""


def store_fetched(store: DocumentStore, source: str, settings: QueueSettings,
                  fetched: Sequence[tuple[FetchedDocument, Mapping[str, Any]]], *, feeds: Sequence[SourceSpec] = (),
                  before_storing: Callable[[list[FetchedDocument]], None] | None = None,
                  shared_pages: bool = False) -> StoredBatch:
    """Store fetched documents (each with its title's queue hints) the way a run stores a batch: each due again when
    what its title is says (``QueueSettings.refresh_after``), queued for the sources it ``feeds`` and shown to
    ``before_storing`` first, then written; the pages of a page-finding source (``shared_pages``) arbitrated after.
    Replayed quarantine bodies are stored through here too (``lib/quarantine.py``)."""
    today = datetime.now(UTC).date()
    documents = [replace(document, refresh_after=settings.refresh_after(document, hints, today))
                 for document, hints in fetched]
    if documents:
        queue_for_fed_sources(store, feeds, documents)
        if before_storing is not None:
            before_storing(documents)
    outcome = store.upsert(source, documents)
    duplicates = settle_shared_pages(store, source, documents, settings.negative_cache) \
        if shared_pages and documents else 0
    return StoredBatch(documents, outcome, duplicates)


def _reopen_with_new_hints(store: DocumentStore, source: str, reservations: list[Reservation],
                           documents: list[FetchedDocument]) -> None:
    """Titles stored as having nothing here whose hints changed while they were being fetched (new candidates merged
    meanwhile) are due again at once, instead of waiting the negative cache out with candidates never tried."""
    negative = {d.key for d in documents if d.status is Status.NOT_FOUND}
    if not negative:
        return
    asked = {r.key: r.hints for r in reservations if r.key in negative}
    changed = [key for key, stored in store.get_many(source, negative).items() if stored.hints != asked.get(key)]
    if changed:
        store.make_due(source, changed)


def queue_for_fed_sources(store: DocumentStore, feeds: Sequence[SourceSpec], fetched: list[FetchedDocument]) -> None:
    """Queue each fetched title its record describes (it has a title) for the sources it feeds, with the hints
    each of them asks its feed for."""
    described = [d for d in fetched if d.record and "title" in d.record]
    for spec in feeds:
        hints = spec.fed_by.hints if spec.fed_by else None
        store.enqueue(spec.name, [QueueEntry(d.media, d.tmdb_id, d.popularity, hints(d.record) if hints else {})
                                  for d in described])
