"""The page-finding sites' sitemaps as the replica serves them: an index at the path the source's spec reads
(``/sitemap.xml``) listing sub-sitemaps of at most ``PER_FILE`` pages each, every location an absolute URL on the
live site's host, as the real sites write them. About 2% of the pages are missing from them, as sitemaps lag.
"""

from __future__ import annotations

from html import escape

from goodwatch_assets.replica.catalog import SyntheticCatalog, rng_for
from goodwatch_assets.replica.title_pages import TitlePages

PER_FILE = 500
_NAMESPACE = 'xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"'


def listed_paths(catalog: SyntheticCatalog, pages: TitlePages) -> dict[str, list[str]]:
    """Media -> the paths the site's sitemaps list, in catalog order."""
    listed: dict[str, list[str]] = {"movie": [], "tv": []}
    for entry in catalog.entries:
        page = catalog.page(pages.name, entry)
        if page is not None and rng_for(catalog.seed, "unlisted", pages.name, entry.index).random() >= 0.02:
            listed[entry.media].append(page.path)
    return listed


def _files(catalog: SyntheticCatalog, pages: TitlePages) -> dict[str, list[str]]:
    files = {}
    for media, paths in listed_paths(catalog, pages).items():
        for number, start in enumerate(range(0, len(paths), PER_FILE), start=1):
            files[f"{media}-{number}.xml"] = paths[start:start + PER_FILE]
    return files


def index(catalog: SyntheticCatalog, pages: TitlePages) -> str:
    live = pages.source.site.base_url.rstrip("/")
    entries = "".join(f"<sitemap><loc>{live}/sitemaps/{name}</loc></sitemap>" for name in _files(catalog, pages))
    return f'<?xml version="1.0" encoding="UTF-8"?><sitemapindex {_NAMESPACE}>{entries}</sitemapindex>'


def urlset(catalog: SyntheticCatalog, pages: TitlePages, name: str) -> str | None:
    paths = _files(catalog, pages).get(name)
    if paths is None:
        return None
    live = pages.source.site.base_url.rstrip("/")
    entries = "".join(f"<url><loc>{escape(live + path)}</loc><changefreq>weekly</changefreq></url>" for path in paths)
    return f'<?xml version="1.0" encoding="UTF-8"?><urlset {_NAMESPACE}>{entries}</urlset>'
