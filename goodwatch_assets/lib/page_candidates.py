"""Where the page-finding sources' candidates come from besides guessing: each title's Wikidata ids and the pages the
sites' sitemaps list under its names, merged into the sources' queues as hints (``wikidata_ids``,
``sitemap_paths``). A negatively cached title whose candidates change is due again at once.

Nothing is written before the whole answer is in and checked: a Wikidata partition's every batch, a site's every
sitemap. Then the Wikidata documents and each source's hints are written, one transaction each: a run stopped
between them leaves some sources with last week's candidates until the next run. A hint list is written for every
title asked (empty when nothing names it), so a candidate that left Wikidata or a sitemap leaves the queue too.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import orjson
import polars as pl

from goodwatch_assets.errors import ParseError
from goodwatch_assets.fetching.client import SourceClient
from goodwatch_assets.models.queue import Status
from goodwatch_assets.models.shards import MEDIA_TYPES
from goodwatch_assets.sources import tmdb, wikidata
from goodwatch_assets.sources.page_matching import TitleHints
from goodwatch_assets.sources.sitemaps import match_titles, read_sitemaps
from goodwatch_assets.sources.spec import SourceSpec
from goodwatch_assets.stores.documents import DocumentStore

IMDB = "imdb_id"
"""The variable of the IMDb id in the Wikidata query and record."""


def _hints_frame(media: str, hints: dict[int, dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame({"media": [media] * len(hints), "tmdb_id": list(hints),
                         "hints": [orjson.dumps(h).decode() for h in hints.values()]})


async def refresh_wikidata_ids(store: DocumentStore, client: SourceClient, media: str, shard: int,
                               page_sources: Sequence[SourceSpec]) -> dict[str, Any]:
    """Ask Wikidata for the ids of one catalog partition's titles; store them (``wikidata_ids``) and merge each page
    source's ids into its queue. Raises before writing anything when an answer is unusable or short."""
    catalog = store.queued(tmdb.SPEC.name, media=media, shard=shard)
    asked = catalog["tmdb_id"].to_list()
    variables = {spec.name: spec.finding.wikidata_property for spec in page_sources}
    previous = store.queued(wikidata.SPEC.name, media=media, shard=shard)
    known = set(previous.filter(previous["status"] == str(Status.OK))["tmdb_id"].to_list())
    found = await wikidata.fetch_ids(client, media, asked, {IMDB: wikidata.IMDB_PROPERTY, **variables}, known)

    by_id = {title.tmdb_id: title for title in found}
    records = {tmdb_id: orjson.dumps({"item": t.item, **{name: list(values) for name, values in t.ids.items()}}
                                     ).decode() for tmdb_id, t in by_id.items()}
    record_column = [records.get(i) for i in asked]  # the answer is the record: stored as both
    store.upsert_frame(wikidata.SPEC.name, pl.DataFrame({
        "media": [media] * len(asked), "tmdb_id": asked, "payload": record_column, "record": record_column,
        "status": [str(Status.OK if i in records else Status.NOT_FOUND) for i in asked],
    }))
    metadata: dict[str, Any] = {"titles_asked": len(asked), "with_item": len(found),
                                "with_imdb_id": sum(1 for t in found if t.ids.get(IMDB))}
    for spec in page_sources:
        ids = {i: {"wikidata_ids": list(by_id[i].ids.get(spec.name, ())) if i in by_id else []} for i in asked}
        metadata[f"{spec.name}/ids"] = sum(1 for h in ids.values() if h["wikidata_ids"])
        metadata[f"{spec.name}/hints_changed"] = store.merge_hints(spec.name, _hints_frame(media, ids))
    metadata["imdb_id_disagreements"] = _imdb_disagreements(store, page_sources, media, shard, by_id)
    return metadata


def _imdb_disagreements(store: DocumentStore, page_sources: Sequence[SourceSpec], media: str, shard: int,
                        by_id: dict[int, wikidata.WikidataIds]) -> int:
    """Titles whose Wikidata IMDb id is not TMDB's (counted only: TMDB's stays the title's)."""
    if not page_sources:
        return 0
    queued = store.queued(page_sources[0].name, media=media, shard=shard)
    tmdb_ids = {tmdb_id: orjson.loads(hints).get("imdb_id") for tmdb_id, hints in queued.select("tmdb_id", "hints").iter_rows()}
    return sum(1 for i, t in by_id.items() if t.ids.get(IMDB) and tmdb_ids.get(i) and tmdb_ids[i] not in t.ids[IMDB])


async def refresh_sitemap_matches(store: DocumentStore, client: SourceClient, spec: SourceSpec) -> dict[str, Any]:
    """Read the site's sitemaps and merge, for every title of the source's queue, the pages listed under its names."""
    finding = spec.finding
    paths = await read_sitemaps(client, finding.sitemap)
    if not paths:  # never read an empty list as "every page is gone"
        raise ParseError(f"{spec.name}: the sitemaps under {finding.sitemap} list no page; nothing written")
    metadata: dict[str, Any] = {"pages_listed": len(paths)}
    for media in MEDIA_TYPES:
        queued = store.queued(spec.name, media=media)
        titles = []
        for tmdb_id, hints in queued.select("tmdb_id", "hints").iter_rows():
            values = orjson.loads(hints)
            if values.get("title"):  # a title queued by hand, its details not fetched yet, has none
                hinted = TitleHints.from_hints(media, tmdb_id, values)
                titles.append((media, tmdb_id, hinted.slug_names, hinted.year))
        matches = match_titles(titles, paths, finding.page_keys, finding.slug, finding.separator)
        hints = {tmdb_id: {"sitemap_paths": matches.get((media, tmdb_id), [])} for _, tmdb_id, _, _ in titles}
        counts = Counter(min(len(h["sitemap_paths"]), 2) for h in hints.values())
        metadata[f"{media}/titles"] = len(hints)
        metadata[f"{media}/one_match"] = counts[1]
        metadata[f"{media}/several_matches"] = counts[2]
        metadata[f"{media}/hints_changed"] = store.merge_hints(spec.name, _hints_frame(media, hints))
    return metadata
