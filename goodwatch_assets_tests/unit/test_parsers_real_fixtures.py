"""Every parser against every recorded real response in ../shared/fixtures/real, with SOURCES.md's values."""

from __future__ import annotations

import ast
import gzip
import json

import pytest
import yaml

from goodwatch_assets.errors import ParseError
from goodwatch_assets.sources import imdb, metacritic, rotten_tomatoes, tmdb, tvtropes
from goodwatch_assets_tests.helpers import SHARED_FIXTURES as REAL

pytestmark = pytest.mark.skipif(not REAL.exists(), reason="../shared/fixtures/real is not beside the project")


def read(name: str) -> str:
    return (REAL / name).read_text(encoding="utf-8", errors="replace")


def load(name: str):
    return json.loads(read(name))


# -- TMDB -----------------------------------------------------------------------------------------

DETAILS = {
    # file: (media, id, title, imdb_id, vote_average, vote_count, keyword count, offer count)
    "tmdb/jdrouet_movie-details.json": ("movie", 550, "Fight Club", "tt0137523", 8.44, 27917, 0, 0),
    "tmdb/jdrouet_tv-details.json": ("tv", 1399, "Game of Thrones", None, 8.443, 22526, 0, 0),
    "tmdb/jdrouet_tv-details-complex.json": ("tv", 2, "Clerks: The Animated Series", None, 6.903, 72, 0, 0),
    "tmdb/krelinga_2025_movie_550_append_credits_release_dates_external_ids_keywords_images.json":
        ("movie", 550, "Fight Club", "tt0137523", 8.438, 30717, 14, 0),
    "tmdb/krelinga_2025_movie_348_plain_details.json": ("movie", 348, "Alien", "tt0078748", 8.164, 15577, 0, 0),
    "tmdb/krelinga_2025_tv_1399_append_aggregate_credits_content_ratings_credits_external_ids_keywords.json":
        ("tv", 1399, "Game of Thrones", "tt0944947", 8.456, 25382, 6, 0),
    "tmdb/chiiya_2022_movies_appends-1.json": ("movie", 550, "Fight Club", "tt0137523", 8.4, 24173, 0, 0),
    "tmdb/chiiya_2022_movies_appends-2.json": ("movie", 550, "Fight Club", "tt0137523", 8.4, 24173, 2, 0),
    "tmdb/chiiya_2022_movies_appends-3.json": ("movie", 550, "Fight Club", "tt0137523", 8.4, 24173, 0, 12),
    "tmdb/chiiya_2022_movies_details.json": ("movie", 550, "Fight Club", "tt0137523", 8.4, 24173, 0, 0),
    "tmdb/chiiya_2022_shows_appends-1.json": ("tv", 76479, "The Boys", None, 8.4, 5939, 0, 0),
    "tmdb/chiiya_2022_shows_appends-2.json": ("tv", 76479, "The Boys", "tt1190634", 8.4, 5939, 5, 0),
    "tmdb/chiiya_2022_shows_appends-3.json": ("tv", 76479, "The Boys", None, 8.4, 5939, 0, 4),
    "tmdb/chiiya_2022_shows_details.json": ("tv", 76479, "The Boys", None, 8.4, 5935, 0, 0),
    "tmdb/pawelkrupinski_2026-06_movie_1018_append_alternative_titles.json":
        ("movie", 1018, "Mulholland Drive", "tt0166924", 7.8, 7042, 0, 0),
}


@pytest.mark.parametrize("name", sorted(DETAILS))
def test_tmdb_details(name):
    media, tmdb_id, title, imdb_id, vote_average, vote_count, keywords, offers = DETAILS[name]
    record = tmdb.parse_details(read(name).encode(), media)
    assert (record.tmdb_id, record.title, record.imdb_id, record.vote_average, record.vote_count) == (
        tmdb_id, title, imdb_id, vote_average, vote_count)
    assert (len(record.keywords), len(record.offers)) == (keywords, offers)


