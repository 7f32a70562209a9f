"""The offline replica: every endpoint answers, deterministically, with the catalog's shape and faults."""

from __future__ import annotations

import gzip
import re
import subprocess
from collections import Counter
from datetime import date

import httpx
import orjson
import pytest

from goodwatch_assets.errors import ParseError
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.faults import FaultConfig, RateLimit
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.replica.title_pages import title_pages
from goodwatch_assets.replica.truth import title_truth
from goodwatch_assets.sources import metacritic, rotten_tomatoes, tmdb, tvtropes, wikidata
from goodwatch_assets.sources.sitemaps import parse_sitemap
from goodwatch_assets_tests.helpers import GOODWATCH

TODAY = date(2026, 11, 20)


@pytest.fixture(scope="module")
def catalog() -> SyntheticCatalog:
    return SyntheticCatalog(2000, seed=11)


@pytest.fixture(scope="module")
def served(catalog):
    with ReplicaServer(Replica(catalog, today=TODAY)) as server:
        yield server


def first(catalog, predicate):
    return next(e for e in catalog.entries if predicate(e))


def test_every_endpoint_answers(catalog, served):
    base = served.base_urls()
    client = httpx.Client(timeout=10)
    movie = first(catalog, lambda e: e.media == "movie" and catalog.details(e).imdb_id)
    show = first(catalog, lambda e: e.media == "tv" and catalog.details(e).imdb_id)

    export = client.get(f"{base['tmdb_files']}/p/exports/movie_ids_11_20_2026.json.gz")
    rows = [orjson.loads(line) for line in gzip.decompress(export.content).splitlines()]
    assert set(rows[0]) == {"adult", "id", "original_title", "popularity", "video"}
    assert len(rows) == len(catalog.export_entries("movie", TODAY))
    tv_export = client.get(f"{base['tmdb_files']}/p/exports/tv_series_ids_11_20_2026.json.gz")
    first_show = orjson.loads(gzip.decompress(tv_export.content).splitlines()[0])
    assert set(first_show) == {"id", "original_name", "popularity"}
    assert client.get(f"{base['tmdb_files']}/p/exports/movie_ids_11_21_2026.json.gz").status_code == 404  # future

    appends = "external_ids,watch/providers,keywords,credits,release_dates,alternative_titles"
    details = client.get(f"{base['tmdb_api']}/3/movie/{movie.tmdb_id}", params={"append_to_response": appends}).json()
    assert details["id"] == movie.tmdb_id and details["title"] == movie.title
    assert "keywords" in details["keywords"] and details["imdb_id"] == catalog.details(movie).imdb_id
    assert set(appends.split(",")) <= set(details)
    tv = client.get(f"{base['tmdb_api']}/3/tv/{show.tmdb_id}",
                    params={"append_to_response": "external_ids,keywords,content_ratings"}).json()
    assert "imdb_id" not in tv and tv["external_ids"]["imdb_id"] == catalog.details(show).imdb_id
    assert "results" in tv["keywords"] and tv["content_ratings"]["results"][0]["iso_3166_1"] == "US"
    providers = client.get(f"{base['tmdb_api']}/3/movie/{movie.tmdb_id}/watch/providers").json()
    assert providers["id"] == movie.tmdb_id and isinstance(providers["results"], dict)
    for media in ("movie", "tv", "all"):
        for window in ("day", "week"):
            trending = client.get(f"{base['tmdb_api']}/3/trending/{media}/{window}", params={"page": 2}).json()
            assert trending["page"] == 2 and len(trending["results"]) == 20
            assert media == "all" or {r["media_type"] for r in trending["results"]} == {media}

    ratings = gzip.decompress(client.get(f"{base['imdb_datasets']}/title.ratings.tsv.gz").content).decode()
    assert ratings.startswith("tconst\taverageRating\tnumVotes\n")
    basics = gzip.decompress(client.get(f"{base['imdb_datasets']}/title.basics.tsv.gz").content).decode()
    assert basics.splitlines()[0].split("\t")[0:3] == ["tconst", "titleType", "primaryTitle"]
    imdb_page = client.get(f"{base['imdb']}/title/{catalog.details(movie).imdb_id}/").text
    assert '<script id="__NEXT_DATA__" type="application/json">' in imdb_page

    for site, key in (("rotten_tomatoes", "rotten_tomatoes"), ("metacritic", "metacritic"), ("tvtropes", "tvtropes")):
        for media in ("movie", "tv"):
            owner = first(catalog, lambda e, k=key, m=media: e.media == m and k in e.sites)
            response = client.get(base[site] + catalog.page(key, owner).path)
            assert response.status_code == 200, (site, media)
        assert client.get(base[site] + "/m/no_such_title_anywhere").status_code == 404

    answer = client.post(f"{base['llm']}/chat/completions", json={
        "model": "any", "messages": [{"role": "user", "content": orjson.dumps(
            {"titles": [{"media": "movie", "tmdb_id": movie.tmdb_id}, {"media": "tv", "tmdb_id": show.tmdb_id}]}
        ).decode()}]}).json()
    content = orjson.loads(answer["choices"][0]["message"]["content"])
    assert [(t["media"], t["tmdb_id"]) for t in content["titles"]] == [("movie", movie.tmdb_id), ("tv", show.tmdb_id)]
    assert set(content["titles"][0]["dna"]) >= {"Mood", "Plot", "Character Types", "Key Props", "Content Flags"}


