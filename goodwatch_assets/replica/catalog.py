"""A deterministic synthetic catalog of movies and TV shows, and its ground truth.

Every value of title ``i`` of seed ``s`` (ids, names, years, scores, tropes, DNA) is the same
whatever the catalog's size: each is drawn from a generator seeded by (seed, index, purpose). Which
of several titles sharing a slug owns the bare URL depends on the whole catalog (the oldest page
holds it, later ones carry their year), as on the real sites. The shape is realistic where it matters to the
pipeline: power-law popularity, years 1920–2026, non-ASCII titles, remakes and same-title /
different-year pairs (so guessed URLs collide), titles without an IMDb id, titles with no Metacritic
or Rotten Tomatoes page, pages listed under an alternative title, page years off by one, TV shows
whose TV Tropes article is split into sub-pages, titles that appear in and vanish from the exports.

A catalog has two layers: :class:`CatalogEntry` (cheap, built for every title up front: exports,
slugs, trending) and :class:`TitleDetails` (everything else, built on demand and cached). The guessed-URL
sites (which titles have a page, where, and the page's values) come from the site modules of this package
(``title_pages.title_page_sites``), each drawing from generators of its own.
"""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from goodwatch_assets.replica import vocabulary as V
from goodwatch_assets.replica.title_pages import SitePage, title_page_sites

EXPORT_EPOCH = date(2024, 1, 1)
"""Before this day the exports hold every title; changes (new and deleted titles) happen after it."""
ARCHETYPES = 40
"""DNA archetypes: titles of one archetype share most labels, so their nearest neighbours are known."""


def rng_for(seed: int, *parts: object) -> random.Random:
    digest = hashlib.blake2b(repr((seed, *parts)).encode(), digest_size=8).digest()
    return random.Random(int.from_bytes(digest, "big"))


@dataclass(frozen=True)
class CatalogEntry:
    index: int
    media: str
    tmdb_id: int
    title: str
    original_title: str
    original_language: str
    year: int
    popularity: float
    adult: bool
    added_on: date | None  # first day in the exports (None: since before EXPORT_EPOCH)
    deleted_on: date | None  # first day absent from the exports
    remake_of: int | None
    sites: frozenset[str]  # the page-finding sites that have a page of the title
    english_title: str
    """The title the sites list it under: ``title`` itself, unless TMDB shows the non-Latin original (a title TMDB
    has no English title for: the English one is only among its translations)."""

    def in_export(self, day: date) -> bool:
        return (self.added_on is None or day >= self.added_on) and (self.deleted_on is None or day < self.deleted_on)


@dataclass(frozen=True)
class TitleDetails:
    entry: CatalogEntry
    release_date: str
    runtime: int | None
    seasons: int | None
    episodes: int | None
    last_air_date: str | None
    genres: tuple[tuple[int, str], ...]
    keywords: tuple[tuple[int, str], ...]
    overview: str
    cast: tuple[str, ...]
    directors: tuple[str, ...]
    vote_average: float
    vote_count: int
    imdb_id: str | None
    imdb_rating: float | None
    imdb_votes: int | None
    certification: str
    alternative_titles: tuple[tuple[str, str], ...]  # (country, title)
    translations: tuple[tuple[str, str, str], ...]  # (country, language, title)
    status: str
    offers: tuple[tuple[str, str, int], ...]  # (country, type, provider_id)
    pages: dict[str, dict[str, Any]]
    """Site -> the title's page there: its values with ``path``, ``page_title`` and ``page_year``, and what the page
    shows of the title's identity (see ``_pages``)."""
    dna: dict[str, list[str]] = field(default_factory=dict)
    archetype: int = 0


