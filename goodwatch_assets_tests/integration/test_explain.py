"""``goodwatch explain`` against the replica's truth: one catalog partition through every source and the combine, then
a title whose Rotten Tomatoes page was rejected (its guessed page is a namesake's), a title every source found, a
quarantined title, a title on the MongoDB backend, and a title no store knows."""

from __future__ import annotations

from datetime import datetime, timedelta

import orjson
import pytest

from goodwatch_assets.defs.dna.assets import dna
from goodwatch_assets.defs.sources.assets import PER_TITLE_ASSETS, imdb_ratings, tmdb_daily_export
from goodwatch_assets.lib.explain import explain_title
from goodwatch_assets.models.queue import FetchedDocument, Status
from goodwatch_assets.models.shards import shard_of
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.replica.truth import title_truth
from goodwatch_assets.replica.vocabulary import PROVIDERS
from goodwatch_assets.sources import metacritic, rotten_tomatoes, tmdb, tvtropes
from goodwatch_assets.sources.page_finding import NOT_THE_TITLES
from goodwatch_assets.stores.combine import Combine
from goodwatch_assets.stores.documents import utc_now
from goodwatch_assets.stores.mongo_documents import MongoDocumentStore
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.helpers import (
    DNA_TABLES,
    clear_serving,
    find_candidates,
    mongo_database,
    replica_resources,
    replica_settings,
    run_catalog_assets,
    run_cli,
    run_daily,
)

MEDIA, SHARD = "movie", 3
"""The partition run: of the 300-title catalog of seed 21, it holds remakes whose namesake's Rotten Tomatoes page is
the one their names lead to, and titles every source found."""
PAGE_SOURCES = {spec.name: spec for spec in (metacritic.SPEC, rotten_tomatoes.SPEC, tvtropes.SPEC)}
EVERY_SOURCE = ("tmdb_details", "imdb_ratings", "wikidata_ids", "dna", *PAGE_SOURCES)


@pytest.fixture(scope="module")
def replica_run(serving_db):
    """One partition of a 300-title replica through every source (DNA too) and the combine; the catalog, the store
    and the sites' policies at the replica (what the stored URLs are made of)."""
    with serving_db.connect() as conn:
        conn.execute(f"TRUNCATE raw.documents, site_blocks, {DNA_TABLES}")
    clear_serving(serving_db)
    catalog, partition = SyntheticCatalog(300, seed=21), f"{MEDIA}|{SHARD:02d}"
    with ReplicaServer(Replica(catalog)) as server:
        resources, settings = replica_resources(server.url), replica_settings(server.url)
        run_daily(resources, tmdb_daily_export)
        run_catalog_assets(resources, [PER_TITLE_ASSETS[tmdb.SPEC.name]], [partition])
        run_daily(resources, imdb_ratings)
        find_candidates(resources, [partition])
        run_catalog_assets(resources, [*(PER_TITLE_ASSETS[name] for name in PAGE_SOURCES), dna], [partition])
    store = PostgresDocumentStore(serving_db)
    Combine(serving_db, store).combine_partition(MEDIA, SHARD)
    entries = [e for e in catalog.entries if e.media == MEDIA and shard_of(e.tmdb_id) == SHARD]
    yield catalog, entries, store, settings
    store.close()


def stored(store, source: str, entry):
    return store.get_many(source, [(entry.media, entry.tmdb_id)]).get((entry.media, entry.tmdb_id))


def explain_json(entry) -> dict:
    result = run_cli("explain", entry.media, str(entry.tmdb_id), "--json")
    assert result.returncode == 0, result.stderr
    return orjson.loads(result.stdout)


def shown(value) -> str:
    """A value as the text output shows it."""
    return "—" if value is None else f"{value:g}" if isinstance(value, float) else str(value)


def explain_text(entry) -> list[str]:
    result = run_cli("explain", entry.media, str(entry.tmdb_id))
    assert result.returncode == 0, result.stderr
    return result.stdout.splitlines()


