"""The page-finding sources' side of the queue, on every document-store backend: one page, one title (the arbitration
between titles that claim the same page), and new candidates that arrive while a title is being fetched."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import timedelta

import httpx
import orjson
import polars as pl
import pytest

from goodwatch_assets.fetching.client import SourceClient
from goodwatch_assets.lib.shared_pages import settle_shared_pages
from goodwatch_assets.lib.title_fetching import fetch_titles
from goodwatch_assets.models.queue import FetchedDocument, QueueEntry, Status
from goodwatch_assets.models.shards import shard_of
from goodwatch_assets.sources import rotten_tomatoes
from goodwatch_assets.sources.page_finding import CRITIC_QUEUE

SOURCE = "rotten_tomatoes"
PAGE = rotten_tomatoes.SITE.base_url + "/m/dark_water"  # built, never fetched
CACHE = timedelta(days=90)


def claim(tmdb_id: int, popularity: float = 1.0, url: str = PAGE, **evidence) -> FetchedDocument:
    record = {"url": url, "tomatometer": 50 + tmdb_id,
              "evidence": {"imdb_id": None, "wikidata": False, "directors": None, "title": "exact", "year": 1.0,
                           **evidence}}
    return FetchedDocument("movie", tmdb_id, {"tomatometer": 50 + tmdb_id}, record=record, source_url=url,
                           popularity=popularity)


@pytest.mark.parametrize(("winner", "claims"), [
    (2, [claim(1, popularity=90), claim(2, imdb_id=True), claim(3, wikidata=True, directors=True)]),
    (3, [claim(1, popularity=90, directors=True), claim(3, wikidata=True)]),
    (1, [claim(1, directors=True), claim(2, popularity=90, title="name")]),
    (2, [claim(1, popularity=90, year=0.9), claim(2, year=1.0)]),  # a remake a year off loses to the namesake
    (1, [claim(1, title="exact"), claim(2, title="subtitle", popularity=50)]),
    (2, [claim(1, popularity=2), claim(2, popularity=30)]),  # nothing else tells them apart: the popular one
], ids=["imdb", "wikidata", "directors", "year", "title", "popularity"])
def test_the_best_claimant_keeps_the_page_and_the_others_are_duplicates(document_store, winner, claims):
    document_store.upsert(SOURCE, claims)
    assert settle_shared_pages(document_store, SOURCE, claims, CACHE) == len(claims) - 1
    stored = document_store.get_many(SOURCE, [("movie", c.tmdb_id) for c in claims])
    assert {k[1] for k, d in stored.items() if d.status is Status.OK} == {winner}
    for key, document in stored.items():
        if key[1] != winner:
            assert document.status is Status.DUPLICATE and document.payload is None
            assert document.record["duplicate_of"] == ["movie", winner] and document.record["url"] == PAGE
            assert document.next_attempt_at == document_store.clock() + CACHE


def test_a_later_better_claimant_takes_the_page_and_pages_of_their_own_are_left_alone(document_store, clock):
    first = [claim(1), claim(2, url=rotten_tomatoes.SITE.base_url + "/m/heat")]
    document_store.upsert(SOURCE, first)
    assert settle_shared_pages(document_store, SOURCE, first, CACHE) == 0  # one page each: nothing to settle
    clock.advance(hours=1)
    later = [claim(3, imdb_id=True)]
    document_store.upsert(SOURCE, later)
    assert settle_shared_pages(document_store, SOURCE, later, CACHE) == 1
    stored = document_store.get_many(SOURCE, [("movie", i) for i in (1, 2, 3)])
    assert [stored[("movie", i)].status for i in (1, 2, 3)] == [Status.DUPLICATE, Status.OK, Status.OK]


def test_candidates_merged_while_a_title_is_fetched_are_tried_at_once(document_store):
    tmdb_id, seen = 7, []
    document_store.enqueue(SOURCE, [QueueEntry("movie", tmdb_id, hints={"title": "Heat"})])

    async def handle(client, reservation):
        seen.append(reservation.hints.get("wikidata_ids"))
        if len(seen) == 1:  # the weekly Wikidata run merges a candidate while the title is being fetched
            document_store.merge_hints(SOURCE, pl.DataFrame({"media": ["movie"], "tmdb_id": [tmdb_id], "hints": [
                orjson.dumps({"wikidata_ids": ["m/heat_1995"]}).decode()]}))
        return FetchedDocument("movie", tmdb_id, None, record={"not_found": "no page upstream"}, status=Status.NOT_FOUND)

    async def go():
        policy = replace(rotten_tomatoes.SITE, base_url="http://127.0.0.1:9", requests_per_second=1000)
        async with SourceClient(policy, transport=httpx.MockTransport(lambda r: httpx.Response(404))) as client:
            return await fetch_titles(document_store, client, SOURCE, CRITIC_QUEUE, media="movie",
                                      shard=shard_of(tmdb_id), handle=handle)

    asyncio.run(go())
    assert seen == [None, ["m/heat_1995"]]  # not left for 90 days with a candidate never tried
    stored = document_store.get_many(SOURCE, [("movie", tmdb_id)])[("movie", tmdb_id)]
    assert stored.status is Status.NOT_FOUND and stored.next_attempt_at == document_store.clock() + timedelta(days=90)
