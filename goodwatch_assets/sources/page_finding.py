"""Finding a title's page on a site that has no id in TMDB (Metacritic, Rotten Tomatoes, TV Tropes).

Candidates, in order, each fetched and verified (:func:`page_verification.verify`) until one is accepted:

1. the page the title verified before (the canonical URL stored with its document);
2. the pages its Wikidata item names (``wikidata_ids`` hints);
3. the pages the site's sitemaps list under one of its names (``sitemap_paths`` hints);
4. guessed URLs (its names' slugs, with the year first), only where the source's guessing setting allows them.

The URL stored is the canonical one, after redirects. A title none of whose candidates is accepted is stored as
"not found", with what was tried and what each rejected page said it was; the queue then leaves it alone for the
negative-cache period (``QueueSettings.negative_cache``) unless new candidates arrive.

A candidate page that does not parse ends the fetch with its body and URL (quarantined after the last attempt);
:func:`replay_page` parses such a kept page again, with today's parser, and verifies it the same way, without a request:
the title's page is stored; another title's page is never stored, the title goes back to the queue instead (today a
fetch would go on to its other candidates).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from goodwatch_assets.errors import parsing
from goodwatch_assets.fetching.client import FetchFailed, SourceClient
from goodwatch_assets.models.queue import FetchedDocument, Reservation, RetryPolicy, Status
from goodwatch_assets.models.records import PageIdentity
from goodwatch_assets.sources.page_matching import TitleHints
from goodwatch_assets.sources.page_verification import Verdict, page_said, verify
from goodwatch_assets.sources.spec import CannotReplay, Kept, NeedsRequests, PageFinding, QueueSettings, RefreshAges

NEGATIVE_CACHE = timedelta(days=90)
"""How long a page-finding source leaves a title it found nothing for (unless new candidates arrive)."""
CRITIC_QUEUE = QueueSettings(
    refresh_age=timedelta(days=90), batch_size=25,
    refresh_ages=RefreshAges(airing_show=timedelta(days=7), other_show=timedelta(days=90),
                             recent_movie=timedelta(days=14), other_movie=timedelta(days=90)),
    retry=RetryPolicy(base_delay=timedelta(days=1)), negative_cache=NEGATIVE_CACHE,
)
"""The critic sites' queue: scores move while a show airs and while a new movie's reviews come in; a title whose
fetch failed is tried again the next day; one without a page waits the negative cache's 90 days."""
DISOWNED = (Status.NOT_FOUND, Status.DUPLICATE)
"""A page-finding source's statuses that empty its serving columns: the page stored before was not the title's, or
is gone."""

Parse = Callable[[bytes, str], PageIdentity]
Guesses = Callable[[str, list[str], int | None], list[str]]

NO_PAGE = "no page upstream"
"""Every candidate answered 404."""
NOT_THE_TITLES = "the pages found were not the title's"
"""Some candidate was a page, and verification rejected it."""
NO_CANDIDATE = "no candidate page (no verified page, Wikidata id or sitemap match; guessing is off)"
REPLAYED = "replay"
"""How a replayed page was found, in its evidence: by the fetch that kept it (which candidate it was is not kept)."""


def candidates(reservation: Reservation, hints: TitleHints, finding: PageFinding, guesses: Guesses,
               client: SourceClient, *, guessing: bool) -> list[tuple[str, str]]:
    """(origin, path) of every candidate page, in the order they are tried, each path once."""
    found: list[tuple[str, str]] = []
    if reservation.verified_url:
        found.append(("verified", client.policy.path_of(reservation.verified_url)))
    if finding.wikidata_path:
        found += [("wikidata", finding.wikidata_path(identifier)) for identifier in hints.wikidata_ids]
    found += [("sitemap", path) for path in hints.sitemap_paths]
    if guessing:
        found += [("guess", path) for path in guesses(hints.media, hints.slug_names, hints.year)]
    seen: set[str] = set()
    return [(origin, path) for origin, path in found if not (path in seen or seen.add(path))]


async def find_page(
    client: SourceClient,
    reservation: Reservation,
    finding: PageFinding,
    guesses: Guesses,
    parse: Parse,
    *,
    guessing: bool,
    complete: Callable[[SourceClient, PageIdentity], Awaitable[PageIdentity]] | None = None,
) -> FetchedDocument:
    hints = TitleHints.of(reservation)
    tried: list[str] = []
    rejected: list[dict[str, Any]] = []
    wikidata = _wikidata_paths(hints, finding)
    for origin, path in candidates(reservation, hints, finding, guesses, client, guessing=guessing):
        response = await client.get(path)
        tried.append(path)
        if response.status_code in (404, 410):
            continue
        if response.status_code != 200:
            raise FetchFailed(f"{client.policy.name}: {path} answered HTTP {response.status_code}")
        url = str(response.url)
        with parsing(url):
            page = parse(response.content, url)
        verdict = verify(page, hints, from_wikidata=path in wikidata)
        if not verdict.accepted:
            rejected.append({"path": path, "found_by": origin, "reason": verdict.reason, "page": page_said(page)})
            continue
        if complete is not None:
            page = await complete(client, page)
        return accepted_document(hints, page, verdict, url, origin)
    reason = NOT_THE_TITLES if rejected else NO_PAGE if tried else NO_CANDIDATE
    return FetchedDocument(hints.media, hints.tmdb_id, None, status=Status.NOT_FOUND,
                           record={"not_found": reason, "tried": tried, "rejected": rejected})


def replay_page(kept: Kept, finding: PageFinding, parse: Parse,
                complete: Callable[[PageIdentity], PageIdentity] | None = None) -> FetchedDocument:
    """A kept page that did not parse, parsed with today's ``parse`` and verified against the title's hints as
    :func:`find_page` verifies a candidate: its document when accepted; ParseError when it still does not parse;
    NeedsRequests when it is not the title's page (nothing of it is stored: a fetch goes on to the title's other
    candidates). ``complete``: what the page still needs, without a request (NeedsRequests when only a fetch can
    give it)."""
    if kept.url is None or kept.path is None:
        raise CannotReplay("the page's URL was not kept with it (quarantined before URLs were), and verification "
                           "needs it")
    hints = TitleHints.from_hints(kept.media, kept.tmdb_id, kept.hints)
    page = parse(kept.body, kept.url)
    verdict = verify(page, hints, from_wikidata=kept.path in _wikidata_paths(hints, finding))
    if not verdict.accepted:
        raise NeedsRequests(f"{kept.url} is not the title's page ({verdict.reason}): its other candidate pages need "
                            "requests")
    if complete is not None:
        page = complete(page)
    return accepted_document(hints, page, verdict, kept.url, REPLAYED)


def accepted_document(hints: TitleHints, page: PageIdentity, verdict: Verdict, url: str, found_by: str) -> FetchedDocument:
    """The document of a page verification accepted: its record with the canonical URL, the match confidence and the
    evidence (what agreed, and how the page was found); its payload, the page's values without those two."""
    record = page.model_copy(update={"url": url, "match_confidence": verdict.confidence,
                                     "evidence": {**verdict.evidence, "found_by": found_by}})
    payload = record.model_dump(mode="json", exclude={"match_confidence", "evidence"})
    return FetchedDocument(hints.media, hints.tmdb_id, payload, record=record.model_dump(mode="json"), source_url=url)


def _wikidata_paths(hints: TitleHints, finding: PageFinding) -> set[str]:
    """The paths of the pages the title's Wikidata item names."""
    return {finding.wikidata_path(i) for i in hints.wikidata_ids} if finding.wikidata_path else set()