def rejected_namesake(catalog, store, entries):
    """A title without a Rotten Tomatoes page whose candidate pages were all another title's."""
    for entry in entries:
        document = stored(store, "rotten_tomatoes", entry)
        if (title_truth(catalog, entry)["rotten_tomatoes"] is None and document is not None
                and document.status is Status.NOT_FOUND and document.record["not_found"] == NOT_THE_TITLES):
            return entry
    raise AssertionError("the partition has no title whose Rotten Tomatoes pages were all rejected")


def found_everywhere(catalog, store, entries):
    """A title with a page on every site, an IMDb rating and DNA, which every source stored."""
    for entry in entries:
        truth = title_truth(catalog, entry)
        if (all(truth[name] for name in ("imdb", "dna", *PAGE_SOURCES))
                and all((d := stored(store, name, entry)) and d.status is Status.OK for name in EVERY_SOURCE)):
            return entry
    raise AssertionError("the partition has no title that every source found")


def test_a_rejected_namesake_page_is_explained_with_what_the_page_said(replica_run):
    catalog, entries, store, settings = replica_run
    entry = rejected_namesake(catalog, store, entries)
    truth, document = title_truth(catalog, entry), stored(store, "rotten_tomatoes", entry)

    explained = explain_json(entry)
    assert (explained["media"], explained["tmdb_id"], explained["title"], explained["year"]) == (
        entry.media, entry.tmdb_id, entry.title, entry.year)
    rt = explained["sources"]["rotten_tomatoes"]
    assert rt["status"] == "rejected" and rt["not_found"] == NOT_THE_TITLES
    assert rt["values"] is None and rt["url"] is None and rt["error"] is None
    assert rt["tried"] == document.record["tried"] and rt["rejected"]
    for page in rt["rejected"]:  # another catalog title's page, which said so
        owner = catalog.page_owner("rotten_tomatoes", page["path"])
        assert owner is not None and owner is not entry and page["path"] in rt["tried"]
        owner_page = catalog.page("rotten_tomatoes", owner)
        assert (page["page"]["title"], page["page"]["year"]) == (owner_page.page_title, owner_page.page_year)
        assert page["reason"].startswith("the page's ") and page["found_by"] in ("wikidata", "sitemap", "guess")
    assert rt["next_refresh"] == {"at": document.next_attempt_at.isoformat(), "basis": "next_attempt_at", "due": False}
    assert datetime.fromisoformat(rt["next_refresh"]["at"]) - document.fetched_at == timedelta(days=90)  # negative cache

    # The other sources' values are the truth's; the row's Rotten Tomatoes columns are empty, and no aggregate has it.
    assert explained["sources"]["tmdb_details"]["values"]["vote_average"] == truth["tmdb"]["vote_average"]
    assert explained["sources"]["imdb_ratings"]["values"] == (
        {"rating": truth["imdb"]["rating"], "votes": truth["imdb"]["votes"]} if truth["imdb"] else None)
    row = explained["serving"]["values"]
    for column in ("rotten_tomatoes_url", "rotten_tomatoes_tomato_score_original",
                   "rotten_tomatoes_audience_score_normalized_percent", "rotten_tomatoes_updated_at"):
        assert row[column] == {"value": None, "source": "rotten_tomatoes"}
    assert all("rotten_tomatoes" not in a["sources"] for a in explained["serving"]["aggregates"].values())

    text = explain_text(entry)
    first = rt["rejected"][0]
    assert f"rotten_tomatoes: rejected — {NOT_THE_TITLES}" in text
    rejected_line = text.index(f"  rejected       {first['path']} (found by {first['found_by']}): {first['reason']}")
    said = text[rejected_line + 1]
    assert said.strip().startswith("the page said:") and f"title {first['page']['title']}" in said
    assert f"year {first['page']['year']}" in said