class SyntheticCatalog:
    """``titles`` titles for ``seed``: about 5 in 6 are movies, the rest TV shows."""

    def __init__(self, titles: int, seed: int = 1):
        if titles < 1:
            raise ValueError("a catalog needs at least one title")
        self.size = titles
        self.seed = seed
        self.entries: list[CatalogEntry] = []
        for index in range(titles):
            self.entries.append(self._entry(index))
        self._by_key = {(e.media, e.tmdb_id): e for e in self.entries}
        self._pages = self._assign_pages()
        self._owners = {(site, page.path): self._by_key[(media, tmdb_id)]
                        for (site, media, tmdb_id), page in self._pages.items()}
        self._imdb_index: dict[str, CatalogEntry] | None = None
        self._details: dict[int, TitleDetails] = {}

    # -- the light layer ---------------------------------------------------------------------

    def _entry(self, index: int) -> CatalogEntry:
        rng = rng_for(self.seed, "entry", index)
        media = "tv" if index % 6 == 5 else "movie"
        tmdb_id = 100 + 3 * index + rng.randrange(3)
        year = _year(rng, media)
        title, remake_of = None, None
        if index >= 10 and rng.random() < 0.04:  # a remake: an earlier title's name, a later year
            original = self.entries[rng.randrange(index)]
            if original.media == media and original.year <= 2018:
                title, remake_of = original.english_title, original.index
                year = min(2026, original.year + rng.randint(8, 40))
        if title is None:
            title = _title(rng)
        english_title = title
        language, original_title = "en", title
        if rng.random() < 0.12:
            language, original_title = rng.choice(V.FOREIGN_ORIGINALS)
            if not original_title.isascii():  # the English title in the original's script: unique per title
                original_title = _in_script(language, english_title)
                if rng_for(self.seed, "untranslated", index).random() < 0.35:
                    title = original_title  # TMDB shows the original; the sites list the English title
        popularity = round(0.6 * rng.paretovariate(1.05), 3)  # median ~1.2, the top titles in the hundreds
        added_on = deleted_on = None
        roll = rng.random()
        if roll < 0.03:
            added_on = EXPORT_EPOCH + timedelta(days=rng.randrange(1, 1000))
        elif roll < 0.04:
            deleted_on = EXPORT_EPOCH + timedelta(days=rng.randrange(1, 1000))
        adult = rng.random() < 0.01
        # Each site draws from its own generator: adding a site changes nothing of the others.
        sites = frozenset(pages.name for pages in title_page_sites()
                          if rng_for(self.seed, "has-page", pages.name, index).random() < pages.share[media])
        return CatalogEntry(index, media, tmdb_id, title, original_title, language, year, popularity,
                            adult=adult, added_on=added_on, deleted_on=deleted_on, remake_of=remake_of, sites=sites,
                            english_title=english_title)

    def _assign_pages(self) -> dict[tuple[str, str, int], SitePage]:
        """Site paths the way sites hand them out: the oldest title gets the bare slug, later ones
        with the same slug get a year suffix, and a second title of the same year a counter."""
        pages: dict[tuple[str, str, int], SitePage] = {}
        for site in title_page_sites():
            claims: dict[tuple[str, str], list[tuple[CatalogEntry, str, int]]] = defaultdict(list)
            for entry in self.entries:
                if site.name not in entry.sites:
                    continue
                rng = rng_for(self.seed, "page", site.name, entry.index)
                page_title = entry.english_title
                if rng.random() < 0.05:  # listed under its US alternative title
                    page_title = _alternative_title(self.seed, entry)
                page_year = entry.year + (rng.choice((-1, 1)) if rng.random() < 0.05 else 0)
                if entry.media == "tv" and rng_for(self.seed, "later-season", site.name, entry.index).random() \
                        < site.later_season_share:
                    page_year = _later_season_year(self.seed, entry)
                claims[(entry.media, site.slug(page_title))].append((entry, page_title, page_year))
            for (media, slug), claimants in claims.items():
                claimants.sort(key=lambda c: (c[2], c[0].index))
                seen_years: dict[int, int] = defaultdict(int)
                for position, (entry, page_title, page_year) in enumerate(claimants):
                    seen_years[page_year] += 1
                    suffix = None if position == 0 else (page_year, seen_years[page_year])
                    pages[(site.name, entry.media, entry.tmdb_id)] = SitePage(
                        site.path(media, slug, suffix), page_title, page_year
                    )
        return pages

    def entry(self, media: str, tmdb_id: int) -> CatalogEntry | None:
        return self._by_key.get((media, tmdb_id))

    def page(self, site: str, entry: CatalogEntry) -> SitePage | None:
        return self._pages.get((site, entry.media, entry.tmdb_id))

    def page_owner(self, site: str, path: str) -> CatalogEntry | None:
        return self._owners.get((site, path))

    def by_imdb_id(self, imdb_id: str) -> CatalogEntry | None:
        if self._imdb_index is None:
            self._imdb_index = {}
            for entry in self.entries:
                details = self.details(entry)
                if details.imdb_id:
                    self._imdb_index[details.imdb_id] = entry
        return self._imdb_index.get(imdb_id)

    def export_entries(self, media: str, day: date) -> list[CatalogEntry]:
        return [e for e in self.entries if e.media == media and e.in_export(day)]

    def popularity_on(self, entry: CatalogEntry, day: date) -> float:
        """Popularity drifts a little from day to day (what the daily export reports)."""
        drift = rng_for(self.seed, "drift", entry.index, day.toordinal()).uniform(0.9, 1.1)
        return round(entry.popularity * drift, 3)

    def trending(self, media: str | None, window: str, day: date) -> list[CatalogEntry]:
        """Most popular titles of the day (or week), with a daily shake-up; both media when ``media`` is None."""
        period = day.toordinal() // (7 if window == "week" else 1)

        def score(e: CatalogEntry) -> float:
            return e.popularity * rng_for(self.seed, "trend", window, period, e.index).uniform(0.5, 1.5)

        pool = [e for e in self.entries if (media is None or e.media == media) and e.in_export(day)]
        return sorted(pool, key=score, reverse=True)[:400]

    # -- the detailed layer ------------------------------------------------------------------

    def details(self, entry: CatalogEntry) -> TitleDetails:
        details = self._details.get(entry.index)
        if details is None:
            if len(self._details) >= 100_000:  # bounded: a big catalog is served a page at a time
                self._details.clear()
            details = self._details[entry.index] = _build_details(self, entry)
        return details


