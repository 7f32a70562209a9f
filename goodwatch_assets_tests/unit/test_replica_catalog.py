"""The replica's synthetic catalog and the sites' slug rules, without serving them."""

from __future__ import annotations

import re
import statistics

import pytest

from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.title_pages import title_page_sites
from goodwatch_assets.replica.truth import title_truth
from goodwatch_assets.sources import metacritic, rotten_tomatoes, tvtropes


@pytest.fixture(scope="module")
def catalog() -> SyntheticCatalog:
    return SyntheticCatalog(2000, seed=11)


def test_the_catalog_has_a_realistic_shape(catalog):
    entries = catalog.entries
    movies = [e for e in entries if e.media == "movie"]
    assert 0.8 < len(movies) / len(entries) < 0.86
    popularity = sorted((e.popularity for e in entries), reverse=True)
    assert popularity[0] > 20 * statistics.median(popularity)  # power law: a few titles dominate
    years = [e.year for e in entries]
    assert min(years) >= 1920 and max(years) == 2026 and min(years) < 1960
    assert any(not e.original_title.isascii() for e in entries)
    assert any(not e.title.isascii() for e in entries)
    assert sum(e.remake_of is not None for e in entries) >= 20
    details = [catalog.details(e) for e in entries]
    assert 0.04 < sum(d.imdb_id is None for d in details) / len(details) < 0.13
    assert 0.2 < sum("rotten_tomatoes" not in d.pages for d in details) / len(details) < 0.4
    assert 0.35 < sum("metacritic" not in d.pages for d in details) / len(details) < 0.6
    assert any(d.pages.get("tvtropes", {}).get("subpages") for d in details)
    assert any(e.deleted_on for e in entries) and any(e.added_on for e in entries)


def test_colliding_titles_get_year_suffixed_urls(catalog):
    """The slug trap: the oldest title owns the bare slug, later ones carry their year."""
    pages = {}
    for entry in catalog.entries:
        page = catalog.page("rotten_tomatoes", entry)
        if page:
            pages.setdefault((entry.media, rotten_tomatoes.slug(page.page_title)), []).append(page)
    collided = [group for group in pages.values() if len(group) > 1]
    assert len(collided) > 20
    for group in collided:
        bare = [p for p in group if not re.search(r"_\d{4}(_\d+)?$", p.path)]
        assert len(bare) == 1 and bare[0].page_year == min(p.page_year for p in group)


def test_the_same_seed_gives_the_same_titles_whatever_the_catalog_size(catalog):
    small = SyntheticCatalog(500, seed=11)

    def values(truth):  # everything but which same-slug title owns the bare URL
        for site in title_page_sites():
            if truth[site.name]:
                truth[site.name] = {k: v for k, v in truth[site.name].items() if k != "path"}
        return truth

    assert [values(title_truth(small, e)) for e in small.entries] == [
        values(title_truth(catalog, e)) for e in catalog.entries[:500]
    ]
    other = SyntheticCatalog(500, seed=12)
    assert [e.title for e in other.entries[:50]] != [e.title for e in small.entries[:50]]


def test_slug_rules_of_each_site():
    assert rotten_tomatoes.slug("Amélie's Garden & the River: Part 2") == "amelies_garden_and_the_river_part_2"
    assert metacritic.slug("The Dark Knight") == "the-dark-knight"
    assert tvtropes.slug("Game of Thrones") == "GameOfThrones"
    assert rotten_tomatoes.slug("Тихая река") == ""
