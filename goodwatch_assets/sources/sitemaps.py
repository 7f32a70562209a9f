"""Sitemaps: the pages a site lists (an index of sub-sitemaps, each a list of page URLs), and which of them a
catalog title's names point at.

The XML is parsed with entities unresolved and nothing fetched (a hostile sitemap cannot make the parser read files
or call out); gzip-compressed files are read too. A page matches a title when its slug, read as the site writes it
(:attr:`PageFinding.page_keys`), is the slug of one of the title's names, bare or with a year; or, when it is the
only such page, the slug of a name followed by more words without a number (the title listed with a subtitle TMDB
does not know).
The matches are ranked for the title: its own year first, then the bare slug, then a year off by one, then the
subtitled page; pages of other years are no match. At most ``MATCHES_PER_TITLE`` are kept, each verified like any
candidate when it is fetched.
"""

from __future__ import annotations

import gzip
import re
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Callable, Iterable

from lxml import etree

from goodwatch_assets.errors import ParseError
from goodwatch_assets.fetching.client import FetchFailed, SourceClient

MATCHES_PER_TITLE = 3
MAX_FILES = 2_000
"""Sub-sitemaps read at most (the real sites publish a few dozen)."""
_PARSER = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=True, remove_comments=True)

_NUMBERED = re.compile(r"\d|(?:^|[\W_])[ivx]+(?:$|[\W_])")
"""A subtitle with a number ("part_2", "ii"): a sequel, not the title with a subtitle."""

PageKeys = Callable[[str], list[tuple[str, str, int | None]]]


def parse_sitemap(body: bytes) -> tuple[list[str], list[str]]:
    """(sub-sitemap URLs, page URLs) of a sitemap index or URL set; ParseError for anything else."""
    if body[:2] == b"\x1f\x8b":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as error:
            raise ParseError(f"a gzip sitemap that does not decompress: {error}", body[:2000]) from None
    try:
        root = etree.fromstring(body, parser=_PARSER)
    except etree.XMLSyntaxError as error:
        raise ParseError(f"a sitemap that is not XML: {error}", body[:2000]) from None
    kind = etree.QName(root).localname
    locations = [" ".join((loc.text or "").split()) for loc in root.iter("{*}loc")]
    if kind == "sitemapindex":
        return locations, []
    if kind == "urlset":
        return [], locations
    raise ParseError(f"a sitemap's root is <{kind}>, not <sitemapindex> or <urlset>", body[:2000])


async def read_sitemaps(client: SourceClient, index_path: str) -> list[str]:
    """The paths of every page the site's sitemaps list, from the index at ``index_path`` down."""
    pending, seen, pages = [index_path], set(), []
    while pending:
        path = pending.pop(0)
        if path in seen:
            continue
        seen.add(path)
        if len(seen) > MAX_FILES:
            raise ParseError(f"{client.policy.name}: more than {MAX_FILES} sitemaps under {index_path}")
        response = await client.get(path)
        if response.status_code != 200:
            raise FetchFailed(f"{client.policy.name}: the sitemap {path} answered HTTP {response.status_code}")
        children, urls = parse_sitemap(response.content)
        pending += [client.policy.path_of(url) for url in children]
        pages += [client.policy.path_of(url) for url in urls]
    return pages


def match_titles(titles: Iterable[tuple[str, int, list[str], int | None]], paths: Iterable[str], page_keys: PageKeys,
                 slugify: Callable[[str], str], separator: str) -> dict[tuple[str, int], list[str]]:
    """(media, tmdb_id) -> the sitemap's pages for the title, best first; ``titles`` are (media, tmdb_id, names, year);
    ``separator`` joins the words of the site's slugs."""
    by_slug: dict[tuple[str, str], list[tuple[int | None, str]]] = defaultdict(list)
    for path in paths:
        for media, slug, year in page_keys(path):
            by_slug[(media, slug)].append((year, path))
    keys = sorted(by_slug)
    matches = {}
    for media, tmdb_id, names, year in titles:
        ranked: dict[str, int] = {}
        for slug in filter(None, map(slugify, names)):
            for page_year, path in by_slug.get((media, slug), ()):
                rank = _rank(page_year, year)
                if rank is not None and rank < ranked.get(path, 9):
                    ranked[path] = rank
            own = {path for _, path in by_slug.get((media, slug), ())}  # the name's own pages, with a year or not
            subtitled = _subtitled(keys, by_slug, media, slug + separator, own)
            if len(subtitled) == 1:
                (path, page_year), = subtitled.items()
                if _rank(page_year, year) is not None:
                    ranked.setdefault(path, 3)
        if ranked:
            matches[(media, tmdb_id)] = sorted(ranked, key=lambda p: (ranked[p], p))[:MATCHES_PER_TITLE]
    return matches


def _subtitled(keys: list[tuple[str, str]], by_slug: dict[tuple[str, str], list[tuple[int | None, str]]], media: str,
               prefix: str, own: set[str]) -> dict[str, int | None]:
    """The pages (path -> year in the slug) of this media whose slug is ``prefix`` and a subtitle without a number (a
    sequel's "part 2" is another title), but for ``own``; stops at two (more is no unique match anyway)."""
    found: dict[str, int | None] = {}
    for key in keys[bisect_left(keys, (media, prefix)):]:
        if key[0] != media or not key[1].startswith(prefix) or len(found) > 1:
            break
        if _NUMBERED.search(key[1][len(prefix):]):
            continue
        for page_year, path in by_slug[key]:
            if path not in own and (page_year is not None or path not in found):
                found[path] = page_year
    return found


def _rank(page_year: int | None, year: int | None) -> int | None:
    """0: the title's year; 1: no year in the slug; 2: a year off by one; None: another year's page."""
    if page_year is None:
        return 1
    if year is None:
        return 2
    return 0 if page_year == year else 2 if abs(page_year - year) == 1 else None