def _build_details(catalog: SyntheticCatalog, entry: CatalogEntry) -> TitleDetails:
    rng = rng_for(catalog.seed, "details", entry.index)
    media = entry.media
    genres = tuple(rng.sample(V.MOVIE_GENRES if media == "movie" else V.TV_GENRES, rng.randint(1, 3)))
    keywords = tuple(rng.sample(V.KEYWORDS, rng.randint(2, 7)))
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    release_date = f"{entry.year}-{month:02d}-{day:02d}"
    seasons = episodes = last_air = runtime = None
    if media == "movie":
        runtime = rng.randint(72, 170)
    else:
        runtime = rng.randint(20, 65)  # per episode
        seasons = _seasons(catalog.seed, entry.index)
        episodes = seasons * rng.randint(6, 22)
        last_air = f"{min(2026, entry.year + seasons)}-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}"
    vote_count = int(entry.popularity * rng.uniform(20, 400))
    vote_average = round(rng.uniform(3.5, 8.9), 3) if vote_count else 0.0
    imdb_id = None if rng.random() < 0.08 else f"tt{1_000_000 + entry.index * 7 + rng.randrange(7):07d}"
    imdb_rating = imdb_votes = None
    if imdb_id and rng.random() < 0.95:
        imdb_rating = round(min(10.0, max(1.0, vote_average + rng.uniform(-0.8, 0.8))), 1)
        imdb_votes = int(vote_count * rng.uniform(5, 60)) + 5
    certification = rng.choice(V.CERTIFICATIONS if media == "movie" else V.TV_RATINGS)
    alternative_titles: tuple[tuple[str, str], ...] = ()
    if entry.original_language != "en" or rng.random() < 0.3:
        alternative_titles = (("US", _alternative_title(catalog.seed, entry)),)
    if rng.random() < 0.3:
        alternative_titles += ((rng.choice(("FR", "DE", "JP", "BR")), f"{entry.title} ({rng.choice(V.NAMES)})"),)
    status = "Released" if media == "movie" else "Returning Series" if (last_air or "") >= "2026" else "Ended"
    offers = []
    for country in rng.sample(V.COUNTRIES, rng.randint(0, 6)):
        for offer_type in rng.sample(V.OFFER_TYPES, rng.randint(1, 3)):
            for provider in rng.sample(V.PROVIDERS, rng.randint(1, 3)):
                offers.append((country, offer_type, provider[0]))
    cast = rng.sample(V.PEOPLE, 5)
    overview = (f"{rng.choice(V.PEOPLE)} and a {rng.choice(V.ADJECTIVES).lower()} "
                f"{rng.choice(V.NOUNS).lower()} collide in this {genres[0][1].lower()} story.")
    archetype = rng_for(catalog.seed, "archetype", entry.index).randrange(ARCHETYPES)
    directors = _directors(catalog.seed, entry.index)
    return TitleDetails(
        entry=entry, release_date=release_date, runtime=runtime, seasons=seasons, episodes=episodes,
        last_air_date=last_air, genres=genres, keywords=keywords, overview=overview, cast=tuple(cast),
        directors=directors, vote_average=vote_average, vote_count=vote_count, imdb_id=imdb_id,
        imdb_rating=imdb_rating, imdb_votes=imdb_votes, certification=certification,
        alternative_titles=alternative_titles, translations=_translations(entry), status=status, offers=tuple(offers),
        pages=_pages(catalog, entry, directors, runtime if media == "movie" else None, imdb_id),
        dna=_dna(catalog.seed, entry.index, archetype), archetype=archetype,
    )