def test_tmdb_details_details_that_sources_md_names():
    fight_club = tmdb.parse_details(load("tmdb/jdrouet_movie-details.json"), "movie")
    assert (str(fight_club.release_date), fight_club.runtime, fight_club.popularity, fight_club.genres,
            fight_club.status) == ("1999-10-15", 139, 93.958, ("Drama",), "Released")
    got = tmdb.parse_details(load("tmdb/jdrouet_tv-details.json"), "tv")
    assert (str(got.release_date), got.number_of_seasons, got.number_of_episodes, got.status) == (
        "2011-04-17", 8, 73, "Ended")
    appended = tmdb.parse_details(load(
        "tmdb/krelinga_2025_movie_550_append_credits_release_dates_external_ids_keywords_images.json"), "movie")
    assert appended.popularity == 24.1745 and appended.directors == ("David Fincher",)
    assert appended.cast[0] == "Edward Norton" and appended.certification == "R"
    show = tmdb.parse_details(load(
        "tmdb/krelinga_2025_tv_1399_append_aggregate_credits_content_ratings_credits_external_ids_keywords.json"), "tv")
    assert show.certification == "TV-MA" and show.number_of_seasons == 8
    alien = tmdb.parse_details(load("tmdb/krelinga_2025_movie_348_plain_details.json"), "movie")
    assert alien.year == 1979
    mulholland = tmdb.parse_details(load("tmdb/pawelkrupinski_2026-06_movie_1018_append_alternative_titles.json"),
                                    "movie")
    assert mulholland.runtime == 147 and len(mulholland.alternative_titles) == 12
    assert any(not title.isascii() for _, title in mulholland.alternative_titles)


def test_tmdb_watch_providers_per_country_and_type():
    movie = tmdb.parse_offers(load("tmdb/jdrouet_movie-watch-providers.json"))
    assert len({o.country for o in movie}) == 96
    us = [o for o in movie if o.country == "US"]
    assert [(o.provider_name, o.provider_id) for o in us if o.type == "flatrate"] == [("Peacock Premium", 387)]
    assert (sum(o.type == "rent" for o in us), sum(o.type == "buy" for o in us)) == (7, 8)
    assert us[0].link == load("tmdb/jdrouet_movie-watch-providers.json")["results"]["US"]["link"]  # as TMDB gave it
    tv = tmdb.parse_offers(load("tmdb/jdrouet_tv-watch-providers.json"))
    assert len({o.country for o in tv}) == 97
    assert [(o.provider_name, o.provider_id) for o in tv if o.country == "US" and o.type == "flatrate"] == [
        ("Max Amazon Channel", 1825), ("Max", 1899), ("Spectrum On Demand", 486)]
    assert sum(o.country == "US" and o.type == "buy" for o in tv) == 5
    chiiya = tmdb.parse_offers(load("tmdb/chiiya_2022_movies_watch_providers.json"))
    us = [o for o in chiiya if o.country == "US"]
    assert len({o.country for o in chiiya}) == 81
    assert [sum(o.type == t for o in us) for t in ("rent", "buy", "flatrate")] == [9, 9, 6]
    assert [o.provider_name for o in us if o.type == "ads"] == ["The Roku Channel"]
    shows = tmdb.parse_offers(load("tmdb/chiiya_2022_shows_watch_providers.json"))
    assert len({o.country for o in shows}) == 96
    assert [o.provider_name for o in shows if o.country == "US" and o.type == "flatrate"] == ["Amazon Prime Video"]
    # A title without a US region (appends-3 has only AE and AR): parsed, no US offers.
    no_us = tmdb.parse_details(load("tmdb/chiiya_2022_movies_appends-3.json"), "movie")
    assert {o.country for o in no_us.offers} == {"AE", "AR"}
    the_boys = tmdb.parse_details(load("tmdb/chiiya_2022_shows_appends-3.json"), "tv")
    assert [(o.type, o.provider_name) for o in the_boys.offers] == [
        ("flatrate", "Amazon Prime Video"), ("buy", "Apple iTunes"), ("buy", "Vudu"), ("buy", "Microsoft Store")]


