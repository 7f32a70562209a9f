"""The serving tables' checks, run by the combine over the partitions it wrote: a percentage outside 0-100 fails the
blocking check (the run fails after its rows are written, and nothing downstream runs in it)."""

from __future__ import annotations

import dagster as dg

from goodwatch_assets.defs.partitions import CatalogPartition
from goodwatch_assets.defs.resources import build_resources
from goodwatch_assets.defs.serving.assets import serving_tables
from goodwatch_assets.lib.synth import synthesize
from goodwatch_assets.models.shards import shard_of
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore


def combine(partition: str) -> dg.ExecuteInProcessResult:
    resources = build_resources()
    with dg.instance_for_test() as instance:
        return dg.materialize([serving_tables], partition_key=partition, raise_on_error=False, instance=instance,
                              resources={"documents": resources["documents"], "serving_db": resources["serving_db"]})


def test_the_combine_checks_its_partitions_and_a_score_outside_0_100_fails_the_run(serving_tables_db):
    store = PostgresDocumentStore(serving_tables_db)
    synthesize(store, movies=300, shows=60, links=1_000)
    partition = CatalogPartition("movie", shard_of(7)).key
    first = combine(partition)
    assert first.success
    results = {(e.asset_key.to_user_string(), e.check_name): e for e in first.get_asset_check_evaluations()}
    assert set(results) == {(t, c) for t in ("movies", "tv_shows") for c in ("percents_in_range",
                                                                             "rows_cover_the_catalog")}
    movies = results[("movies", "percents_in_range")]
    assert movies.passed and movies.metadata["rows"].value > 0 and movies.metadata["shards"].value == 1
    assert results[("tv_shows", "percents_in_range")].metadata["shards"].value == 0  # no TV partition in this run
    covered = results[("movies", "rows_cover_the_catalog")]
    assert covered.passed and covered.metadata["rows"].value == covered.metadata["titles_with_details"].value

    with serving_tables_db.connect() as conn:  # what a broken formula would write
        conn.execute("UPDATE movies SET aggregated_overall_score_normalized_percent = 140 WHERE tmdb_id = 7")
    second = combine(partition)
    assert not second.success  # the blocking check failed the step
    (broken,) = [e for e in second.get_asset_check_evaluations() if not e.passed]
    assert (broken.check_name, broken.metadata["outside"].value, broken.metadata["examples"].value) == (
        "percents_in_range", 1, "movie 7")
    store.close()