def test_a_title_every_source_found_shows_the_truths_values_pages_and_origins(replica_run):
    catalog, entries, store, settings = replica_run
    entry = found_everywhere(catalog, store, entries)
    truth = title_truth(catalog, entry)
    explained = explain_json(entry)
    sources = explained["sources"]
    assert {name: sources[name]["status"] for name in EVERY_SOURCE} == dict.fromkeys(EVERY_SOURCE, "ok")

    for name, spec in PAGE_SOURCES.items():
        expected, explained_source = dict(truth[name]), sources[name]
        site = settings.site(spec.site)
        assert explained_source["url"] == site.url(expected["path"])
        assert site.path_of(explained_source["url"]) == expected.pop("path")
        values = {field: explained_source["values"][field] for field in expected}
        if name == "tvtropes":
            values["tropes"], expected["tropes"] = sorted(values["tropes"]), sorted(expected["tropes"])
        assert values == expected, name
        assert 0 < explained_source["match_confidence"] <= 1
        assert explained_source["evidence"]["found_by"] in ("verified", "wikidata", "sitemap", "guess")
        assert explained_source["evidence"]["title"] is not None
        assert explained_source["not_found"] is None and explained_source["rejected"] == []
    details = sources["tmdb_details"]["values"]
    assert {field: details[field] for field in ("vote_average", "vote_count", "imdb_id", "runtime", "genres")} == {
        field: truth["tmdb"][field] for field in ("vote_average", "vote_count", "imdb_id", "runtime", "genres")}
    assert sources["imdb_ratings"]["values"] == {"rating": truth["imdb"]["rating"], "votes": truth["imdb"]["votes"]}
    assert sources["dna"]["values"]["dna"] == truth["dna"]

    # When each is fetched again: its due date, the DNA's refresh age, the next daily file, the next Wikidata run.
    details_document, dna_document = stored(store, "tmdb_details", entry), stored(store, "dna", entry)
    assert sources["tmdb_details"]["next_refresh"] == {
        "at": details_document.next_attempt_at.isoformat(), "basis": "next_attempt_at", "due": False}
    assert datetime.fromisoformat(sources["dna"]["next_refresh"]["at"]) == dna_document.fetched_at + timedelta(days=365)
    assert sources["dna"]["next_refresh"]["basis"] == "refresh_age"
    assert sources["imdb_ratings"]["next_refresh"] == {"at": None, "basis": "daily_file", "due": False}
    assert sources["wikidata_ids"]["next_refresh"] == {"at": None, "basis": "partition_run", "due": False}

    # Each serving value named with its source, and equal to the truth.
    row = explained["serving"]["values"]
    assert explained["serving"]["table"] == "movies"
    rt, mc = truth["rotten_tomatoes"], truth["metacritic"]
    assert row["title"] == {"value": entry.title, "source": "tmdb_details"}
    assert row["imdb_user_score_original"] == {"value": truth["imdb"]["rating"], "source": "imdb_ratings"}
    assert row["metacritic_meta_score_original"] == {"value": mc["metascore"], "source": "metacritic"}
    assert row["rotten_tomatoes_tomato_score_original"] == {"value": rt["tomatometer"], "source": "rotten_tomatoes"}
    assert row["rotten_tomatoes_url"] == {"value": settings.site(rotten_tomatoes.SITE).url(rt["path"]),
                                          "source": "rotten_tomatoes"}
    assert sorted(row["trope_names"]["value"]) == sorted(truth["tvtropes"]["tropes"])
    assert row["trope_names"]["source"] == "tvtropes" and row["dna"] == {"value": truth["dna"], "source": "dna"}
    assert row["streaming_country_codes"]["source"] == "tmdb_details" and row["tmdb_id"]["source"] is None
    for name in ("tmdb_details", "imdb_ratings", "dna", *PAGE_SOURCES):
        assert row[f"{name}_updated_at"] == {"value": sources[name]["changed_at"], "source": name}
    aggregates = explained["serving"]["aggregates"]
    user = [name for name, present in (("tmdb_details", truth["tmdb"]["vote_count"] > 0), ("imdb_ratings", True),
                                       ("metacritic", mc["user_score"] is not None),
                                       ("rotten_tomatoes", rt["audience_score"] is not None)) if present]
    official = [name for name, present in (("metacritic", mc["metascore"] is not None),
                                           ("rotten_tomatoes", rt["tomatometer"] is not None)) if present]
    assert aggregates["aggregated_user_score_normalized_percent"]["sources"] == user
    assert aggregates["aggregated_official_score_review_count"]["sources"] == official
    assert aggregates["aggregated_overall_score_normalized_percent"]["sources"] == list(dict.fromkeys(user + official))

    offers, names = truth["tmdb"]["offers"], {pid: name for pid, name, _ in PROVIDERS}
    assert explained["serving"]["streaming_links"] == {
        "current": len(offers), "obsolete": 0, "source": "tmdb_details",
        "providers": sorted({names[provider] for _, _, provider in offers}),
        "countries": sorted({country for country, _, _ in offers})}

    text = explain_text(entry)
    assert f"{entry.media} {entry.tmdb_id}  {entry.title} ({entry.year})" == text[0]
    assert "rotten_tomatoes: ok" in text and f"  url            {sources['rotten_tomatoes']['url']}" in text
    assert f"  value          tomatometer: {shown(rt['tomatometer'])}" in text
    assert f"  confidence     {sources['rotten_tomatoes']['match_confidence']:g}" in text
    assert "  next refresh   with the next daily file" in text
    assert any(line.split() == ["rotten_tomatoes_tomato_score_original", shown(rt["tomatometer"]), "rotten_tomatoes"]
               for line in text)
    assert any(line.startswith("  aggregated_official_score_review_count ") and line.endswith(", ".join(official))
               for line in text)
    assert f"streaming links (tmdb_details): {len(offers)} current, 0 obsolete" in text


