"""Quarantine you can act on: titles an old parser sent to quarantine, with their bodies and URLs, replayed with today's
parsers and no request (TMDB details, a page-finding source whose kept page must pass verification again, TV Tropes'
split articles, DNA answers), and released back to the queue."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from functools import partial

import orjson
import pytest

from goodwatch_assets.errors import ParseError
from goodwatch_assets.fetching.client import SourceClient
from goodwatch_assets.lib.quarantine import (
    NOT_REPLAYED,
    REQUEUED,
    STILL_FAILING,
    STORED,
    ReplaySettings,
    Selection,
    release,
    replay,
)
from goodwatch_assets.lib.title_fetching import fetch_titles
from goodwatch_assets.models.queue import QueueEntry, RetryPolicy, Status
from goodwatch_assets.models.shards import shard_of
from goodwatch_assets.replica import tmdb as replica_tmdb
from goodwatch_assets.replica import vocabulary as V
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.llm import unknown_to_the_model
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.replica.truth import title_truth
from goodwatch_assets.sources import dna, metacritic, registry, tmdb, tvtropes
from goodwatch_assets.sources.spec import SourceSpec
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.helpers import CountingBudget, replica_settings, run_dna, seed_details, stored_dna

CATALOG_SEED = 21
MOVIE_SHARD = 3
TV_SHARD = 6
"""A shard with a dozen split TV Tropes articles in the catalog of :data:`CATALOG_SEED`."""
OLD_PARSER = "the old parser cannot read this layout"


@pytest.fixture(scope="module")
def catalog() -> SyntheticCatalog:
    return SyntheticCatalog(2000, seed=CATALOG_SEED)


@pytest.fixture
def store(clean_serving_db):
    store = PostgresDocumentStore(clean_serving_db)
    yield store
    store.close()


def old_parser(*args, **kwargs):
    """A parser from before a site changed its layout: it reads none of today's pages."""
    raise ParseError(OLD_PARSER, args[0])


def details_answer(catalog: SyntheticCatalog, entry) -> bytes:
    """TMDB's answer for a title's details with every append, as the replica serves it."""
    return orjson.dumps(replica_tmdb.details(catalog, entry, set(tmdb.MOVIE_APPENDS.split(","))))


def entries_of(catalog, media: str, shard: int, count: int | None = None):
    return [e for e in catalog.entries if e.media == media and shard_of(e.tmdb_id) == shard][:count]


def fetch(store, server: ReplicaServer, spec: SourceSpec, handle, media: str, shard: int):
    """One run of ``spec`` over a partition against the replica, quarantining a title at its first unusable answer."""
    settings = replace(spec.queue, retry=RetryPolicy(max_attempts=1))

    async def go():
        async with SourceClient(replica_settings(server.url).site(spec.site)) as client:
            return await fetch_titles(store, client, spec.name, settings, media=media, shard=shard, handle=handle,
                                      feeds=registry.fed_by(spec.name), shared_pages=spec.finding is not None)

    return asyncio.run(go())


def with_details(store, server: ReplicaServer, entries, media: str, shard: int) -> None:
    """The titles' TMDB details, fetched as the pipeline does: they queue the titles for the pages and DNA."""
    store.enqueue(tmdb.SPEC.name, [QueueEntry(media, e.tmdb_id, e.popularity) for e in entries])
    fetch(store, server, tmdb.SPEC, tmdb.fetch_details, media, shard)


def replay_settings(server: ReplicaServer) -> ReplaySettings:
    """This environment as replay sees it: the sites at the replica (a kept page's URL is read as a path on them)."""
    return ReplaySettings(queue=lambda spec: spec.queue, site=replica_settings(server.url).site, llm_model="test-model")


def replayed_without_a_request(store, server: ReplicaServer, source: str):
    """Replay every quarantined title of ``source``, and check the replica was not asked anything meanwhile."""
    asked = len(server.replica.requests())
    report = replay(store, Selection.parse(source), replay_settings(server))
    assert len(server.replica.requests()) == asked
    return report, {title.key: title for title in report.titles}


# -- TMDB details -------------------------------------------------------------------------------------------------------

