"""Guessed URLs, verified: a page counts only when its title and year match the title asked for.

Metacritic, Rotten Tomatoes and TV Tropes have no id mapping, so each source proposes candidate paths
(slug with year first, then the bare slug, for the title and its alternative titles). A fetched page
is accepted when one of the title's names matches the page's title and the years agree; the match
confidence is stored with the record. Wrong guesses were the original pipeline's worst data-quality
problem (remakes sharing a slug, same title in another year), so a page that does not match is
rejected and the next candidate tried; when none matches, the title is stored as "not found" with
the reason and every rejected page.

Each site's slug is made of a title's words (:func:`title_words`); the site modules join them their own way.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from goodwatch_assets.errors import ParseError
from goodwatch_assets.fetching.client import FetchFailed, SourceClient
from goodwatch_assets.models.queue import FetchedDocument, Reservation, Status
from goodwatch_assets.models.records import PageIdentity

DEFAULT_THRESHOLD = 0.6
_NOISE = re.compile(r"[^a-z0-9 ]+")
_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_APOSTROPHES = re.compile(r"['’`]")


def ascii_fold(text: str) -> str:
    """Accents dropped, other non-ASCII letters removed: "Amélie" -> "Amelie", "Три" -> ""."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def title_words(title: str) -> list[str]:
    """The lower-case ASCII words of a title the way the sites slug them ("&" is "and", apostrophes vanish)."""
    folded = _APOSTROPHES.sub("", ascii_fold(title).lower().replace("&", " and "))
    return [w for w in _NON_ALNUM.split(folded) if w]


@dataclass(frozen=True)
class TitleHints:
    """What the queue knows of a title (copied from its TMDB details when it was enqueued)."""

    media: str
    tmdb_id: int
    title: str
    year: int | None
    alternative_titles: tuple[str, ...] = ()
    original_title: str | None = None

    @classmethod
    def of(cls, reservation: Reservation) -> TitleHints:
        hints = reservation.hints
        if not hints.get("title"):
            raise ParseError(f"{reservation.media} {reservation.tmdb_id} has no title to guess a URL from")
        return cls(reservation.media, reservation.tmdb_id, hints["title"], hints.get("year"),
                   tuple(hints.get("alternative_titles") or ()), hints.get("original_title"))

    @property
    def names(self) -> list[str]:
        names = [self.title, *self.alternative_titles]
        if self.original_title and self.original_title.isascii():
            names.append(self.original_title)
        return list(dict.fromkeys(n for n in names if n))

    @staticmethod
    def for_queue(details: dict[str, Any]) -> dict[str, Any]:
        """Hints for the queues of the sources that find pages, from a canonical TitleDetails record."""
        alternatives = [title for country, title in details.get("alternative_titles") or [] if country in ("US", "GB")]
        return {"title": details["title"], "year": details.get("year"), "original_title": details.get("original_title"),
                "alternative_titles": alternatives}


def candidate_paths(titles: list[str], year: int | None, slugify: Callable[[str], str], with_year: str,
                    templates: tuple[str, ...]) -> list[str]:
    """Paths to try, most specific first: for each name, the slug with the year (remakes and
    same-name titles carry it) before the bare slug, in each of the site's path templates."""
    paths: list[str] = []
    for title in titles:
        slug = slugify(title)
        if not slug:
            continue
        variants = [with_year.format(slug=slug, year=year), slug] if year else [slug]
        for template in templates:
            paths += [p for p in (template.format(v) for v in variants) if p not in paths]
    return paths


def normalize_title(title: str) -> str:
    folded = ascii_fold(title).lower().replace("&", " and ")
    words = _NOISE.sub(" ", folded).split()
    if words and words[0] in ("the", "a", "an"):
        words = words[1:]
    return " ".join(words)


def match_confidence(page: PageIdentity, hints: TitleHints) -> float:
    """1.0 for the title and year; less for an alternative title, a year off by one, or no year shown."""
    if not page.title:
        return 0.0
    page_title = normalize_title(page.title)
    names = [normalize_title(n) for n in hints.names]
    if page_title == names[0]:
        score = 1.0
    elif page_title in names[1:]:
        score = 0.9
    else:
        return 0.0
    if hints.year is None or page.year is None:
        return score * 0.7
    gap = abs(page.year - hints.year)
    return score if gap == 0 else score * 0.85 if gap == 1 else 0.0


Parse = Callable[[bytes, str], PageIdentity]


async def find_page(
    client: SourceClient,
    reservation: Reservation,
    candidates: Callable[[str, list[str], int | None], list[str]],
    parse: Parse,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    complete: Callable[[SourceClient, PageIdentity], Awaitable[PageIdentity]] | None = None,
) -> FetchedDocument:
    hints = TitleHints.of(reservation)
    tried, rejected = [], []
    for path in candidates(hints.media, hints.names, hints.year):
        response = await client.get(path)
        tried.append(path)
        if response.status_code in (404, 410):
            continue
        if response.status_code != 200:
            raise FetchFailed(f"{client.policy.source}: {path} answered HTTP {response.status_code}")
        page = parse(response.content, str(response.url))
        confidence = match_confidence(page, hints)
        if confidence < threshold:
            rejected.append({"path": path, "title": page.title, "year": page.year})
            continue
        if complete is not None:
            page = await complete(client, page)
        record = page.model_copy(update={"url": str(response.url), "match_confidence": round(confidence, 3)})
        payload = record.model_dump(mode="json", exclude={"match_confidence"})
        return FetchedDocument(hints.media, hints.tmdb_id, payload, record=record.model_dump(mode="json"),
                               source_url=str(response.url))
    reason = "guessed pages did not match" if rejected else "no page upstream"
    return FetchedDocument(hints.media, hints.tmdb_id, None, status=Status.NOT_FOUND,
                           record={"not_found": reason, "tried": tried, "rejected": rejected})