def test_tmdb_appended_blocks_on_their_own():
    assert tmdb.keywords_of(load("tmdb/jdrouet_movie-keywords.json"))[::13] == ("dual identity", "self destructiveness")
    assert tmdb.keywords_of(load("tmdb/jdrouet_tv-keywords.json")) == (
        "based on novel or book", "kingdom", "dragon", "king", "intrigue", "fantasy world")
    credits = load("tmdb/jdrouet_movie-credits.json")
    assert (len(credits["cast"]), len(credits["crew"])) == (76, 187)
    assert tmdb.cast_of(credits)[0] == "Edward Norton" and tmdb.directors_of(credits) == ("David Fincher",)
    external = load("tmdb/jdrouet_movie-external-ids.json")
    assert (external["imdb_id"], external["wikidata_id"], external["instagram_id"]) == ("tt0137523", "Q190050", None)
    assert load("tmdb/pawelkrupinski_2026-06_movie_1018_external_ids.json")["imdb_id"] == "tt0166924"


def test_tmdb_lists():
    trending = tmdb.parse_title_list(load("tmdb/chiiya_2022_misc_trending.json"))
    assert len(trending) == 20 and trending[0][:2] == ("tv", 66732)
    assert (sum(m == "movie" for m, *_ in trending), sum(m == "tv" for m, *_ in trending)) == (16, 4)
    popular = load("tmdb/jdrouet_movie-popular.json")
    assert (popular["total_pages"], tmdb.parse_title_list(popular)[0][1]) == (42471, 787699)
    assert tmdb.parse_title_list(load("tmdb/jdrouet_tv-popular.json"))[0][0] is None  # no media_type on /popular
    providers = tmdb.parse_provider_list(load("tmdb/jdrouet_watch-provider-movie-list.json"))
    assert len(providers) == 530 and providers[0][:2] == (2, "Apple TV")
    assert len(tmdb.parse_provider_list(load("tmdb/jdrouet_watch-provider-tv-list.json"))) > 100


@pytest.mark.parametrize(("cassette", "expected"), [
    ("tmdb/krelinga_cassette_TestGetMovie.yaml", [(550, "Fight Club", 30717), (348, "Alien", 15577)]),
    ("tmdb/krelinga_cassette_TestGetShow.yaml", [(1399, "Game of Thrones", 25382)]),
])
def test_tmdb_recorded_cassettes(cassette, expected):
    interactions = yaml.safe_load(read(cassette))["interactions"]
    media = "tv" if "Show" in cassette else "movie"
    parsed = [tmdb.parse_details(i["response"]["body"], media) for i in interactions]
    assert [(r.tmdb_id, r.title, r.vote_count) for r in parsed] == expected


# -- IMDb -----------------------------------------------------------------------------------------


def test_imdb_datasets(tmp_path):
    ratings = imdb.read_ratings(str(REAL / "imdb_datasets/artemchapaev_2023-03_title.ratings.tsv"))
    assert ratings.height == 18
    rows = {r["imdb_id"]: (r["rating"], r["votes"]) for r in ratings.iter_rows(named=True)}
    assert rows["tt0111161"] == (9.3, 2711899) and rows["tt0000005"] == (6.2, 2596)
    assert rows["tt16747572"] == (9.6, 10349)
    gz = tmp_path / "title.ratings.tsv.gz"
    gz.write_bytes(gzip.compress((REAL / "imdb_datasets/artemchapaev_2023-03_title.ratings.tsv").read_bytes()))
    assert imdb.read_ratings(str(gz)).equals(ratings)  # the real files come gzipped
    basics = imdb.read_basics(str(REAL / "imdb_datasets/artemchapaev_2023-03_title.basics.tsv"))
    assert basics.height == 15 and "tt0111161" not in basics["tconst"].to_list()  # rated, not in basics
    gg = basics.filter(basics["tconst"] == "tt21288778").row(0, named=True)
    assert (gg["primaryTitle"], gg["originalTitle"]) == ("Gandhada Gudi", "GG - Gandhada Gudi")
    head = imdb.read_basics(str(REAL / "imdb_datasets/isaicordero_2024-11_title.basics.head.tsv"))
    assert head.height == 1999 and head["tconst"][0] == "tt0000001" and head["tconst"][-1] == "tt0002022"
    assert head["runtimeMinutes"].null_count() > 0 and head["genres"].str.contains(",").any()
    akas = (REAL / "imdb_datasets/artemchapaev_2023-03_title.akas.tsv").read_text(encoding="utf-8").splitlines()
    assert len(akas) == 104 and any("а" in line for line in akas)  # 103 rows + header, Cyrillic intact


