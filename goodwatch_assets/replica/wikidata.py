"""Wikidata as the replica serves it: the query service answering the pipeline's id queries, from the catalog.

Which titles have an item follows their popularity (nearly every popular title, about half of the obscure ones);
an item names the title's IMDb id and its pages on the page-finding sites for a share of them (each site's
``TitlePages.wikidata_share``). As on the real Wikidata, a few ids are wrong: about 2% are stale (a page renamed
since: the old path answers 404) and 1% name another title's page (a same-name title's, or a swapped pair's).

The endpoint reads the queries :mod:`goodwatch_assets.sources.wikidata` writes (``VALUES ?tmdb {…}``, the TMDB
property, ``OPTIONAL { ?item wdt:P… ?var . }``) and answers SPARQL results JSON. Its faults: a timed-out query
answered with HTTP 200, part of the JSON and a Java stack trace; and a short answer missing most rows.
"""

from __future__ import annotations

import math
import re
from typing import Any

from goodwatch_assets.replica.catalog import CatalogEntry, SyntheticCatalog, rng_for
from goodwatch_assets.replica.title_pages import TitlePages, title_page_sites
from goodwatch_assets.sources import wikidata as source

_VALUES = re.compile(r"VALUES\s+\?tmdb\s*\{([^}]*)\}")
_TMDB = re.compile(r"\?item\s+wdt:(P\d+)\s+\?tmdb")
_OPTIONAL = re.compile(r"OPTIONAL\s*\{\s*\?item\s+wdt:(P\d+)\s+\?(\w+)\s*\.?\s*\}")
TIMEOUT_TRACE = (
    "\njava.util.concurrent.ExecutionException: java.util.concurrent.TimeoutException\n"
    "\tat java.util.concurrent.FutureTask.report(FutureTask.java:122)\n"
    "\tat com.bigdata.rdf.sail.webapp.BigdataServlet.submitApiTask(BigdataServlet.java:292)\n"
    "Caused by: java.util.concurrent.TimeoutException\n"
)


def _coverage(popularity: float) -> float:
    return min(0.98, 0.5 + 0.2 * math.log2(1 + popularity))


def item(catalog: SyntheticCatalog, entry: CatalogEntry) -> dict[str, str] | None:
    """The title's Wikidata item: property -> value (``P345`` its IMDb id, each site's property its page id), or None
    when Wikidata has no item for it."""
    rng = rng_for(catalog.seed, "wikidata", entry.index)
    if rng.random() >= _coverage(entry.popularity):
        return None
    details = catalog.details(entry)
    values = {"item": f"Q{7_000_000 + entry.index}"}
    if details.imdb_id and rng.random() < 0.95:
        values[source.IMDB_PROPERTY] = details.imdb_id
    for pages in title_page_sites():
        prop = pages.source.finding.wikidata_property if pages.source.finding else None
        page = details.pages.get(pages.name)
        if pages.wikidata_id is None or prop is None or page is None or rng.random() >= pages.wikidata_share:
            continue
        roll = rng_for(catalog.seed, "wikidata-error", pages.name, entry.index).random()
        path = page["path"]
        if roll < 0.02:
            path = _renamed(pages, path)
        elif roll < 0.03:
            path = _someone_elses(catalog, pages, entry) or path
        values[prop] = pages.wikidata_id(path)
    return values


def _renamed(pages: TitlePages, path: str) -> str:
    """The path a page had before it was renamed (nothing answers there now)."""
    trailing = "/" if path.endswith("/") else ""
    return path.rstrip("/") + pages.year_suffix.format(year=0) + trailing


def _someone_elses(catalog: SyntheticCatalog, pages: TitlePages, entry: CatalogEntry) -> str | None:
    """Another title's page on the site: the nearest earlier title of the same media that has one."""
    for index in range(entry.index - 1, max(-1, entry.index - 60), -1):
        other = catalog.entries[index]
        page = catalog.page(pages.name, other) if other.media == entry.media else None
        if page is not None:
            return page.path
    return None


def answer(catalog: SyntheticCatalog, query: str) -> dict[str, Any] | None:
    """SPARQL results JSON for a query of the pipeline's shape; None for a query the replica does not understand."""
    values, tmdb = _VALUES.search(query), _TMDB.search(query)
    media = {prop: media for media, prop in source.TMDB_PROPERTY.items()}.get(tmdb[1]) if tmdb else None
    if values is None or media is None:
        return None
    wanted = {int(v) for v in re.findall(r'"(\d+)"', values[1])}
    optionals = _OPTIONAL.findall(query)
    bindings = []
    for tmdb_id in sorted(wanted):
        entry = catalog.entry(media, tmdb_id)
        found = item(catalog, entry) if entry is not None else None
        if found is None:
            continue
        row = {"item": {"type": "uri", "value": f"{source.ENTITY_PREFIX}{found['item']}"},
               "tmdb": {"type": "literal", "value": str(tmdb_id)}}
        for prop, variable in optionals:
            if prop in found:
                row[variable] = {"type": "literal", "value": found[prop]}
        bindings.append(row)
    return {"head": {"vars": ["item", "tmdb", *(variable for _, variable in optionals)]},
            "results": {"bindings": bindings}}


def timed_out(body: bytes) -> bytes:
    """What the service sends when a query runs out of time after it began answering: HTTP 200, then this."""
    return body[: len(body) * 2 // 5] + TIMEOUT_TRACE.encode()


def shortened(answer_: dict[str, Any]) -> dict[str, Any]:
    """A short answer: valid JSON missing most of its rows."""
    bindings = answer_["results"]["bindings"]
    return {**answer_, "results": {"bindings": bindings[: len(bindings) // 10]}}