PARSERS = {"metacritic": metacritic.parse_page, "rotten_tomatoes": rotten_tomatoes.parse_page,
           "tvtropes": tvtropes.parse_article}


@pytest.mark.parametrize("site", sorted(PARSERS))
def test_every_layout_parses_to_the_truth_with_the_identity_the_page_shows(catalog, served, site):
    client = httpx.Client(timeout=10)
    layouts = Counter()
    for entry in [e for e in catalog.entries if site in e.sites][:250]:
        page = catalog.details(entry).pages[site]
        record = PARSERS[site](client.get(served.base_urls()[site] + page["path"]).content)
        truth = {k: v for k, v in title_truth(catalog, entry)[site].items() if k != "path"}
        if page.get("subpages"):
            truth.pop("tropes")  # a split article's tropes are on its sub-pages
        shown = {k: (tuple(v) if k == "tropes" else v) for k, v in truth.items()}
        assert {k: getattr(record, k) for k in shown} == shown, (site, page["layout"], entry)
        assert (record.title, record.year, record.directors) == (page["page_title"], page["page_year"],
                                                                 tuple(page["directors"])), (site, page["layout"])
        if site != "tvtropes":
            assert record.runtime == page["runtime"], (site, page["layout"])
        if site == "metacritic" and page["layout"] == "current":
            assert record.imdb_id == page["imdb_id"]
        layouts[page["layout"]] += 1
    assert set(layouts) == {name for name, _ in title_pages(site).layouts}, layouts


def test_the_replica_serves_wikidata_sitemaps_the_changes_feed_and_blocks(catalog, served):
    base, client = served.base_urls(), httpx.Client(timeout=10)
    movies = [e for e in catalog.entries if e.media == "movie"][:300]
    properties = {"imdb_id": "P345", "rotten_tomatoes": "P1258", "metacritic": "P1712", "tvtropes": "P6839"}
    body = client.post(base["wikidata"] + "/sparql", data={"query": wikidata.query("movie", [e.tmdb_id for e in movies],
                                                                                      properties)}).content
    found = {t.tmdb_id: t for t in wikidata.parse_answer(body, [e.tmdb_id for e in movies], list(properties))}
    assert 0.6 < len(found) / len(movies) < 0.95  # a realistic share has an item ...
    popular = sorted(movies, key=lambda e: -e.popularity)[:30]
    assert sum(e.tmdb_id in found for e in popular) >= 27  # ... nearly every popular title
    named = [(e, found[e.tmdb_id].ids["rotten_tomatoes"][0]) for e in movies
             if e.tmdb_id in found and "rotten_tomatoes" in found[e.tmdb_id].ids]
    right = sum("/" + rt_id == catalog.page("rotten_tomatoes", e).path for e, rt_id in named)
    assert 0.9 < right / len(named) < 1  # a few ids are stale or another title's

    index = client.get(base["rotten_tomatoes"] + "/sitemap.xml").content
    children, _ = parse_sitemap(index)
    live = rotten_tomatoes.SITE.base_url  # the replica's sitemaps list the live site's URLs, as the real ones do
    assert children and all(c.startswith(live + "/sitemaps/") for c in children)
    _, urls = parse_sitemap(client.get(base["rotten_tomatoes"] + "/sitemaps/" + children[0].rsplit("/", 1)[1]).content)
    assert urls and all(u.startswith(live + "/m/") for u in urls)
    assert client.get(base["tvtropes"] + "/sitemap.xml").status_code == 404  # TV Tropes publishes none

    changes = client.get(base["tmdb_api"] + "/3/movie/changes", params={"start_date": "2026-11-19"}).json()
    assert changes["total_results"] == len(changes["results"]) > 0 and changes["page"] == 1
    assert all(catalog.entry("movie", item["id"]) for item in changes["results"])

    for kind, status in (("challenge", 403), ("empty-202", 202), ("challenge-page", 200), ("no-data", 200)):
        with ReplicaServer(Replica(catalog, FaultConfig(block_rate=1.0, block_kind=kind), today=TODAY)) as blocking:
            answer = httpx.get(blocking.base_urls()["rotten_tomatoes"] + "/m/anything")
            assert answer.status_code == status, kind
            assert (answer.headers.get("cf-mitigated") == "challenge") == (kind == "challenge")
            assert {r.fault for r in blocking.replica.requests("rotten_tomatoes")} == {"blocked"}


