"""Where candidate pages come from: Wikidata's answers (and the ones that must not be used) and the sites' sitemaps."""

from __future__ import annotations

import gzip

import orjson
import pytest

from goodwatch_assets.errors import ParseError
from goodwatch_assets.replica.wikidata import TIMEOUT_TRACE
from goodwatch_assets.sources import metacritic, rotten_tomatoes, wikidata
from goodwatch_assets.sources.sitemaps import match_titles, parse_sitemap
from goodwatch_assets.sources.wikidata import WikidataAnswerError, WikidataIds, check_batch, parse_answer, query

VARIABLES = ["imdb_id", "rotten_tomatoes"]


def binding(qid: str, tmdb: str, **values: str) -> dict:
    return {"item": {"type": "uri", "value": f"{wikidata.ENTITY_PREFIX}{qid}"},
            "tmdb": {"type": "literal", "value": tmdb},
            **{k: {"type": "literal", "value": v} for k, v in values.items()}}


def answer(*bindings: dict) -> bytes:
    return orjson.dumps({"head": {"vars": ["item", "tmdb", *VARIABLES]}, "results": {"bindings": list(bindings)}})


def test_a_query_asks_for_the_batch_by_tmdb_property_and_each_site_property():
    text = query("tv", [1399, 76479], {"imdb_id": "P345", "rotten_tomatoes": "P1258"})
    assert 'VALUES ?tmdb { "1399" "76479" }' in text and "?item wdt:P4983 ?tmdb" in text
    assert "OPTIONAL { ?item wdt:P1258 ?rotten_tomatoes . }" in text
    with pytest.raises(ValueError):
        query("movie", [1], {"x; DROP": "P1"})


def test_an_answer_gives_each_title_its_ids_several_values_kept():
    body = answer(binding("Q190050", "550", imdb_id="tt0137523", rotten_tomatoes="m/fight_club"),
                  binding("Q190050", "550", imdb_id="tt0137523", rotten_tomatoes="m/1000126-fight_club"),
                  binding("Q1", "551"))
    found = parse_answer(body, [550, 551, 552], VARIABLES)
    assert [(t.tmdb_id, t.item) for t in found] == [(550, "Q190050"), (551, "Q1")]
    assert found[0].ids == {"imdb_id": ("tt0137523",), "rotten_tomatoes": ("m/1000126-fight_club", "m/fight_club")}
    assert found[1].ids == {}


