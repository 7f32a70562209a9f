"""Title search by name (pg_trgm + unaccent): typos, accents, original titles and media."""

from __future__ import annotations

import pytest

from goodwatch_assets.lib.title_search import find_titles
from goodwatch_assets_tests.helpers import run_cli

TITLES = [  # media, tmdb_id, title, original title, year, popularity
    ("movie", 990194, "Amélie", "Le Fabuleux Destin d'Amélie Poulain", 2001, 40.0),
    ("movie", 990195, "Amelia", None, 2009, 9.0),
    ("movie", 990550, "Fight Club", None, 1999, 80.0),
    ("tv", 991396, "Breaking Bad", None, 2008, 300.0),
    ("tv", 990042, "Три сестры", None, 1994, 1.0),
]


@pytest.fixture
def catalog(serving_db):
    with serving_db.connect() as conn:
        for media, tmdb_id, title, original, year, popularity in TITLES:
            conn.execute(f"INSERT INTO {'movies' if media == 'movie' else 'tv_shows'} "
                         "(tmdb_id, shard, title, original_title, release_year, popularity) VALUES (%s, 0, %s, %s, %s, %s)",
                         (tmdb_id, title, original, year, popularity))
    yield serving_db
    with serving_db.connect() as conn:
        for table in ("movies", "tv_shows"):
            conn.execute(f"DELETE FROM {table} WHERE tmdb_id = ANY(%s)", ([t[1] for t in TITLES],))


def ids(matches) -> list[int]:
    return [m.tmdb_id for m in matches]


@pytest.mark.parametrize("asked", ["amelie", "AMÉLIE", "Amelei", "fabuleux destin", "le fabuleux destn d amelie"])
def test_a_title_is_found_without_its_accents_with_a_typo_or_by_its_original_title(catalog, asked):
    assert ids(find_titles(catalog, asked))[0] == 990194


def test_the_closest_name_comes_first_and_an_unrelated_title_never_comes(catalog):
    matches = find_titles(catalog, "amelia")
    assert ids(matches)[0] == 990195 and 990550 not in ids(matches)
    assert matches[0].similarity == pytest.approx(1.0)
    assert find_titles(catalog, "zzzz qqqq") == []


def test_media_narrows_and_titles_in_other_scripts_are_found(catalog):
    assert ids(find_titles(catalog, "breakng bad", media="tv")) == [991396]
    assert find_titles(catalog, "breaking bad", media="movie") == []
    assert ids(find_titles(catalog, "три сестры")) == [990042]


def test_the_cli_prints_each_match_with_the_ids_the_other_commands_take(catalog, embedded_data_dir):
    found = run_cli("search", "title", "Fight Clb", GOODWATCH_DATA_DIR=str(embedded_data_dir))
    assert found.returncode == 0, found.stderr
    first = found.stdout.splitlines()[0].split()
    assert first[:6] == ["movie", "990550", "Fight", "Club", "(1999)", "similarity"] and 0.5 <= float(first[6]) < 1
