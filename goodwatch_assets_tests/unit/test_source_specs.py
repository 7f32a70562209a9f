"""The source specs: one name per source, every registry derived from them, and specs that contradict each other
refused when the code location loads."""

from __future__ import annotations

import re
from dataclasses import replace

import pytest

from goodwatch_assets.definitions import defs
from goodwatch_assets.defs.pools import POOL_LIMITS
from goodwatch_assets.defs.priority.sensor import FETCHING_ASSETS
from goodwatch_assets.sources import dna, imdb, metacritic, registry, rotten_tomatoes, tmdb, tvtropes
from goodwatch_assets.sources.registry import PER_TITLE_SOURCES, SITES, SOURCES, SpecError
from goodwatch_assets.sources.spec import Feed
from goodwatch_assets.stores.serving_columns import OVERALL, USER_AND_OFFICIAL, columns_of
from goodwatch_assets_tests.helpers import GOODWATCH_OFFICIAL_SCORES, GOODWATCH_USER_SCORES, PROJECT

MIGRATIONS = PROJECT / "goodwatch_assets" / "stores" / "migrations"


def test_every_source_module_is_found_in_feed_order():
    names = [spec.name for spec in SOURCES]
    assert {"imdb_ratings", "tmdb_details", "dna", "metacritic", "rotten_tomatoes", "tvtropes"} <= set(names)
    for spec in SOURCES:  # a source comes after the one that feeds it
        assert spec.fed_by is None or names.index(spec.fed_by.source) < names.index(spec.name), spec.name
    assert {"tmdb_files", "tmdb_api", "imdb_datasets", "metacritic", "rotten_tomatoes", "tvtropes", "llm"} <= {
        site.name for site in SITES}
    assert {"dna", "metacritic", "rotten_tomatoes", "tvtropes"} <= {spec.name for spec in registry.fed_by(tmdb.SPEC.name)}


def test_a_source_has_one_name_everywhere():
    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    for spec in SOURCES:
        assert re.fullmatch(r"[a-z][a-z0-9_]*", spec.name), spec.name
        assert spec.name in specs, f"{spec.name} has no asset of its name"
        assert spec.site.name in POOL_LIMITS  # its pool is its site's
    assert {asset.op.pools.copy().pop() for asset in defs.assets if asset.op.pools} <= set(POOL_LIMITS)
    assert set(FETCHING_ASSETS) == {spec.name for spec in PER_TITLE_SOURCES}
    for module in (metacritic, rotten_tomatoes, tvtropes):  # a guessed-URL site is named after its source
        assert module.SPEC.site.name == module.SPEC.name


def test_the_goodwatch_aggregates_read_every_score_they_always_read():
    user = {pair for spec in SOURCES if spec.serving for pair in spec.serving.user_scores}
    official = {pair for spec in SOURCES if spec.serving for pair in spec.serving.official_scores}
    assert set(GOODWATCH_USER_SCORES) <= user and set(GOODWATCH_OFFICIAL_SCORES) <= official
    for percent, count in (*GOODWATCH_USER_SCORES, *GOODWATCH_OFFICIAL_SCORES):
        assert f"coalesce({percent}, 0)" in " ".join(USER_AND_OFFICIAL.values())
        assert count in USER_AND_OFFICIAL["aggregated_user_score_rating_count"] + \
            USER_AND_OFFICIAL["aggregated_official_score_review_count"]
    assert set(OVERALL) == {"aggregated_overall_score_normalized_percent", "aggregated_overall_score_voting_count"}


def test_every_serving_column_a_spec_gives_is_created_by_a_migration():
    created = " ".join(path.read_text() for path in sorted(MIGRATIONS.glob("*.sql")))
    for media in ("movie", "tv"):
        for column in columns_of(media):
            assert re.search(rf"\b{column.name}\b", created), f"no migration creates {column.name}"
    names = [c.name for c in columns_of("movie")]
    assert len(names) == len(set(names))
    assert {f"{spec.name}_updated_at" for spec in SOURCES if spec.serving} <= set(names)
    assert "number_of_seasons" in {c.name for c in columns_of("tv")} - set(names)  # a TV column only in tv_shows


def test_specs_that_contradict_each_other_are_refused():
    twice = replace(metacritic.SPEC, serving=None)
    with pytest.raises(SpecError, match=r"source names \['metacritic'\] declared twice"):
        registry.check_specs((*SOURCES, twice), SITES)
    from_nowhere = replace(dna.SPEC, name="dna_again", serving=None, fed_by=Feed("no_such_source"))
    with pytest.raises(SpecError, match=r"\['dna_again'\] are fed by a source that is not a spec"):
        registry.in_feed_order([*SOURCES, from_nowhere])
    alias = replace(imdb.SPEC, name="imdb_again", serving=replace(imdb.SPEC.serving, columns=()))
    with pytest.raises(SpecError, match=r"serving aliases \['i'\] declared twice"):
        registry.check_specs((*SOURCES, alias), SITES)
    swept_file = replace(imdb.SPEC, name="imdb_swept", serving=None, sweep=tvtropes.SPEC.sweep)
    with pytest.raises(SpecError, match="a sweep needs a per-title source"):
        registry.check_specs((swept_file,), SITES)