def test_imdb_title_pages_of_every_era():
    shawshank = imdb.parse_title_page(read("imdb_pages/gergoabraham_2020-01_title_tt0111161_hu-locale_legacy_era.html"))
    assert (shawshank.imdb_id, shawshank.rating, shawshank.votes, shawshank.metascore, shawshank.title) == (
        "tt0111161", 9.3, 2181187, 80, "The Shawshank Redemption")
    futurama = imdb.parse_title_page(read("imdb_pages/gergoabraham_2020-01_title_tt0149460_series_legacy_era.html"))
    assert (futurama.rating, futurama.votes, futurama.metascore) == (8.5, 197471, None)
    matrix = imdb.parse_next_data_json(gzip.decompress((REAL / "imdb_pages/tveronesi_2025-07_tt0133093_NEXT_DATA.json.gz")
                                                       .read_bytes()))
    assert (matrix.rating, matrix.votes, matrix.metascore, matrix.year) == (8.7, 2193347, 73, 1999)
    dead = imdb.parse_next_data_json(gzip.decompress((REAL / "imdb_pages/tveronesi_2025-08_tt1520211_series_NEXT_DATA.json.gz")
                                                     .read_bytes()))
    assert (dead.rating, dead.votes, dead.metascore, dead.year) == (8.1, 1164809, None, 2010)


def test_imdb_decimal_comma_on_a_localised_page_without_json_ld():
    page = read("imdb_pages/gergoabraham_2020-01_title_tt0111161_hu-locale_legacy_era.html")
    start = page.index('<script type="application/ld+json">')
    end = page.index("</script>", start) + len("</script>")
    stripped = page[:start] + '<script type="application/ld+json">{"@type": "Movie", "url": "/title/tt0111161/"}</script>' \
        + page[end:]
    assert imdb.parse_title_page(stripped).rating == 9.3  # read from the visible "9,3"


# -- Rotten Tomatoes --------------------------------------------------------------------------------

RT = {
    "rottentomatoes/pawelkrupinski_2026-06_m_fight_club_EXCERPT.html":
        dict(title="Fight Club", year=1999, tomatometer=81, critic_count=251, audience_score=96,
             audience_count=250899 + 10948, audience_count_label="250,000+ Ratings", certified=True),
    "rottentomatoes/pawelkrupinski_2026_m_the_dark_knight_scorecard_excerpt.html":
        dict(tomatometer=94, critic_count=338, audience_score=94, audience_count=491602 + 32508,
             audience_count_label="250,000+ Ratings", certified=True),
    "rottentomatoes/pawelkrupinski_2026-05_m_the_dark_knight_jsonld_excerpt.html":
        dict(title="The Dark Knight", tomatometer=94, critic_count=340, audience_score=None),
    "rottentomatoes/preritdas_2022-07_m_happy_gilmore_score-board_era.html":
        dict(title="Happy Gilmore", year=1996, tomatometer=61, critic_count=54, audience_score=85,
             audience_count_label="250,000+ Ratings"),
    "rottentomatoes/gergoabraham_2020-01_m_shawshank_redemption_mop-ratings_era.html":
        dict(title="The Shawshank Redemption", year=1994, tomatometer=90, critic_count=71, audience_score=98,
             audience_count=885688, certified=True),
}


@pytest.mark.parametrize("name", sorted(RT))
def test_rotten_tomatoes_pages_of_every_era(name):
    record = rotten_tomatoes.parse_page(read(name))
    assert {key: getattr(record, key) for key in RT[name]} == RT[name]