def test_a_quarantined_title_shows_its_reason_and_its_last_values(replica_run, serving_db):
    catalog, entries, store, settings = replica_run
    other_tests = {found_everywhere(catalog, store, entries).tmdb_id, rejected_namesake(catalog, store, entries).tmdb_id}
    entry = next(e for e in entries if e.tmdb_id not in other_tests
                 and (d := stored(store, "rotten_tomatoes", e)) and d.status is Status.OK)
    reason = "the page has no score block"
    store.quarantine("rotten_tomatoes", (entry.media, entry.tmdb_id), reason, b"<html>no scores</html>")

    explained = explain_title(store, serving_db, entry.media, entry.tmdb_id)
    rt = next(source for source in explained.sources if source.source == "rotten_tomatoes")
    assert (rt.status, rt.error, rt.attempts) == ("quarantined", reason, 1)
    assert (rt.next_refresh.at, rt.next_refresh.basis) == (None, "not_due")
    assert rt.values["tomatometer"] == title_truth(catalog, entry)["rotten_tomatoes"]["tomatometer"]  # kept

    text = explain_text(entry)
    assert f"rotten_tomatoes: quarantined — {reason}" in text
    assert "  next refresh   none while quarantined" in text


def test_a_title_no_store_knows_is_one_line_and_exit_code_2(replica_run):
    result = run_cli("explain", "tv", "99999999")
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.splitlines() == [
        "error: tv 99999999 is in no store: no source has a document of it and tv_shows has no row"]


def test_the_mongodb_backend_explains_through_the_same_contract(serving_db):
    client, database = mongo_database()
    store = MongoDocumentStore(database, server_clock=utc_now)  # mongomock has no server clock to ask
    key = ("movie", 999_001)  # in no serving table: explained from the documents alone
    store.upsert("tmdb_details", [FetchedDocument(*key, {"id": key[1]}, record={"title": "Only In Mongo", "year": 1999},
                                                  source_url="http://127.0.0.1:9/tmdb_api/3/movie/999001")])
    store.upsert("rotten_tomatoes", [FetchedDocument(*key, None, status=Status.NOT_FOUND, record={
        "not_found": NOT_THE_TITLES, "tried": ["/m/only_in_mongo"],
        "rejected": [{"path": "/m/only_in_mongo", "found_by": "guess", "reason": "the page's year 2011 is outside "
                      "(1998, 2000)", "page": {"title": "Only In Mongo", "year": 2011}}]})])
    try:
        explained = explain_title(store, serving_db, *key)
    finally:
        client.drop_database(database.name)
        client.close()
    by_name = {source.source: source for source in explained.sources}
    assert (explained.title, explained.year, explained.serving) == ("Only In Mongo", 1999, None)
    assert by_name["tmdb_details"].status == "ok" and by_name["tmdb_details"].url.endswith("/3/movie/999001")
    assert by_name["rotten_tomatoes"].status == "rejected"
    assert by_name["rotten_tomatoes"].rejected[0]["reason"].startswith("the page's year 2011")
    assert by_name["metacritic"].status == "absent" and by_name["metacritic"].next_refresh.basis == "not_queued"