def test_pages_carry_the_values_and_traps_of_the_real_sites(catalog, served):
    base = served.base_urls()
    client = httpx.Client(timeout=10)
    rt_entry = first(catalog, lambda e: catalog.details(e).pages.get("rotten_tomatoes", {}).get("tomatometer") is not None
                     and catalog.details(e).pages["rotten_tomatoes"]["layout"] == "current")
    rt = catalog.details(rt_entry).pages["rotten_tomatoes"]
    page = client.get(base["rotten_tomatoes"] + rt["path"]).text
    scorecard = orjson.loads(re.search(r'id="media-scorecard-json"[^>]*>\s*(\{.*?\})\s*</script>', page, re.S)[1])
    assert scorecard["criticsScore"]["score"] == str(rt["tomatometer"])
    assert f'cag[score]":"{rt["tomatometer"]}"' not in page  # the ad-targeting trap never holds the true score
    assert f">{rt['tomatometer']}%</rt-text>" in page

    mc_entry = first(catalog, lambda e: catalog.details(e).pages.get("metacritic", {}).get("metascore") is not None
                     and catalog.details(e).pages["metacritic"]["layout"] == "current")
    mc = catalog.details(mc_entry).pages["metacritic"]
    page = client.get(base["metacritic"] + mc["path"]).text
    assert f'<span data-testid="global-score-value">{mc["metascore"]}</span>' in page
    assert f'"ratingValue":{mc["metascore"]},' in page
    assert page.count("out of 100") == 4  # two for the Metascore, two on the critic card (the trap)

    show = first(catalog, lambda e: catalog.details(e).pages.get("tvtropes", {}).get("subpages")
                 and catalog.details(e).pages["tvtropes"]["layout"] == "relative")
    tropes = catalog.details(show).pages["tvtropes"]
    index = client.get(base["tvtropes"] + tropes["path"]).text
    subpages = re.findall(r'href="/pmwiki/pmwiki\.php/(\w+/Tropes\w+)"', index)
    found = set()
    for subpage in subpages:
        found |= set(re.findall(r'<li> <a class="twikilink" href="/pmwiki/pmwiki\.php/Main/(\w+)"',
                                client.get(f"{base['tvtropes']}/pmwiki/pmwiki.php/{subpage}").text))
    assert found == set(tropes["tropes"])
    assert any(re.search(r"/Tropes[A-Z]$", s) for s in subpages)  # single-letter sub-pages exist


