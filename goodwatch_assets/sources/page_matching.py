"""What a page-finding source knows of a title, and the names, slugs and titles it compares pages with.

The queue of Metacritic, Rotten Tomatoes and TV Tropes holds, for each title, hints copied from its TMDB details
(:meth:`TitleHints.for_queue`: names in every language, years, IMDb id, directors, runtime, status), the ids its
Wikidata item gives and the pages the sites' sitemaps list under its names. :mod:`page_finding` turns them into
candidate pages and :mod:`page_verification` judges each page with them.

Titles are compared in any script: :func:`comparable` folds case and width and drops punctuation but keeps every
letter, so a Japanese or Cyrillic title is never normalised to nothing. Slugs are made of a title's ASCII words
(:func:`title_words`); the site modules join them their own way.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from goodwatch_assets.errors import ParseError
from goodwatch_assets.models.queue import Reservation

_NON_ALNUM = re.compile(r"[^a-z0-9]+")
_APOSTROPHES = re.compile(r"['’`´]")
_NOT_A_LETTER = re.compile(r"[\W_]+")
_ARTICLES = ("the", "a", "an")
_YEAR_SUFFIX = r"^(?P<base>.+?){sep}(?P<year>(?:18|19|20)\d\d)(?:{sep}\d+)?$"


def ascii_fold(text: str) -> str:
    """Accents dropped, other non-ASCII letters removed: "Amélie" -> "Amelie", "Три" -> ""."""
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")


def title_words(title: str) -> list[str]:
    """The lower-case ASCII words of a title the way the sites slug them ("&" is "and", apostrophes vanish)."""
    folded = _APOSTROPHES.sub("", ascii_fold(title).lower().replace("&", " and "))
    return [w for w in _NON_ALNUM.split(folded) if w]


def comparable(title: str) -> str:
    """A title as pages are compared by, in any script: width and case folded, accents dropped where the letter is
    Latin, "&" read as "and", punctuation gone, a leading English article dropped ("The Tide" = "Tide")."""
    text = unicodedata.normalize("NFKC", title).casefold().replace("&", " and ")
    text = "".join(c for c in unicodedata.normalize("NFKD", _APOSTROPHES.sub("", text))
                   if not unicodedata.combining(c))
    words = _NOT_A_LETTER.sub(" ", text).split()
    if len(words) > 1 and words[0] in _ARTICLES:
        words = words[1:]
    return " ".join(words)


def slug_keys(media: str, slug: str, separator: str) -> list[tuple[str, str, int | None]]:
    """The ways a page's slug can be read: the whole slug (a title whose name may end in a number), and, when it ends
    in a year (and a counter), the slug of a title of that year whose bare slug another page holds."""
    keys: list[tuple[str, str, int | None]] = [(media, slug, None)]
    match = re.match(_YEAR_SUFFIX.format(sep=re.escape(separator)), slug)
    if match:
        keys.append((media, match["base"], int(match["year"])))
    return keys


def _year(value: Any) -> int | None:
    if isinstance(value, int):
        return value
    if isinstance(value, str) and re.match(r"^\d{4}", value):
        return int(value[:4])
    return None


@dataclass(frozen=True)
class TitleHints:
    """What the queue knows of a title: copied from its TMDB details when it was enqueued, and from Wikidata and
    the sitemaps since."""

    media: str
    tmdb_id: int
    title: str
    year: int | None
    alternative_titles: tuple[str, ...] = ()
    original_title: str | None = None
    translations: tuple[str, ...] = ()
    imdb_id: str | None = None
    directors: tuple[str, ...] = ()
    runtime: int | None = None
    last_air_year: int | None = None
    wikidata_ids: tuple[str, ...] = ()
    sitemap_paths: tuple[str, ...] = ()

    @classmethod
    def of(cls, reservation: Reservation) -> TitleHints:
        return cls.from_hints(reservation.media, reservation.tmdb_id, reservation.hints)

    @classmethod
    def from_hints(cls, media: str, tmdb_id: int, hints: Mapping[str, Any]) -> TitleHints:
        """A queue document's hints, read; ParseError when they have no title (nothing to find a page by)."""
        if not hints.get("title"):
            raise ParseError(f"{media} {tmdb_id} has no title to find a page by")
        return cls(
            media, tmdb_id, hints["title"], hints.get("year"),
            alternative_titles=tuple(hints.get("alternative_titles") or ()),
            original_title=hints.get("original_title"), translations=tuple(hints.get("translations") or ()),
            imdb_id=hints.get("imdb_id"), directors=tuple(hints.get("directors") or ()),
            runtime=hints.get("runtime"), last_air_year=_year(hints.get("last_air_date")),
            wikidata_ids=tuple(hints.get("wikidata_ids") or ()), sitemap_paths=tuple(hints.get("sitemap_paths") or ()),
        )

    @property
    def names(self) -> list[str]:
        """Every name of the title: its title, translations, alternative titles and original title."""
        names = [self.title, *self.translations, *self.alternative_titles]
        if self.original_title:
            names.append(self.original_title)
        return list(dict.fromkeys(n for n in names if n))

    @property
    def slug_names(self) -> list[str]:
        """The names a site's slug can be made of (those with ASCII letters), most likely first."""
        return [name for name in self.names if title_words(name)]

    def years(self) -> tuple[int, int] | None:
        """The years a page of the title may be dated by: a movie's year ±1; a show's from a year before its first
        season to a year after its last (sites date shows by a later season, or by a dub)."""
        if self.year is None:
            return None
        if self.media == "tv":
            return self.year - 1, max(self.year, self.last_air_year or self.year) + 1
        return self.year - 1, self.year + 1

    @staticmethod
    def for_queue(details: Mapping[str, Any]) -> dict[str, Any]:
        """Hints for the queues of the sources that find pages, from a canonical TitleDetails record."""
        alternatives = [title for country, title in details.get("alternative_titles") or [] if country in ("US", "GB")]
        translations = [title for _, language, title in details.get("translations") or [] if title]
        return {
            "title": details["title"], "year": details.get("year"), "original_title": details.get("original_title"),
            "alternative_titles": alternatives, "translations": list(dict.fromkeys(translations)),
            "imdb_id": details.get("imdb_id"), "directors": list(details.get("directors") or ()),
            "runtime": details.get("runtime"), "release_date": details.get("release_date"),
            "status": details.get("status"), "last_air_date": details.get("last_air_date"),
        }


def candidate_paths(titles: list[str], year: int | None, slugify: Callable[[str], str], with_year: str,
                    templates: tuple[str, ...]) -> list[str]:
    """Guessed paths, most specific first: for each name, the slug with the year (remakes and
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
