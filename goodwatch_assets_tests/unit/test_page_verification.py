"""Is a page the title's: each verification rule, the refresh ages, and the candidate order — without a server."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from goodwatch_assets.models.queue import FetchedDocument, Reservation, Status
from goodwatch_assets.models.records import PageIdentity
from goodwatch_assets.sources import metacritic, rotten_tomatoes, tvtropes
from goodwatch_assets.sources.page_finding import CRITIC_QUEUE, candidates
from goodwatch_assets.sources.page_matching import TitleHints, comparable
from goodwatch_assets.sources.page_verification import title_agreement, verify

MOVIE = TitleHints("movie", 1, "The Silent River", 2004, alternative_titles=("Silent River: Night Tide",),
                   original_title="Тхе Силент Ривер", translations=("Le Fleuve silencieux",), imdb_id="tt1234567",
                   directors=("Ada Rossi",), runtime=110)
SHOW = TitleHints("tv", 2, "Northern Road", 2011, last_air_year=2016, directors=("Ivo Horvat",))


def page(**values) -> PageIdentity:
    return PageIdentity(**{"title": "The Silent River", "year": 2004, **values})


def test_the_same_imdb_id_accepts_the_page_whatever_else_it_says():
    verdict = verify(page(title="Le Grand Silence", year=1999, imdb_id="tt1234567"), MOVIE)
    assert verdict.accepted and verdict.confidence == 1.0 and verdict.evidence["imdb_id"] is True


def test_another_imdb_id_rejects_unless_title_year_and_directors_or_runtime_agree():
    assert not verify(page(imdb_id="tt7654321"), MOVIE).accepted  # a namesake's page
    pilot = verify(page(imdb_id="tt7654321", directors=("Ada Rossi",)), MOVIE)  # the site shows a pilot's id
    assert pilot.accepted and pilot.evidence["imdb_id"] is False
    assert verify(page(imdb_id="tt7654321", runtime=112), MOVIE).accepted


def test_directors_in_common_are_needed_when_the_page_names_any():
    assert verify(page(directors=("Ada Rossi", "Bruno Abara")), MOVIE).accepted
    rejected = verify(page(directors=("Carmen Novak",)), MOVIE)
    assert not rejected.accepted and "directors" in rejected.reason
    assert verify(page(directors=()), MOVIE).accepted  # a page without directors says nothing against


def test_a_movie_runtime_within_five_minutes():
    assert verify(page(runtime=115), MOVIE).accepted
    assert not verify(page(runtime=116), MOVIE).accepted
    assert verify(PageIdentity(title="Northern Road", year=2012, runtime=300), SHOW).accepted  # shows: not compared


@pytest.mark.parametrize(("page_title", "agreement"), [
    ("The Silent River", "exact"),
    ("Silent River", "exact"),  # a leading article
    ("THE SILENT RIVER!", "exact"),
    ("Тхе Силент Ривер", "name"),  # the original title, in its own script
    ("Le Fleuve silencieux", "name"),  # a translation
    ("Silent River: Night Tide", "name"),  # an alternative title
    ("The Silent River: A Long Night", "subtitle"),
    ("The Silent Rivers", "similar"),
    ("The Silent River 2", None),  # a sequel's number is another title
    ("The Silent River: Part 2", None),
    ("The Loud River", None),
])
def test_titles_are_compared_in_any_script_with_their_other_names(page_title, agreement):
    assert title_agreement(page_title, MOVIE) == agreement


def test_non_latin_titles_are_never_normalised_to_nothing():
    assert comparable("静かな川") == "静かな川" and comparable("Σιωπηλό ποτάμι") == "σιωπηλο ποταμι"
    japanese = TitleHints("movie", 3, "静かな川", 2001, translations=("The Quiet River",))
    assert verify(PageIdentity(title="The Quiet River", year=2001), japanese).accepted
    assert not verify(PageIdentity(title="騒がしい川", year=2001), japanese).accepted


def test_a_movie_year_within_one_and_a_show_any_year_of_its_seasons():
    assert verify(page(year=2005), MOVIE).accepted and not verify(page(year=2006), MOVIE).accepted
    for year in (2010, 2011, 2014, 2017):  # a year before the first season to a year after the last
        assert verify(PageIdentity(title="Northern Road", year=year), SHOW).accepted, year
    assert not verify(PageIdentity(title="Northern Road", year=2018), SHOW).accepted
    assert not verify(PageIdentity(title="Northern Road", year=2009), SHOW).accepted


def test_a_page_without_a_year_needs_something_else_to_agree():
    assert not verify(page(year=None), MOVIE).accepted
    assert verify(page(year=None, directors=("Ada Rossi",)), MOVIE).accepted
    assert verify(page(year=None), MOVIE, from_wikidata=True).accepted


def test_a_renamed_page_from_wikidata_passes_on_its_directors():
    renamed = page(title="Night Tide", directors=("Ada Rossi",), runtime=109)
    assert verify(renamed, MOVIE, from_wikidata=True).accepted
    assert not verify(renamed, MOVIE).accepted  # not the title's name, and not from Wikidata
    wrong_id = page(title="Casino", runtime=112)  # a wrong Wikidata id whose runtime happens to be close
    assert not verify(wrong_id, MOVIE, from_wikidata=True).accepted


def test_the_evidence_says_what_agreed():
    verdict = verify(page(year=2005, directors=("Ada Rossi",), runtime=111), MOVIE)
    assert verdict.evidence == {"imdb_id": None, "title": "exact", "year": 0.9, "directors": True, "runtime": True,
                                "wikidata": False}
    assert 0.9 < verdict.confidence < 1


def test_refresh_ages_follow_the_title_and_the_negative_cache_its_absence():
    today = date(2026, 12, 3)

    def after(media, status=Status.OK, **facts):
        return CRITIC_QUEUE.refresh_after(FetchedDocument(media, 1, {}, status=status), facts, today)

    assert CRITIC_QUEUE.refresh_after(FetchedDocument("tv", 1, {}), {"status": "Returning Series"}, today) \
        == timedelta(days=7)
    assert CRITIC_QUEUE.refresh_after(FetchedDocument("tv", 1, {}), {"status": "Ended"}, today) == timedelta(days=90)
    assert after("movie", release_date="2026-09-01") == timedelta(days=14)
    assert after("movie", release_date="2024-09-01") == timedelta(days=90)
    assert after("movie", year=2026) == timedelta(days=14)  # no release date: the year
    assert after("movie", status=Status.NOT_FOUND) == timedelta(days=90)
    assert after("tv", status=Status.DUPLICATE) == timedelta(days=90)
    assert CRITIC_QUEUE.retry.base_delay == timedelta(days=1)  # errors: the next day


def test_candidates_come_verified_first_then_wikidata_then_sitemaps_then_guesses():
    reservation = Reservation("movie", 1, 1.0, {}, 0, None, datetime(2026, 1, 1),
                              verified_url=rotten_tomatoes.SITE.base_url + "/m/the_silent_river_2004")
    hints = TitleHints("movie", 1, "The Silent River", 2004, wikidata_ids=("m/silent_river", "m/the_silent_river_2004"),
                       sitemap_paths=("/m/the_silent_river_night_tide",))

    class Client:
        policy = rotten_tomatoes.SITE

    order = candidates(reservation, hints, rotten_tomatoes.SPEC.finding, rotten_tomatoes.candidate_paths, Client,
                       guessing=True)
    assert order == [("verified", "/m/the_silent_river_2004"), ("wikidata", "/m/silent_river"),
                     ("sitemap", "/m/the_silent_river_night_tide"), ("guess", "/m/the_silent_river")]
    assert [origin for origin, _ in candidates(reservation, hints, rotten_tomatoes.SPEC.finding,
                                               rotten_tomatoes.candidate_paths, Client, guessing=False)] == [
        "verified", "wikidata", "sitemap"]


def test_each_site_turns_its_wikidata_id_into_its_page_path():
    assert rotten_tomatoes.SPEC.finding.wikidata_path("m/the_dark_knight") == "/m/the_dark_knight"
    assert metacritic.SPEC.finding.wikidata_path("movie/the-dark-knight") == "/movie/the-dark-knight/"
    assert tvtropes.SPEC.finding.wikidata_path("Film/TheDarkKnight") == "/pmwiki/pmwiki.php/Film/TheDarkKnight"
    assert not tvtropes.SPEC.finding.guessing and rotten_tomatoes.SPEC.finding.guessing
