"""Is this page the title's? Every candidate page of a page-finding source is judged here before it is stored.

Title and year alone cannot tell a remake or a same-year namesake from the title, so a page is judged on all it
shows of its identity, against the title's hints:

* **IMDb id** (Metacritic pages carry one): the same id accepts the page outright. Another id rejects it unless
  title and year agree and directors or runtime too (a site sometimes shows a pilot's or a dub's id).
* **Directors** (JSON-LD ``director``, microdata, a TV Tropes intro): none in common with TMDB's credits rejects.
* **Runtime** (movies): more than ``RUNTIME_TOLERANCE`` minutes from TMDB's rejects.
* **Title**, in any script, against the title, its translations, alternative and original titles: equal, or a
  subtitle dropped (never a sequel's number), or nearly equal with the same numbers. No name agreeing rejects, but
  for the page the title's Wikidata item names when its directors agree (a renamed page).
* **Year**: a movie's within one year; a show's anywhere from a year before its first season to a year after its
  last (sites date a show by a later season). A page without a year needs another field to agree.

The verdict keeps what agreed (``evidence``) and a confidence; a rejection keeps what the page said it was, so that
changed rules can judge it again without a request.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from difflib import SequenceMatcher
from typing import Any

from goodwatch_assets.models.records import PageIdentity
from goodwatch_assets.sources.page_matching import TitleHints, comparable

RUNTIME_TOLERANCE = 5
"""Minutes a page's runtime may differ from TMDB's (cuts, credits, rounding)."""
SIMILAR = 0.9
"""SequenceMatcher ratio above which two titles with the same numbers count as the same name (typos, spacing)."""
_SUBTITLE = re.compile(r"\s*(?::| - | – | — )\s*")
_NUMBER = re.compile(r"\d+|\b[ivx]+\b")
TITLE_SCORES = {"exact": 1.0, "name": 0.95, "subtitle": 0.9, "similar": 0.85}


@dataclass(frozen=True)
class Verdict:
    accepted: bool
    confidence: float
    evidence: dict[str, Any] = field(default_factory=dict)
    reason: str | None = None
    """Why the page was rejected."""


def title_agreement(page_title: str | None, hints: TitleHints) -> str | None:
    """How the page's title matches one of the title's names: ``exact`` (its title), ``name`` (another of its
    names), ``subtitle`` (one of them with a subtitle more or less), ``similar``; None when none does."""
    if not page_title:
        return None
    page = comparable(page_title)
    if not page:
        return None
    names = [comparable(name) for name in hints.names]
    if page == names[0]:
        return "exact"
    if page in names[1:]:
        return "name"
    for name in hints.names:
        if _same_but_subtitle(page_title, name):
            return "subtitle"
    for name in names:
        if name and _NUMBER.findall(name) == _NUMBER.findall(page) and SequenceMatcher(None, page, name).ratio() >= SIMILAR:
            return "similar"
    return None


def _same_but_subtitle(one: str, other: str) -> bool:
    """One title is the other with a subtitle after a colon or dash, and the subtitle has no number (a sequel's
    "Part 2" is another title)."""
    for longer, shorter in ((one, other), (other, one)):
        if not comparable(shorter):
            continue
        for separator in _SUBTITLE.finditer(longer):
            head, subtitle = longer[:separator.start()], longer[separator.end():]
            if comparable(head) == comparable(shorter) and not _NUMBER.search(comparable(subtitle)):
                return True
    return False


def _year_agreement(page: PageIdentity, hints: TitleHints) -> float | None:
    """1.0 for the title's own year (a show: any of its seasons' years), 0.9 a year off; 0 outside; None unknown."""
    window = hints.years()
    if page.year is None or window is None:
        return None
    if not window[0] <= page.year <= window[1]:
        return 0.0
    return 1.0 if hints.media == "tv" or page.year == hints.year else 0.9


def _directors_agreement(page: PageIdentity, hints: TitleHints) -> bool | None:
    if not page.directors or not hints.directors:
        return None
    return bool({comparable(d) for d in page.directors} & {comparable(d) for d in hints.directors})


def _runtime_agreement(page: PageIdentity, hints: TitleHints) -> bool | None:
    if hints.media != "movie" or not page.runtime or not hints.runtime:
        return None
    return abs(page.runtime - hints.runtime) <= RUNTIME_TOLERANCE


def verify(page: PageIdentity, hints: TitleHints, *, from_wikidata: bool = False) -> Verdict:
    """Judge a page found for the title (``from_wikidata``: the page its Wikidata item names)."""
    imdb = None if not page.imdb_id or not hints.imdb_id else page.imdb_id == hints.imdb_id
    title = title_agreement(page.title, hints)
    year = _year_agreement(page, hints)
    directors = _directors_agreement(page, hints)
    runtime = _runtime_agreement(page, hints)
    evidence = {"imdb_id": imdb, "title": title, "year": year, "directors": directors, "runtime": runtime,
                "wikidata": from_wikidata}

    def rejected(reason: str) -> Verdict:
        return Verdict(False, 0.0, evidence, reason)

    if imdb:
        return Verdict(True, 1.0, evidence)
    if imdb is False and not (title and year and (directors or runtime)):
        return rejected(f"the page is IMDb {page.imdb_id}, the title {hints.imdb_id}")
    if directors is False:
        return rejected(f"the page's directors {list(page.directors)} are not the title's {list(hints.directors)}")
    if runtime is False:
        return rejected(f"the page's runtime {page.runtime} min is not the title's {hints.runtime} min")
    corroborated = bool(directors or runtime)
    if title is None and not (from_wikidata and directors):
        return rejected(f"the page's title {page.title!r} is none of the title's names")
    if year == 0.0:
        return rejected(f"the page's year {page.year} is outside {hints.years()}")
    if year is None and not (corroborated or from_wikidata):
        return rejected("the page shows no year, and nothing else of the title agrees")
    confidence = TITLE_SCORES.get(title or "", 0.8) * (0.85 if year is None else year)
    confidence += 0.05 * sum(bool(x) for x in (directors, runtime, from_wikidata))
    return Verdict(True, round(min(confidence, 0.99), 3), evidence)


def page_said(page: PageIdentity) -> dict[str, Any]:
    """What a rejected page said it was: enough to judge it again under other rules without fetching it."""
    return {"title": page.title, "year": page.year, "imdb_id": page.imdb_id, "directors": list(page.directors),
            "runtime": page.runtime}