def test_a_timed_out_query_answered_200_with_a_stack_trace_is_refused():
    body = answer(*(binding(f"Q{i}", str(i)) for i in range(1, 50)))
    timed_out = body[: len(body) // 2] + TIMEOUT_TRACE.encode()
    with pytest.raises(WikidataAnswerError, match="TimeoutException"):
        parse_answer(timed_out, range(1, 50), VARIABLES)


@pytest.mark.parametrize(("body", "problem"), [
    (b'{"head": {}, "results": {}}', "no head.vars"),
    (orjson.dumps({"head": {"vars": ["item", "tmdb"]}, "results": {"bindings": []}}), "lacks the variables"),
    (answer({"item": {"type": "literal", "value": "not an entity"}, "tmdb": {"type": "literal", "value": "1"}}),
     "not an entity"),
    (answer(binding("Q1", "999")), "not an entity of an asked TMDB id"),
])
def test_an_answer_of_another_shape_is_refused(body, problem):
    with pytest.raises(WikidataAnswerError, match=problem):
        parse_answer(body, [1, 2], VARIABLES)


def test_a_short_answer_is_refused_batch_by_batch():
    def found(ids):
        return [WikidataIds(i, f"Q{i}", {}) for i in ids]

    asked, known = list(range(1, 401)), set(range(1, 201))
    check_batch(found(range(10, 201)), asked, known)  # 191 of the 200 titles found last time
    with pytest.raises(WikidataAnswerError, match="items for 179 of the 200 titles"):
        check_batch(found(range(22, 201)), asked, known)
    check_batch(found([1]), [1, 2, 3, 401], known)  # three known titles are too few to judge by
    with pytest.raises(WikidataAnswerError, match="no item for any of 150"):
        check_batch([], list(range(150)), set())
    check_batch([], list(range(20)), set())  # a small batch may have no item at all


def test_sitemaps_are_read_as_index_or_url_set_and_anything_else_refused():
    site = rotten_tomatoes.SITE.base_url  # the URLs a sitemap lists are read, never fetched here
    index = (b'<?xml version="1.0"?><sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
             + f"<sitemap><loc>{site}/sitemaps/movie-1.xml</loc></sitemap></sitemapindex>".encode())
    urls = (b'<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9"><url><loc> '
            + f"{site}/m/fight_club </loc></url></urlset>".encode())
    assert parse_sitemap(index) == ([f"{site}/sitemaps/movie-1.xml"], [])
    assert parse_sitemap(gzip.compress(urls)) == ([], [f"{site}/m/fight_club"])
    for broken in (b"<html><body>Just a moment...</body></html>", urls[:60], b'<!DOCTYPE x [<!ENTITY e SYSTEM '
                   b'"file:///etc/passwd">]><urlset><url><loc>&e;</loc></url></urlset>'):
        try:
            _, found = parse_sitemap(broken)
        except ParseError:
            continue
        assert all("root:" not in loc for loc in found)  # an external entity is never read


SITEMAP = ["/m/dark_water", "/m/dark_water_2005", "/m/dark_water_2005_2", "/m/blade_runner_2049", "/m/heat",
           "/m/the_hidden_empire_lonely_hunter", "/m/winter_final_promise", "/m/winter_of_the_river",
           "/m/burning_frontier_part_2", "/m/burning_frontier_frozen_station", "/tv/dark_water"]


def test_sitemap_pages_matched_to_titles_by_their_names_best_first():
    titles = [("movie", 1, ["Dark Water"], 2005), ("movie", 2, ["Dark Water"], 1990), ("movie", 3, ["Blade Runner 2049"], 2017),
              ("movie", 4, ["The Hidden Empire"], 2017), ("movie", 5, ["Winter"], 2016),
              ("movie", 6, ["Burning Frontier"], 1920), ("tv", 7, ["Dark Water"], 2012), ("movie", 8, ["Heat"], None),
              ("movie", 9, ["Northern Road", "Heat"], 1995)]
    matches = match_titles(titles, SITEMAP, rotten_tomatoes.page_keys, rotten_tomatoes.slug, "_")
    assert matches[("movie", 1)] == ["/m/dark_water_2005", "/m/dark_water_2005_2", "/m/dark_water"]
    assert matches[("movie", 2)] == ["/m/dark_water"]  # the 2005 pages are another year's
    assert matches[("movie", 3)] == ["/m/blade_runner_2049"]  # a name ending in a number, not a year suffix
    assert matches[("movie", 4)] == ["/m/the_hidden_empire_lonely_hunter"]  # the only subtitled page
    assert ("movie", 5) not in matches  # two subtitled pages: no unique match
    assert matches[("movie", 6)] == ["/m/burning_frontier_frozen_station"]  # a sequel's "part 2" is no subtitle
    assert matches[("tv", 7)] == ["/tv/dark_water"] and matches[("movie", 8)] == ["/m/heat"]
    assert matches[("movie", 9)] == ["/m/heat"]  # any of the title's names


def test_each_site_reads_its_page_paths():
    assert rotten_tomatoes.page_keys("/m/dark_water_2005_2") == [("movie", "dark_water_2005_2", None),
                                                                 ("movie", "dark_water", 2005)]
    assert metacritic.page_keys("/tv/the-wire/") == [("tv", "the-wire", None)]
    assert metacritic.page_keys("/movie/heat-1995/") == [("movie", "heat-1995", None), ("movie", "heat", 1995)]
    assert rotten_tomatoes.page_keys("/celebrity/someone") == [] and metacritic.page_keys("/game/x/") == []


def test_wikidata_is_its_own_source_with_its_own_site():
    assert wikidata.SPEC.name == "wikidata_ids" and wikidata.SPEC.site.name == "wikidata"
    assert wikidata.SPEC.queue is None and wikidata.SPEC.partitions == "catalog"