RT_IDENTITY = {
    "rottentomatoes/pawelkrupinski_2026-06_m_fight_club_EXCERPT.html": (("David Fincher",), 139),
    "rottentomatoes/gergoabraham_2020-01_m_shawshank_redemption_mop-ratings_era.html": (("Frank Darabont",), None),
    "rottentomatoes/preritdas_2022-07_m_happy_gilmore_score-board_era.html": ((), 92),  # JSON-LD says director "NA"
}


@pytest.mark.parametrize("name", sorted(RT_IDENTITY))
def test_rotten_tomatoes_pages_show_their_directors_and_runtime(name):
    record = rotten_tomatoes.parse_page(read(name))
    assert (record.directors, record.runtime) == RT_IDENTITY[name]


def test_the_2023_rotten_tomatoes_layout_keeps_its_audience_score_and_year():
    """2023's pages named the score board ``score-board-deprecated`` (same attributes and slots)."""
    page = read("rottentomatoes/preritdas_2022-07_m_happy_gilmore_score-board_era.html")
    renamed = page.replace("<score-board ", "<score-board-deprecated ").replace("</score-board>", "</score-board-deprecated>")
    assert "<score-board " not in renamed
    record = rotten_tomatoes.parse_page(renamed)
    assert (record.title, record.year, record.tomatometer, record.audience_score, record.critic_count, record.runtime) \
        == ("Happy Gilmore", 1996, 61, 85, 54, 92)


def test_the_2024_rotten_tomatoes_layout_names_its_slots_in_camel_case():
    page = read("rottentomatoes/pawelkrupinski_2026-06_m_fight_club_EXCERPT.html")
    start = page.index("<media-scorecard-manager>")
    page = page[:start] + page[page.index("</media-scorecard-manager>", start):]  # the slots alone, no JSON
    for kebab, camel in (("critics-score", "criticsScore"), ("critics-reviews", "criticsReviews"),
                         ("audience-score", "audienceScore"), ("audience-reviews", "audienceReviews")):
        page = page.replace(f'slot="{kebab}"', f'slot="{camel}"')
    record = rotten_tomatoes.parse_page(page)
    assert (record.tomatometer, record.critic_count, record.audience_score, record.year) == (81, 251, 96, 1999)


def test_rotten_tomatoes_never_reads_the_ad_targeting_score():
    page = read("rottentomatoes/pawelkrupinski_2026-06_m_fight_club_EXCERPT.html")
    assert 'cag[score]":"null"' in page and 'cag[fresh_rotten]":"rotten"' in page
    assert rotten_tomatoes.parse_page(page).tomatometer == 81


def test_rotten_tomatoes_response_recorded_as_python_bytes():
    raw = gzip.decompress((REAL / "rottentomatoes/preritdas_2022-07_Sample_Web_Response.txt.gz").read_bytes())
    page = ast.literal_eval(raw.decode("utf-8")).decode("utf-8")
    record = rotten_tomatoes.parse_page(page)
    assert (record.tomatometer, record.audience_score, record.critic_count) == (61, 85, 54)


# -- Metacritic -------------------------------------------------------------------------------------

MC = {
    "metacritic/pawelkrupinski_2026-06_movie_fight-club_score_blocks_EXCERPT.html":
        dict(metascore=67, critic_count=36, user_score=8.9, user_count=2172),
    "metacritic/pawelkrupinski_2026-05_movie_the_dark_knight_jsonld_excerpt.html":
        dict(title="The Dark Knight", year=2008, metascore=85, critic_count=41, user_score=None),
    "metacritic/pawelkrupinski_2026_movie_girl_climber_no_metascore_jsonld_excerpt.html":
        dict(title="Girl Climber", metascore=None, critic_count=None),
}


@pytest.mark.parametrize("name", sorted(MC))
def test_metacritic_pages(name):
    record = metacritic.parse_page(read(name))
    assert {key: getattr(record, key) for key in MC[name]} == MC[name]