def _pages(catalog: SyntheticCatalog, entry: CatalogEntry, directors: tuple[str, ...], runtime: int | None,
           imdb_id: str | None) -> dict[str, dict[str, Any]]:
    """Each site's page of the title: its values, its layout, and the identity it shows besides title and year
    (directors on most pages, the runtime, an IMDb id where the site carries one: a few pages show a pilot's or a
    dub's id instead of the title's)."""
    pages = {}
    for site in title_page_sites():
        page = catalog.page(site.name, entry)
        if page is None:
            continue
        values = site.values(rng_for(catalog.seed, "page-values", site.name, entry.index), entry)
        rng = rng_for(catalog.seed, "page-identity", site.name, entry.index)
        layout = rng.choices([name for name, _ in site.layouts], weights=[share for _, share in site.layouts])[0]
        shown_imdb_id = imdb_id
        if imdb_id and rng.random() < 0.03:
            shown_imdb_id = f"tt{9_000_000 + entry.index:07d}"
        pages[site.name] = {"path": page.path, "page_title": page.page_title, "page_year": page.page_year,
                            "layout": layout, "directors": directors if rng.random() < 0.9 else (),
                            "runtime": runtime, "imdb_id": shown_imdb_id, **values}
    return pages


def _dna(seed: int, index: int, archetype: int) -> dict[str, list[str]]:
    """Labels per category: mostly the archetype's own (shared with its other titles), some noise."""
    core = rng_for(seed, "archetype-labels", archetype)
    mine = rng_for(seed, "dna", index)
    dna = {}
    for category, labels in V.DNA_LABELS.items():
        chosen = core.sample(labels, min(2, len(labels)))
        if mine.random() < 0.25:
            chosen[-1] = mine.choice(labels)
        dna[category] = sorted(set(chosen))
    return dna


def _year(rng: random.Random, media: str) -> int:
    earliest = 1920 if media == "movie" else 1950
    # Skewed towards recent years, as catalogs are.
    return max(earliest, 2026 - int(rng.expovariate(1 / 18)))


def _title(rng: random.Random) -> str:
    pattern = rng.choices(V.TITLE_PATTERNS, weights=(6, 4, 6, 1, 2, 2, 1, 2, 1))[0]
    return pattern.format(
        adj=rng.choice(V.ADJECTIVES), noun=rng.choice(V.NOUNS), noun2=rng.choice(V.NOUNS),
        name=rng.choice(V.NAMES), part=rng.randint(2, 4),
    )


def _alternative_title(seed: int, entry: CatalogEntry) -> str:
    rng = rng_for(seed, "alt", entry.index)
    return f"{entry.title}: {rng.choice(V.ADJECTIVES)} {rng.choice(V.NOUNS)}"


def _seasons(seed: int, index: int) -> int:
    """A show's number of seasons (drawn apart from the details: its page years depend on it)."""
    return rng_for(seed, "seasons", index).randint(1, 9)


def _later_season_year(seed: int, entry: CatalogEntry) -> int:
    """The year of a later season of a show, which some sites date the show's page by."""
    seasons = _seasons(seed, entry.index)
    if seasons < 2:
        return entry.year
    return min(2026, entry.year + rng_for(seed, "later-season-year", entry.index).randint(1, seasons - 1))


def _directors(seed: int, index: int) -> tuple[str, ...]:
    rng = rng_for(seed, "directors", index)
    count = 2 if rng.random() < 0.1 else 1
    return tuple(f"{rng.choice(V.FIRST_NAMES)} {rng.choice(V.LAST_NAMES)}" for _ in range(count))


def _translations(entry: CatalogEntry) -> tuple[tuple[str, str, str], ...]:
    """TMDB's translations (country, language, title): the English one (the title the sites list), and the original
    language's."""
    translations = [("US", "en", entry.english_title)]
    if entry.original_language != "en":
        translations.append(("", entry.original_language, entry.original_title))
    return tuple(translations)


def _in_script(language: str, title: str) -> str:
    """``title`` written in the script of ``language`` (Cyrillic, Greek, or kana for the East Asian ones)."""
    letters = {"ru": V.CYRILLIC, "el": V.GREEK}.get(language)
    if letters is not None:
        return "".join(letters[c.lower()].upper() if c.isupper() and c.lower() in letters else letters.get(c, c)
                       for c in title)
    words = []
    for word in title.split():
        digest = hashlib.blake2b(word.lower().encode(), digest_size=3).digest()
        words.append("".join(V.KATAKANA[b % len(V.KATAKANA)] for b in digest))
    return "・".join(words)