def test_rate_limits_answer_like_each_site(catalog):
    faults = FaultConfig(rate_limits={"tmdb_api": RateLimit(3, 60), "rotten_tomatoes": RateLimit(2, 60)})
    owner = first(catalog, lambda e: "rotten_tomatoes" in e.sites)
    with ReplicaServer(Replica(catalog, faults, today=TODAY)) as server:
        base = server.base_urls()
        client = httpx.Client(timeout=10)
        statuses = [client.get(f"{base['tmdb_api']}/3/movie/{owner.tmdb_id}").status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        rt_path = base["rotten_tomatoes"] + catalog.page("rotten_tomatoes", owner).path
        rt = [client.get(rt_path) for _ in range(3)]
        assert [r.status_code for r in rt] == [200, 200, 403] and rt[2].headers["retry-after"] == "60"


def test_faults_are_seeded_and_transient(catalog):
    faults = FaultConfig(seed=5, error_rate=0.3, malformed_rate=0.2, truncate_rate=1.0)

    def run() -> list[tuple[int, int]]:
        with ReplicaServer(Replica(catalog, faults, today=TODAY)) as server:
            client = httpx.Client(timeout=10)
            answers = []
            for entry in catalog.entries[:60]:
                for _ in range(2):  # a retry rolls again
                    r = client.get(f"{server.base_urls()['tmdb_api']}/3/{entry.media}/{entry.tmdb_id}")
                    answers.append((r.status_code, len(r.content)))
            export = client.get(f"{server.base_urls()['tmdb_files']}/p/exports/movie_ids_11_20_2026.json.gz")
            with pytest.raises((EOFError, gzip.BadGzipFile, OSError)):
                gzip.decompress(export.content)  # truncated download
            return answers

    first_run, second_run = run(), run()
    assert first_run == second_run  # same seed, same faults
    errors = sum(1 for status, _ in first_run if status >= 500)
    assert 20 <= errors <= 55  # ~30 % of 120
    both_failed = sum(1 for i in range(0, 120, 2) if first_run[i][0] >= 500 and first_run[i + 1][0] >= 500)
    assert both_failed < errors / 2  # a retry usually gets through


def test_error_bursts_fail_every_request_of_a_site_while_they_last(catalog):
    faults = FaultConfig(burst_length=3, burst_every=5)
    with ReplicaServer(Replica(catalog, faults, today=TODAY)) as server:
        client = httpx.Client(timeout=10)
        tmdb = [client.get(f"{server.base_urls()['tmdb_api']}/3/{e.media}/{e.tmdb_id}").status_code
                for e in catalog.entries[:10]]
        owner = first(catalog, lambda e: "rotten_tomatoes" in e.sites)
        rt_page = server.base_urls()["rotten_tomatoes"] + catalog.page("rotten_tomatoes", owner).path
        rt = [client.get(rt_page).status_code for _ in range(5)]  # another site: bursts of its own
    assert [status >= 500 for status in tmdb] == [True, True, True, False, False] * 2
    assert [status >= 500 for status in rt] == [True, True, True, False, False]
    assert [r.fault for r in server.replica.requests("tmdb_api")].count("error") == 6
    assert FaultConfig.parse_bursts("10/40") == (10, 40) and FaultConfig.parse_bursts("") == (0, 0)
    for wrong in ("10", "40/10", "a/b"):
        with pytest.raises(ValueError, match="LENGTH"):
            FaultConfig.parse_bursts(wrong)


def test_the_replica_command_serves_on_loopback_and_exports_its_truth(tmp_path):
    process = subprocess.Popen([GOODWATCH, "replica", "serve", "--titles", "120", "--seed", "4", "--port", "0",
                                "--rate-limit", "metacritic=1/60", "--error-bursts", "1/1000"], stdout=subprocess.PIPE, text=True)
    try:
        first_line = process.stdout.readline()
        url = first_line.split(" on ", 1)[1].split(" ", 1)[0]
        assert url.startswith("http://127.0.0.1:")  # loopback unless told otherwise
        assert httpx.get(f"{url}{tmdb.API.replica_prefix}/3/movie/1").status_code >= 500  # the first request falls in a burst
        assert httpx.get(f"{url}/_replica/health").json() == {"titles": 120}
        served = [orjson.loads(line) for line in httpx.get(f"{url}/_replica/truth").text.splitlines()]
    finally:
        process.terminate()
        process.wait(timeout=10)
    out = tmp_path / "truth.jsonl"
    subprocess.run([GOODWATCH, "replica", "truth", "--titles", "120", "--seed", "4", "--out", str(out)], check=True)
    written = [orjson.loads(line) for line in out.read_text().splitlines()]
    assert written == served and len(written) == 120
    assert {"tmdb", "imdb", "metacritic", "rotten_tomatoes", "tvtropes", "dna"} <= set(written[0])


@pytest.mark.parametrize(("site", "key", "parser"), [
    ("rotten_tomatoes", "rotten_tomatoes", rotten_tomatoes.parse_page),
    ("metacritic", "metacritic", metacritic.parse_page),
    ("tvtropes", "tvtropes", tvtropes.parse_article),
])
def test_malformed_pages_are_rejected_by_the_parsers(catalog, site, key, parser):
    owners = [e for e in catalog.entries if key in e.sites][:40]
    with ReplicaServer(Replica(catalog, FaultConfig(malformed_rate=1.0), today=TODAY)) as server:
        client = httpx.Client(timeout=10)
        for entry in owners:
            page = client.get(server.base_urls()[site] + catalog.page(key, entry).path).content
            with pytest.raises(ParseError):
                parser(page)
        assert {r.fault for r in server.replica.requests(site)} == {"malformed"}


def test_unknown_paths_are_logged_and_unknown_rate_limit_sites_refused(catalog, served):
    before = len(served.replica.requests("metacritic"))
    assert httpx.get(served.base_urls()["metacritic"] + "/movie/no-trailing-slash").status_code == 404
    assert len(served.replica.requests("metacritic")) == before + 1
    with pytest.raises(ValueError, match="unknown site 'no_such_site'"):
        FaultConfig.parse_rate_limits(["no_such_site=5/1"])
