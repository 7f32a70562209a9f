"""What one upstream source is, in one typed, Dagster-free spec.

Each module of ``sources/`` that feeds the raw layer exports ``SPEC``: the source's one name (its asset key, its
document-store source and queue, its metadata, its settings' ``GOODWATCH_<NAME>_…``), the site it fetches from
(policy and pool), how its titles are queued and refreshed, how fresh its asset must be, the value ranges its checks
hold it to, how its lane-1 sweep is sized, the columns it gives the serving tables, and which source fills its
queue. Everything that lists sources elsewhere (assets, checks, schedules, pools, settings, the combine, lane 2's
chain) is derived from the specs (``sources/registry.py``), so a source is read, and added, in one place.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any, Literal

from goodwatch_assets.errors import GoodwatchError, ParseError
from goodwatch_assets.fetching.policy import SitePolicy
from goodwatch_assets.models.queue import DocumentKey, FetchedDocument, Reservation, RetryPolicy, Status

if TYPE_CHECKING:
    from goodwatch_assets.fetching.client import SourceClient

Handle = Callable[["SourceClient", Reservation], Awaitable[FetchedDocument]]
"""How a source fetches one reserved title: its document (possibly "not found"), or ParseError for an unusable
answer (its raw body kept), or a fetch error (retried later)."""
TitleResult = FetchedDocument | ParseError | None
"""A group handle's result for one title: its document, the ParseError its part of the answer raised, or None
when it was not tried after all (released, still due)."""


@dataclass(frozen=True)
class Kept:
    """A quarantined title as its source's replay sees it: the body that could not be used and the URL it came from
    (``path``: the same as a path on the site, as configured here), the title's queue hints, the record the source
    that feeds this one holds for it (DNA's prompt is made of the TMDB details), and the chat model answers are
    recorded as coming from."""

    media: str
    tmdb_id: int
    body: bytes
    url: str | None
    path: str | None
    hints: Mapping[str, Any]
    fed_record: Mapping[str, Any] | None
    llm_model: str

    @property
    def key(self) -> DocumentKey:
        return (self.media, self.tmdb_id)


Replay = Callable[[Kept], FetchedDocument]
"""How a source parses a quarantined title's kept body again, with today's parser and without a request: the
document a fetch would have stored, ParseError when the body is still unusable, :class:`NeedsRequests` when only a
fetch can settle the title, or :class:`CannotReplay`."""


class NeedsRequests(GoodwatchError):
    """The kept body is usable today, but does not settle the title: only a fetch can. It is another title's page (a
    fetch goes on to the title's other candidates), or a split TV Tropes article whose sub-pages hold its tropes."""


class CannotReplay(GoodwatchError):
    """The kept body cannot be judged without what was not kept with it (a page's URL, before URLs were kept)."""


@dataclass(frozen=True)
class GroupHandle:
    """A handle for up to ``size`` titles at once (an LLM prompt). An exception fails the whole group."""

    size: int
    handle: Callable[[SourceClient, list[Reservation]], Awaitable[list[TitleResult]]]


@dataclass(frozen=True)
class Freshness:
    """How old the newest materialization of the source's asset may get: a warning, then a failure."""

    warn_after: timedelta
    fail_after: timedelta


HOURLY = Freshness(warn_after=timedelta(hours=2), fail_after=timedelta(hours=3))
DAILY = Freshness(warn_after=timedelta(hours=26), fail_after=timedelta(hours=30))
WEEKLY = Freshness(warn_after=timedelta(days=7), fail_after=timedelta(days=8))
MONTHLY = Freshness(warn_after=timedelta(days=31), fail_after=timedelta(days=35))


@dataclass(frozen=True)
class RefreshAges:
    """How long a fetched title stays fresh, by what the title is: an airing show changes every week, a recent movie
    while its reviews come in, an old movie hardly ever."""

    airing_show: timedelta
    other_show: timedelta
    recent_movie: timedelta
    other_movie: timedelta
    recent: timedelta = timedelta(days=180)
    """A movie released less than this long ago is recent."""

    AIRING = frozenset({"Returning Series", "In Production", "Planned", "Pilot"})

    def after(self, media: str, facts: Mapping[str, Any], today: date) -> timedelta:
        """The age for a title, from what its details say (``status``, ``release_date``, ``year``)."""
        if media == "tv":
            return self.airing_show if facts.get("status") in self.AIRING else self.other_show
        released = _date(facts.get("release_date"))
        if released is None and isinstance(facts.get("year"), int):
            released = date(facts["year"], 12, 31)
        return self.recent_movie if released is not None and released >= today - self.recent else self.other_movie


def _date(value: Any) -> date | None:
    try:
        return date.fromisoformat(value) if isinstance(value, str) else None
    except ValueError:
        return None


@dataclass(frozen=True)
class QueueSettings:
    """A per-title source's work queue: when a fetched title is due again, and how a run takes titles."""

    refresh_age: timedelta
    """When a fetched title is due again, for sources without ``refresh_ages``."""
    batch_size: int = 50
    """Titles reserved, fetched and stored together; a killed run loses at most one batch."""
    lease: timedelta = timedelta(minutes=30)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    quarantine_rejected: bool = False
    """Quarantine an unusable answer at once (the source already asked again before giving up)."""
    refresh_ages: RefreshAges | None = None
    """Ages by what the title is, instead of one ``refresh_age`` for all."""
    negative_cache: timedelta | None = None
    """Page-finding sources: how long a title found to have nothing here (not found, its pages rejected, its page
    another title's) is left alone, unless new candidates for it arrive. None: such a title is due again like any."""

    def refresh_after(self, document: FetchedDocument, hints: Mapping[str, Any], today: date) -> timedelta | None:
        """When a fetched title is due again, from now (None: ``refresh_age`` after its fetch)."""
        if document.status in (Status.NOT_FOUND, Status.DUPLICATE):
            return self.negative_cache
        if self.refresh_ages is None:
            return None
        facts = {**hints, **{k: v for k, v in (document.record or {}).items() if k in _FACTS}}
        return self.refresh_ages.after(document.media, facts, today)


_FACTS = ("release_date", "status", "year", "last_air_date")
"""What a record says of its title that sets its refresh age (TMDB details carry them; pages do not)."""


@dataclass(frozen=True)
class Sweep:
    """The source's lane-1 schedule: every catalog partition once per ``period``, as many titles per run as the
    site's rate allows, counting ``requests_per_title``."""

    cron: str
    period: timedelta
    requests_per_title: float = 1.0


@dataclass(frozen=True)
class Feed:
    """Where a source's titles come from: each title another source fetched (and described, with a title) is
    queued for this one, with ``hints`` made from that source's record (what this source needs to find the title)."""

    source: str
    hints: Callable[[dict[str, Any]], dict[str, Any]] | None = None


@dataclass(frozen=True)
class Column:
    """A column of ``movies`` / ``tv_shows``: SQL of its value over a title's documents (see
    ``stores/serving_columns.py`` for the aliases). ``kept``: a missing new value keeps the stored one;
    ``array``: an empty list counts as missing; ``media``: only in that media type's table."""

    name: str
    value: str
    kept: bool = True
    array: bool = False
    media: str | None = None


def as_percent(value: str, scale: int = 1) -> str:
    """SQL of a score as percent: ``scale`` 10 for a score out of 10."""
    return f"({value} * {scale})::real" if scale != 1 else f"{value}::real"


@dataclass(frozen=True)
class Serving:
    """What a source gives the serving tables.

    Its document of a title is joined as ``alias`` (only documents with status ``ok``) and its record's
    ``record_fields`` (``"name type, …"``) as ``<alias>r``; ``columns`` read them. Every source also gets
    ``<name>_updated_at``. ``user_scores`` / ``official_scores`` name its (percent, count) columns that enter the
    aggregated user / official scores.
    """

    alias: str
    record_fields: str
    columns: tuple[Column, ...]
    rows: bool = False
    """This source's document makes a title's serving row and its streaming links (TMDB details): the other
    sources' columns wait for it."""
    user_scores: tuple[tuple[str, str], ...] = ()
    official_scores: tuple[tuple[str, str], ...] = ()
    disowned_by: tuple[Status, ...] = ()
    """Document statuses that say the title has no value here after all (its page was another title's): its
    ``kept`` columns are emptied instead of keeping what was stored."""
    combined_after: str | None = None
    """The asset whose materialization makes these columns ready, when it is not the source's own (DNA's labels are
    linked by ``dna_vectors``)."""


@dataclass(frozen=True)
class PageFinding:
    """Where a page-finding source looks for a title's page before guessing its URL.

    In order: the page the title verified before, the page its Wikidata item names (``wikidata_property``, an
    identifier that ``wikidata_path`` turns into a path), the pages whose slug matches one of its names in the site's
    sitemaps (``sitemap``, read weekly), and last the guessed URLs, where ``guessing`` (the default of the source's
    ``GOODWATCH_<NAME>_GUESSING`` setting) allows them. Every candidate is verified before it is accepted.
    """

    wikidata_property: str | None = None
    wikidata_path: Callable[[str], str] | None = None
    sitemap: str | None = None
    slug: Callable[[str], str] | None = None
    """The site's slug of a title's name (what sitemap pages are matched by) ..."""
    separator: str = "-"
    """... and what joins its words."""
    page_keys: Callable[[str], list[tuple[str, str, int | None]]] | None = None
    """What a sitemap's page path names: (media, slug, year) for each way of reading it (a slug ending in a year is
    either a title with that year suffix or a title whose name ends in a number)."""
    guessing: bool = True


@dataclass(frozen=True)
class SourceSpec:
    name: str
    description: str
    site: SitePolicy
    freshness: Freshness
    partitions: Literal["catalog", "daily"] = "catalog"
    """``catalog``: one run per media type and shard; ``daily``: one run per day's file (a whole-file source)."""
    queue: QueueSettings | None = None
    """Per-title sources only: their lane-1 queue."""
    handle: Handle | None = None
    """How one title is fetched. None for whole-file sources, and for sources whose handle needs run-time parts
    (DNA's request budget) and is built by their own asset."""
    fed_by: Feed | None = None
    sweep: Sweep | None = None
    check_ranges: Mapping[str, tuple[float, float | None]] = field(default_factory=dict)
    """Record field -> (lowest, highest) its stored values must stay within; None: unbounded."""
    serving: Serving | None = None
    finding: PageFinding | None = None
    """Page-finding sources only (their pages have no id in TMDB): where the title's page is looked for."""
    replay: Replay | None = None
    """Per-title sources: how a quarantined title's kept body is parsed again (``goodwatch quarantine replay``).
    None: the source keeps no body per title."""

    @property
    def per_title(self) -> bool:
        """Fetched title by title through a queue (lane 1 and lane 2), as opposed to whole files."""
        return self.queue is not None
