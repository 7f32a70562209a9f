"""What every guessed-URL site of the replica is made of, and where they are found.

A site whose titles have pages at slug paths (Metacritic, Rotten Tomatoes, TV Tropes) is one module of this
package that defines ``PAGES``, a :class:`TitlePages`: which share of titles has a page there, the site's slug and
path rules, the page's values (scores, tropes), how the page renders, and what a correct pipeline stores from it
(the ground truth). The catalog, the server, the fault injector and the ground truth read every site from
:func:`title_page_sites`, so a new site is one new module here.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any

from goodwatch_assets.sources.spec import SourceSpec

if TYPE_CHECKING:
    from goodwatch_assets.replica.catalog import CatalogEntry, SyntheticCatalog


@dataclass(frozen=True)
class SitePage:
    """Where a title's page lives on a site, and what the page says it is."""

    path: str
    page_title: str
    page_year: int


@dataclass(frozen=True)
class TitlePages:
    source: SourceSpec
    """The source the site feeds: its name keys the titles' pages and the ground truth; its site's name is the
    replica's prefix of the pages and what rate limits count."""
    share: Mapping[str, float]
    """Media type -> share of titles with a page on the site."""
    slug: Callable[[str], str]
    paths: Mapping[str, str]
    """Media type -> path template of a page (``{slug}``)."""
    year_suffix: str
    """What a later title with a taken slug appends (``{year}``): the oldest page holds the bare slug."""
    counter_suffix: str
    """What a second such title of the same year appends after the year (``{n}``)."""
    values: Callable[[random.Random, CatalogEntry], dict[str, Any]]
    """The page's own data (scores, counts, tropes), drawn for a title."""
    render: Callable[[SyntheticCatalog, CatalogEntry, dict[str, Any]], str]
    """The page's HTML; the dict is the page's values with its ``path``, ``page_title`` and ``page_year``."""
    truth: Callable[[dict[str, Any]], dict[str, Any]]
    """What a correct pipeline stores from the page."""
    breaking: tuple[tuple[bytes, bytes], ...]
    """Replacements that break the page's data-carrying markup (the malformed-pages fault)."""
    rate_limit_status: int = 403
    """How the site says "too many requests"."""
    extra_page: Callable[[SyntheticCatalog, str], str | None] | None = None
    """Pages beyond the titles' own (TV Tropes' sub-pages), by path."""
    layouts: tuple[tuple[str, float], ...] = (("current", 1.0),)
    """The page layouts the site's pages come in (name, share): older pages keep an older layout."""
    later_season_share: float = 0.0
    """Share of shows whose page is dated by a later season instead of the first."""
    wikidata_id: Callable[[str], str] | None = None
    """A page's identifier on Wikidata, from its path (None: Wikidata has no property for the site)."""
    wikidata_share: float = 0.0
    """Share of the titles with a Wikidata item and a page here whose item names the page."""

    @property
    def name(self) -> str:
        return self.source.name

    @property
    def site(self) -> str:
        return self.source.site.name

    def path(self, media: str, slug: str, suffix: tuple[int, int] | None) -> str:
        """The path of a page; ``suffix`` (year, n-th page of that year) for titles whose slug was taken."""
        if suffix:
            year, nth = suffix
            slug += self.year_suffix.format(year=year) + (self.counter_suffix.format(n=nth) if nth > 1 else "")
        return self.paths[media].format(slug=slug)


@cache
def title_page_sites() -> tuple[TitlePages, ...]:
    """Every module of the replica that defines ``PAGES``, by site name."""
    import goodwatch_assets.replica as package

    found = []
    for module in pkgutil.iter_modules(package.__path__):
        pages = getattr(importlib.import_module(f"{package.__name__}.{module.name}"), "PAGES", None)
        if isinstance(pages, TitlePages):
            found.append(pages)
    return tuple(sorted(found, key=lambda pages: pages.name))


def title_pages(source: str) -> TitlePages:
    """The pages of the site that feeds ``source``."""
    return next(pages for pages in title_page_sites() if pages.name == source)