def test_metacritic_identity_is_read_and_the_trailers_duration_is_not_the_runtime():
    knight = metacritic.parse_page(read("metacritic/pawelkrupinski_2026-05_movie_the_dark_knight_jsonld_excerpt.html"))
    climber = metacritic.parse_page(read("metacritic/pawelkrupinski_2026_movie_girl_climber_no_metascore_jsonld_excerpt.html"))
    assert (knight.directors, knight.runtime) == (("Christopher Nolan",), None)  # "PT2M24S" is a trailer's
    assert (climber.directors, climber.year, climber.runtime) == (("Jon Glassberg",), 2025, None)


def test_metacritic_critic_card_badges_are_not_the_metascore():
    page = read("metacritic/pawelkrupinski_2026-06_movie_fight-club_score_blocks_EXCERPT.html")
    assert 'title="Metascore 100 out of 100"' in page  # the trap is there ...
    assert metacritic.parse_page(page).metascore == 67  # ... and not taken


# -- TV Tropes --------------------------------------------------------------------------------------


def test_tvtropes_film_article_counts_only_top_level_entries():
    page = tvtropes.parse_article(read("tvtropes/jwzimmer_2021_Film_FightClub_article_start_EXCERPT.html"))
    assert page.tropes == ("FiveFiveFive", "ActorAllusion", "AdaptationalAlternateEnding", "AdaptationDistillation",
                           "AdaptationalHeroism", "AdventureRebuff")
    assert "ReversePsychology" not in page.tropes and "TagLine" not in page.tropes  # nested bullet, caption
    assert page.year == 1999


def test_tvtropes_intro_names_the_director_not_the_novelist():
    page = tvtropes.parse_article(read("tvtropes/jwzimmer_2021_Film_FightClub_article_start_EXCERPT.html"))
    assert page.directors == ("David Fincher",)  # "directed by David Fincher and adapted from ... by Chuck Palahniuk"


def test_tvtropes_absolute_links_are_the_same_entries():
    page = read("tvtropes/jwzimmer_2021_Film_FightClub_article_start_EXCERPT.html")
    site = tvtropes.SITE.base_url  # links are read, never fetched here
    absolute = page.replace('href="/pmwiki/', f'href="{site}/pmwiki/')
    elsewhere = absolute.replace(f'href="{site}/pmwiki/pmwiki.php/Main/ActorAllusion"',
                                 'href="https://example.org/pmwiki/pmwiki.php/Main/ActorAllusion"')
    assert tvtropes.parse_article(absolute).tropes == tvtropes.parse_article(page).tropes
    assert tvtropes.parse_article(absolute).directors == ("David Fincher",)
    assert "ActorAllusion" not in tvtropes.parse_article(elsewhere).tropes  # another host's page is no entry


def test_tvtropes_series_index_lists_its_sub_pages():
    page = tvtropes.parse_article(read("tvtropes/jwzimmer_2021_Series_GameOfThrones_subpage_index_EXCERPT.html"))
    assert page.subpages == tuple(f"GameOfThrones/Tropes{s}" for s in
                                  ("A", "B", "CToD", "EToF", "GToK", "LToO", "PToS", "TToZ"))
    assert page.tropes == () and page.title == "Game of Thrones"


@pytest.mark.parametrize(("name", "title", "tropes"), [
    ("tvtropes/rzepinskip_2020_Literature_AkataWitch.html", "Akata Witch", 103),
    ("tvtropes/rzepinskip_2020_Literature_AhrimanTrilogy.html", "Ahriman Trilogy", 41),
])
def test_tvtropes_full_pages(name, title, tropes):
    page = tvtropes.parse_article(read(name))
    assert (page.title, page.namespace, len(page.tropes)) == (title, "Literature", tropes)


# -- coverage of the fixture folder ----------------------------------------------------------------