def test_details_an_old_parser_quarantined_are_stored_by_todays_as_a_fetch_stores_them(catalog, store, monkeypatch):
    entries = entries_of(catalog, "movie", MOVIE_SHARD, 8)
    keys = [("movie", e.tmdb_id) for e in entries]
    store.enqueue(tmdb.SPEC.name, [QueueEntry("movie", e.tmdb_id, e.popularity) for e in entries])
    with ReplicaServer(Replica(catalog)) as server:
        with monkeypatch.context() as old:
            old.setattr(tmdb, "parse_details", old_parser)
            assert fetch(store, server, tmdb.SPEC, tmdb.fetch_details, "movie", MOVIE_SHARD).quarantined == 8
        kept = store.get_many(tmdb.SPEC.name, keys)
        for media, tmdb_id in keys:
            document = kept[(media, tmdb_id)]
            assert (document.status, document.error) == (Status.QUARANTINED, OLD_PARSER)
            assert document.quarantine_url == f"{server.base_urls()[tmdb.API.name]}/3/movie/{tmdb_id}"  # no API key
            assert orjson.loads(document.quarantine_body)["id"] == tmdb_id  # the answer as served
        assert all(page_source not in store.sources() for page_source in ("metacritic", "dna"))

        report, by_key = replayed_without_a_request(store, server, tmdb.SPEC.name)

    assert report.count(STORED) == 8 and report.summary().startswith("replayed 8 quarantined titles: 8 stored")
    stored = store.get_many(tmdb.SPEC.name, keys)
    now = datetime.now(UTC)
    for entry, key in zip(entries, keys, strict=True):
        document, truth = stored[key], title_truth(catalog, entry)["tmdb"]
        assert document.status is Status.OK and document.payload["id"] == entry.tmdb_id
        assert {field: document.record[field] for field in ("vote_average", "vote_count", "imdb_id", "runtime")} == {
            field: truth[field] for field in ("vote_average", "vote_count", "imdb_id", "runtime")}
        assert document.record["genres"] == truth["genres"]
        assert (document.quarantine_body, document.quarantine_url, document.error, document.attempts) == (
            None, None, None, 0)
        # Due again when what the title is says, as a fetch sets it: a week for a recent movie, a month for others.
        assert now + timedelta(days=6) < document.next_attempt_at < now + timedelta(days=31)
        assert by_key[key].outcome == STORED and " days" in by_key[key].detail.split("due again in ")[1]
    # The sources the details feed heard of the titles, as after a fetch.
    assert store.count_by_status(metacritic.SPEC.name) == {"pending": 8}
    assert store.count_by_status(dna.SPEC.name) == {"pending": 8}


# -- a page-finding source --------------------------------------------------------------------------------------------

def test_a_kept_page_is_verified_again_and_stored_only_when_it_is_the_titles(catalog, store, monkeypatch):
    entries = {e.tmdb_id: e for e in entries_of(catalog, "movie", MOVIE_SHARD, 40)}
    with ReplicaServer(Replica(catalog)) as server:
        with_details(store, server, entries.values(), "movie", MOVIE_SHARD)
        with monkeypatch.context() as old:
            old.setattr(metacritic, "parse_page", old_parser)
            fetch(store, server, metacritic.SPEC, partial(metacritic.fetch, guessing=True), "movie", MOVIE_SHARD)
        site = replica_settings(server.url).site(metacritic.SITE)
        kept = store.quarantined(metacritic.SPEC.name)
        # The titles whose first page found was their own (others met a namesake's page first).
        own = [t for t in kept if (truth := title_truth(catalog, entries[t.tmdb_id])["metacritic"])
               and site.path_of(t.url) == truth["path"]]
        assert len(own) >= 5 and all(t.reason == OLD_PARSER and t.body_size for t in kept)
        # One title's kept page swapped for another's: a page that parses today, and is not the title's.
        wrong, other = own[0], own[1]
        page = store.get_many(metacritic.SPEC.name, [other.key])[other.key]
        store.quarantine(metacritic.SPEC.name, wrong.key, OLD_PARSER, page.quarantine_body, url=page.quarantine_url)

        report, by_key = replayed_without_a_request(store, server, metacritic.SPEC.name)

    assert report.count(STORED) >= len(own) - 1 and report.count(STILL_FAILING) == 0
    stored = store.get_many(metacritic.SPEC.name, [t.key for t in kept])
    for title in own[1:]:
        document = stored[title.key]
        truth = title_truth(catalog, entries[title.tmdb_id])["metacritic"]
        assert document.status is Status.OK and by_key[title.key].outcome == STORED
        assert {field: document.record[field] for field in ("metascore", "critic_count", "user_score", "user_count")} \
            == {field: truth[field] for field in ("metascore", "critic_count", "user_score", "user_count")}
        assert document.source_url == document.record["url"] == title.url  # the verified page: tried first next time
        assert document.record["evidence"]["found_by"] == "replay" and 0 < document.record["match_confidence"] <= 1
        assert document.quarantine_body is None and document.next_attempt_at is not None
    # Another title's page is never stored as the title's: today a fetch would go on to its other candidates.
    rejected = stored[wrong.key]
    assert (rejected.status, rejected.payload, rejected.record, rejected.source_url) == (Status.PENDING, None, None, None)
    assert (rejected.attempts, rejected.quarantine_body, rejected.quarantine_url) == (0, None, None)
    assert by_key[wrong.key].outcome == REQUEUED
    assert by_key[wrong.key].detail.startswith(f"{other.url} is not the title's page (the page is IMDb ")
    assert store.holders(metacritic.SPEC.name, [other.url])[other.url][0].key == other.key


