"""The main job's runs side by side: what waits for what, pools, and a failure stopping what depends on it."""

from __future__ import annotations

import re
import time
from functools import partial

import dagster as dg
import pytest

from goodwatch_assets.defs.main_job import PipelineRunFailed, plan_pipeline, run_pipeline, time_by_asset
from goodwatch_assets.defs.partitions import catalog_partitions

SLEEP_S = 0.3


def _defs(fail_at: str | None = None) -> dg.Definitions:
    @dg.asset(partitions_def=catalog_partitions, pool="tmdb_api")
    def details(context) -> None:
        time.sleep(SLEEP_S)
        if context.partition_key == fail_at:
            raise RuntimeError(f"upstream answered garbage for {fail_at}")

    @dg.asset(partitions_def=catalog_partitions, deps=[details], pool="metacritic")
    def pages(context) -> None:
        time.sleep(SLEEP_S)

    @dg.asset(partitions_def=catalog_partitions, deps=[details], pool="wikidata")
    def dna(context) -> None:
        time.sleep(SLEEP_S)

    @dg.asset(partitions_def=catalog_partitions, deps=[dna, pages], backfill_policy=dg.BackfillPolicy.single_run())
    def combined(context) -> None: ...

    @dg.asset(deps=[combined])
    def report() -> None: ...

    return dg.Definitions(assets=[details, pages, dna, combined, report])


def _step(steps, asset: str, partition: str | None = None):
    return next(s for s in steps if s.asset_keys == (dg.AssetKey(asset),) and
                (partition is None or partition in (s.catalog_keys() or ())))


def test_a_run_waits_for_its_parents_runs_of_the_same_partitions_only():
    defs = _defs()
    graph, steps = defs.resolve_asset_graph(), plan_pipeline(defs)
    pages_03 = _step(steps, "pages", "movie|03")
    assert pages_03.waits_for(_step(steps, "details", "movie|03"), graph)
    assert not pages_03.waits_for(_step(steps, "details", "movie|04"), graph)
    assert not pages_03.waits_for(_step(steps, "dna", "movie|03"), graph)  # siblings run side by side
    movies = _step(steps, "combined", "movie|07")
    assert movies.partition_range == ("movie|00", "movie|15")
    assert movies.waits_for(_step(steps, "dna", "movie|15"), graph)
    assert not movies.waits_for(_step(steps, "dna", "tv|00"), graph)  # the movies' range starts before the shows'
    assert _step(steps, "report").waits_for(movies, graph)
    assert {s.pools for s in steps if s.asset_keys == (dg.AssetKey("pages"),)} == {frozenset({"metacritic"})}
    assert sum(s.asset_keys == (dg.AssetKey("dna"),) for s in steps) == 32  # not in one run with pages


def test_runs_of_different_pools_go_side_by_side_and_one_pool_never_runs_more_than_its_limit():
    with dg.instance_for_test() as instance:
        runs = run_pipeline(_defs, instance, report=lambda _: None)
        assert len(runs) == 32 * 3 + 2 + 1 and all(run.success for run in runs)
        timing = {line.split(":")[0]: line for line in time_by_asset(runs)}
        spans = {}
        for run in runs:
            record = instance.get_run_record_by_id(run.dagster_run.run_id)
            asset = next(iter(run.dagster_run.asset_selection)).to_user_string()
            spans.setdefault(asset, []).append((record.start_time, record.end_time))

    def overlapping(a, b) -> bool:
        return a[0] < b[1] and b[0] < a[1]

    def most_at_once(runs) -> int:
        events = sorted([(start, 1) for start, _ in runs] + [(end, -1) for _, end in runs])
        at_once = [0]
        for _, change in events:
            at_once.append(at_once[-1] + change)
        return max(at_once)

    # the planned limits (none set on the instance): TMDB's API 4 runs, Metacritic and Wikidata 1
    assert most_at_once(spans["details"]) <= 4 and most_at_once(spans["pages"]) == most_at_once(spans["dna"]) == 1
    assert any(overlapping(a, b) for a in spans["pages"] for b in spans["details"])  # pages of one partition
    assert any(overlapping(a, b) for a in spans["dna"] for b in spans["pages"])  # while details of the next
    assert set(timing) == {"details", "pages", "dna", "combined", "report"}
    assert re.fullmatch(r"details: 32 runs, \d+\.\d s of runs, from 0 s to \d+ s", timing["details"])
    assert timing["report"].startswith("report: 1 run, ")


def test_a_failed_run_stops_what_depends_on_it_and_names_the_step_and_the_error():
    with dg.instance_for_test() as instance:
        with pytest.raises(PipelineRunFailed, match=r"the run of details \[movie\|02\] \(.+\) failed: RuntimeError: "
                                                     r"upstream answered garbage for movie\|02"):
            run_pipeline(partial(_defs, fail_at="movie|02"), instance, report=lambda _: None)
        launched = {(next(iter(r.asset_selection)).to_user_string(), r.tags.get("dagster/partition"))
                    for r in instance.get_runs()}
    assert ("details", "movie|02") in launched
    assert ("pages", "movie|02") not in launched and ("dna", "movie|02") not in launched
    assert not any(asset in ("combined", "report") for asset, _ in launched)