COVERED_ELSEWHERE = {
    "imdb_datasets/artemchapaev_2023-03_title.ratings.tsv", "imdb_datasets/artemchapaev_2023-03_title.basics.tsv",
    "imdb_datasets/artemchapaev_2023-03_title.akas.tsv", "imdb_datasets/isaicordero_2024-11_title.basics.head.tsv",
    "imdb_pages/gergoabraham_2020-01_title_tt0111161_hu-locale_legacy_era.html",
    "imdb_pages/gergoabraham_2020-01_title_tt0149460_series_legacy_era.html",
    "imdb_pages/tveronesi_2025-07_tt0133093_NEXT_DATA.json.gz",
    "imdb_pages/tveronesi_2025-08_tt1520211_series_NEXT_DATA.json.gz",
    "rottentomatoes/preritdas_2022-07_Sample_Web_Response.txt.gz",
    "tmdb/jdrouet_movie-watch-providers.json", "tmdb/jdrouet_tv-watch-providers.json",
    "tmdb/chiiya_2022_movies_watch_providers.json", "tmdb/chiiya_2022_shows_watch_providers.json",
    "tmdb/jdrouet_movie-keywords.json", "tmdb/jdrouet_tv-keywords.json", "tmdb/jdrouet_movie-credits.json",
    "tmdb/jdrouet_movie-external-ids.json", "tmdb/pawelkrupinski_2026-06_movie_1018_external_ids.json",
    "tmdb/chiiya_2022_misc_trending.json", "tmdb/jdrouet_movie-popular.json", "tmdb/jdrouet_tv-popular.json",
    "tmdb/jdrouet_watch-provider-movie-list.json", "tmdb/jdrouet_watch-provider-tv-list.json",
    "tmdb/krelinga_cassette_TestGetMovie.yaml", "tmdb/krelinga_cassette_TestGetShow.yaml",
    "tvtropes/jwzimmer_2021_Film_FightClub_article_start_EXCERPT.html",
    "tvtropes/jwzimmer_2021_Series_GameOfThrones_subpage_index_EXCERPT.html",
    "tvtropes/rzepinskip_2020_Literature_AkataWitch.html", "tvtropes/rzepinskip_2020_Literature_AhrimanTrilogy.html",
}


def test_every_fixture_file_is_parsed_by_a_test():
    files = {str(p.relative_to(REAL)) for p in REAL.rglob("*") if p.is_file() and p.name != "SOURCES.md"}
    tested = set(DETAILS) | set(RT) | set(MC) | COVERED_ELSEWHERE
    assert files - tested == set(), "fixture files no test parses"


def test_malformed_pages_raise_the_projects_parse_error():
    with pytest.raises(ParseError):
        rotten_tomatoes.parse_page("<html><body><p>nothing here</p></body></html>")
    with pytest.raises(ParseError):
        metacritic.parse_page("")
    with pytest.raises(ParseError):
        tvtropes.parse_article("<html><body>no article</body></html>")
    with pytest.raises(ParseError):
        tmdb.parse_details(b'{"id": 550, "title": "Fight Club", "vote_average": 84}', "movie")  # out of range
    with pytest.raises(ParseError):
        tmdb.parse_details(b'{"id": 550, "tit', "movie")
    with pytest.raises(ParseError):
        imdb.read_ratings(b"tconst\taverageRating\tnumVotes\ntt0000001\t12.5\t10\n")


def test_metacritic_page_url_comes_from_json_ld():
    page = metacritic.parse_page(read("metacritic/pawelkrupinski_2026-05_movie_the_dark_knight_jsonld_excerpt.html"))
    assert page.url == f"{metacritic.SITE.base_url}/movie/the-dark-knight/"


def test_candidate_urls_try_the_year_first_for_every_name():
    assert rotten_tomatoes.candidate_paths("movie", ["The River", "River: Part 2"], 1990) == [
        "/m/the_river_1990", "/m/the_river", "/m/river_part_2_1990", "/m/river_part_2"]
    assert metacritic.candidate_paths("tv", ["The River"], None) == ["/tv/the-river/"]
    assert tvtropes.candidate_paths("tv", ["The River"], 1990)[:3] == [
        "/pmwiki/pmwiki.php/Series/TheRiver1990", "/pmwiki/pmwiki.php/Series/TheRiver",
        "/pmwiki/pmwiki.php/WesternAnimation/TheRiver1990"]