# -- TV Tropes: split articles need their sub-pages --------------------------------------------------------------------

def subpages_only(parse_article):
    """An old parser that reads articles but not their sub-pages (which are parsed without a URL)."""
    def parse(body, url=None):
        if url is None:
            raise ParseError(OLD_PARSER, body)
        return parse_article(body, url)

    return parse


def test_a_split_tv_tropes_article_goes_back_to_the_queue_and_a_whole_one_is_stored(catalog, store, monkeypatch):
    entries = {e.tmdb_id: e for e in entries_of(catalog, "tv", TV_SHARD)}
    fetch_tropes = partial(tvtropes.fetch, guessing=True)
    truths = {tmdb_id: title_truth(catalog, entry)["tvtropes"] for tmdb_id, entry in entries.items()}
    with ReplicaServer(Replica(catalog)) as server:
        with_details(store, server, entries.values(), "tv", TV_SHARD)
        site = replica_settings(server.url).site(tvtropes.SITE)
        with monkeypatch.context() as old:
            old.setattr(tvtropes, "parse_article", old_parser)
            fetch(store, server, tvtropes.SPEC, fetch_tropes, "tv", TV_SHARD)
        own = {t.key: t for t in store.quarantined(tvtropes.SPEC.name)
               if truths[t.tmdb_id] and site.path_of(t.url) == truths[t.tmdb_id]["path"]}
        report, by_key = replayed_without_a_request(store, server, tvtropes.SPEC.name)

        stored = store.get_many(tvtropes.SPEC.name, list(own))
        split = [key for key in own if catalog.details(entries[key[1]]).pages[tvtropes.SPEC.name]["subpages"]]
        whole = [key for key in own if key not in split]
        assert len(split) >= 5 and whole
        for key in whole:  # all its tropes are on the article: stored
            assert stored[key].status is Status.OK and sorted(stored[key].record["tropes"]) == sorted(
                truths[key[1]]["tropes"])
        for key in split:  # never part of its tropes as if they were all: back in the queue, due at once
            assert by_key[key].outcome == REQUEUED and "split into" in by_key[key].detail
            assert (stored[key].status, stored[key].payload, stored[key].attempts, stored[key].quarantine_body) == (
                Status.PENDING, None, 0, None)

        # The next fetch, under a parser that fails the sub-pages: the sub-page is kept, with its own URL.
        with monkeypatch.context() as old:
            old.setattr(tvtropes, "parse_article", subpages_only(tvtropes.parse_article))
            fetch(store, server, tvtropes.SPEC, fetch_tropes, "tv", TV_SHARD)
        kept = store.get_many(tvtropes.SPEC.name, split)
        assert all(kept[key].status is Status.QUARANTINED and "/Tropes" in kept[key].quarantine_url for key in split)
        report, by_key = replayed_without_a_request(store, server, tvtropes.SPEC.name)
        assert all(by_key[key].outcome == REQUEUED and "sub-page parses today" in by_key[key].detail for key in split)

        fetch(store, server, tvtropes.SPEC, fetch_tropes, "tv", TV_SHARD)  # today's parser, with the requests
    done = store.get_many(tvtropes.SPEC.name, split)
    assert all(sorted(done[key].record["tropes"]) == sorted(truths[key[1]]["tropes"]) for key in split)


# -- DNA ------------------------------------------------------------------------------------------------------------------

def test_dna_answers_an_old_parser_could_not_use_are_stored_from_the_kept_answer(clean_serving_db, monkeypatch):
    catalog = SyntheticCatalog(2000, seed=5)
    store = PostgresDocumentStore(clean_serving_db)
    entries = seed_details(store, catalog, 10)
    with ReplicaServer(Replica(catalog)) as server:
        with monkeypatch.context() as old:
            old.setattr(dna, "parse_answer", lambda content, titles, model: {t.key: OLD_PARSER for t in titles})
            report, _ = run_dna(store, server, CountingBudget(100))
        assert report.quarantined == 10
        report, by_key = replayed_without_a_request(store, server, dna.SPEC.name)

    original = {variant: label for label, variant in V.DNA_VARIANTS.items()}
    stored = stored_dna(store, entries)
    for entry in entries:
        document = stored[("movie", entry.tmdb_id)]
        if unknown_to_the_model(catalog, entry):  # its part of the answer is still unusable today
            assert document.status is Status.QUARANTINED and document.error == "the model says it does not know this title"
            assert by_key[document.key].outcome == STILL_FAILING
            continue
        assert document.status is Status.OK and document.record["llm_model"] == "test-model"
        assert {category: {original.get(label, label) for label in labels}
                for category, labels in document.record["dna"].items()} == {
            category: set(labels) for category, labels in catalog.details(entry).dna.items()}
    assert report.count(STORED) >= 8
    store.close()


# -- every backend: replay, nothing kept, release -------------------------------------------------------------------------

def test_replay_and_release_on_every_backend(document_store, catalog):
    """The replayer speaks the store's contract only: the same on MongoDB as on PostgreSQL."""
    good = entries_of(catalog, "movie", MOVIE_SHARD, 1)[0]
    answer = details_answer(catalog, good)
    document_store.enqueue(tmdb.SPEC.name, [QueueEntry("movie", good.tmdb_id)])
    document_store.quarantine(tmdb.SPEC.name, ("movie", good.tmdb_id), OLD_PARSER, answer,
                              url=tmdb.API.url(f"/3/movie/{good.tmdb_id}"))
    document_store.enqueue(metacritic.SPEC.name, [QueueEntry("movie", 11, hints={"title": "A"}),
                                                  QueueEntry("movie", 12, hints={"title": "B"})])
    document_store.fail(metacritic.SPEC.name, ("movie", 11), "HTTP 503", policy=RetryPolicy(max_attempts=1))
    document_store.quarantine(metacritic.SPEC.name, ("movie", 12), OLD_PARSER, b"<html>")  # before URLs were kept
    settings = ReplaySettings(queue=lambda spec: spec.queue, site=lambda site: site, llm_model="test-model")

    report = replay(document_store, Selection.parse(), settings)
    by_id = {t.key[1]: t for t in report.titles}
    assert {tmdb_id: t.outcome for tmdb_id, t in by_id.items()} == {
        good.tmdb_id: STORED, 11: NOT_REPLAYED, 12: NOT_REPLAYED}
    assert "nothing to replay, use release (no body was kept; quarantined for: HTTP 503)" in by_id[11].detail
    assert "URL was not kept" in by_id[12].detail
    details = document_store.get_many(tmdb.SPEC.name, [("movie", good.tmdb_id)])[("movie", good.tmdb_id)]
    assert (details.status, details.record["vote_count"]) == (Status.OK, catalog.details(good).vote_count)
    assert document_store.count_by_status(metacritic.SPEC.name) == {"quarantined": 2, "pending": 1}  # + the details'

    released = release(document_store, Selection.parse(metacritic.SPEC.name, titles=["movie 11"]))
    assert released.lines()[-1] == "released 1 titles (metacritic 1): due at once, attempts reset, kept bodies dropped"
    assert document_store.count_by_status(metacritic.SPEC.name) == {"pending": 2, "quarantined": 1}
