"""Automation: schedules and their budgets, pools and the pace they give a run, demand recording, and the priority
sensor (with ``build_sensor_context``)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import dagster as dg
import pytest

from goodwatch_assets.definitions import defs
from goodwatch_assets.defs.partitions import CatalogPartition
from goodwatch_assets.defs.pools import POOL_LIMITS, apply_pool_limits
from goodwatch_assets.defs.priority.sensor import (
    ASK_AGAIN_AFTER_FAILURE,
    CHAIN,
    CHAIN_RUN_TAGS,
    LANE2_TAGS,
    chain_run_config,
    failed_recently,
    priority_sensor,
)
from goodwatch_assets.defs.resources import build_resources
from goodwatch_assets.defs.runs import LANE1_TAGS
from goodwatch_assets.defs.sweeps import sweep_budget
from goodwatch_assets.lib.demand import (
    DemandError,
    mark_refreshed,
    rank_titles,
    record_event,
    record_events,
    store_trending,
)
from goodwatch_assets.models.shards import shard_of
from goodwatch_assets.sources import metacritic, tmdb
from goodwatch_assets.sources.registry import PER_TITLE_SOURCES
from goodwatch_assets_tests.helpers import replica_resources, requested, run_cli

# Resolved once, outside any test instance (a repository resolved inside one keeps a reference to it).
REPOSITORY = defs.get_repository_def()


def tick(db, cursor: str | None = None):
    with dg.instance_for_test() as instance:
        context = dg.build_sensor_context(instance=instance, cursor=cursor,
                                          resources={"serving_db": build_resources()["serving_db"]})
        return priority_sensor(context), context


# -- the tables in code ---------------------------------------------------------------------------------------------

def pace_of(site, instance, resources=None) -> float:
    """The rate one run of the site paces at, on this instance."""
    resources = resources or replica_resources("http://127.0.0.1:9", {site.name: site.requests_per_second})
    with dg.build_resources({"fetch": resources["fetch"]}, instance=instance) as initialized:
        return initialized.fetch.run_policy(site).requests_per_second


def test_every_pool_has_a_limit_and_a_run_paces_at_its_share_of_the_rate():
    pools = {pool for assets in defs.assets for pool in assets.op.pools}
    assert pools == set(POOL_LIMITS)
    mc = metacritic.SPEC.site
    with dg.instance_for_test() as instance:  # an instance that limits no pool: the planned limits are assumed
        assert pace_of(tmdb.API, instance) == 40 / POOL_LIMITS["tmdb_api"]
        assert pace_of(mc, instance) == mc.requests_per_second
    with dg.instance_for_test() as instance:
        assert apply_pool_limits(instance) == POOL_LIMITS
        assert instance.event_log_storage.get_concurrency_info("tmdb_api").slot_count == 4


def test_a_run_paces_at_the_share_the_pool_limit_set_on_the_instance_gives_it():
    """Before ``goodwatch pools apply`` a pool has the instance's default limit (1: one run at the whole rate, not a
    quarter of it); a limit raised in the UI splits the rate among more runs, so together they never exceed it."""
    with dg.instance_for_test(overrides={"concurrency": {"pools": {"default_limit": 1}}}) as instance:
        assert pace_of(tmdb.API, instance) == 40  # not applied yet: the one run it allows gets the whole rate
        apply_pool_limits(instance)
        assert pace_of(tmdb.API, instance) == 10
        instance.event_log_storage.set_concurrency_slots(tmdb.API.name, 8)  # as the UI would set it
        assert pace_of(tmdb.API, instance) == 5


def test_a_sweep_asks_for_every_partition_within_the_sources_rate():
    schedules = {s.name: s for s in REPOSITORY.schedule_defs}
    assert {f"{spec.name}_sweep" for spec in PER_TITLE_SOURCES} <= set(schedules)
    sweep = schedules["metacritic_sweep"]
    at = datetime(2026, 12, 1, 3, 10, tzinfo=UTC)
    # The context is closed before its instance: left open, it would leave the disposed instance's definitions state as
    # Dagster's current one, for every later load of definitions in this process.
    with dg.instance_for_test() as instance, dg.build_schedule_context(
            instance=instance, repository_def=REPOSITORY, scheduled_execution_time=at) as context:
        requests = list(sweep.evaluate_tick(context).run_requests)
        instance.add_run(dg.DagsterRun(job_name="__ASSET_JOB", run_id="b" * 32, status=dg.DagsterRunStatus.STARTED,
                                       tags=requests[0].tags))
        behind = sweep.evaluate_tick(context)
    budget = sweep_budget(0.5, timedelta(hours=1), requests_per_title=1.5)
    assert budget == 30  # 32 runs x 30 titles x 1.5 requests at 0.5 requests/s take 48 of the hour's 60 minutes
    assert len(requests) == 32 and len({r.partition_key for r in requests}) == 32
    assert all(r.run_config == {"ops": {"metacritic": {"config": {"max_items": budget}}}} for r in requests)
    assert all(LANE1_TAGS.items() <= r.tags.items() for r in requests) and int(LANE1_TAGS["dagster/priority"]) < int(
        LANE2_TAGS["dagster/priority"])
    assert not behind.run_requests and "still queued or running" in behind.skip_message  # the last tick is not done


def test_the_daily_files_are_asked_for_after_publication_and_serving_is_reconciled_daily():
    schedules = {s.name: s for s in REPOSITORY.schedule_defs}
    assert schedules["tmdb_daily_export_daily_schedule"].cron_schedule == "0 9 * * *"
    context = dg.build_schedule_context(repository_def=REPOSITORY, scheduled_execution_time=datetime(2026, 12, 2, 9, 0,
                                                                                                   tzinfo=UTC))
    (request,) = schedules["tmdb_daily_export_daily_schedule"].evaluate_tick(context).run_requests
    assert request.partition_key == "2026-12-01"
    reconcile = list(schedules["serving_reconcile"].evaluate_tick(context).run_requests)
    assert [(r.tags["dagster/asset_partition_range_start"], r.tags["dagster/asset_partition_range_end"])
            for r in reconcile] == [("movie|00", "movie|15"), ("tv|00", "tv|15")]  # one run per media type
    assert all(r.run_config in (None, {}) and LANE1_TAGS.items() <= r.tags.items() for r in reconcile)
    (changes,) = schedules["tmdb_changes_daily_schedule"].evaluate_tick(context).run_requests
    assert changes.partition_key == "2026-12-01" and schedules["tmdb_changes_daily_schedule"].cron_schedule == "0 1 * * *"


def test_wikidata_ids_and_sitemaps_are_read_weekly_before_the_page_sources():
    schedules = {s.name: s for s in REPOSITORY.schedule_defs}
    monday = dg.build_schedule_context(repository_def=REPOSITORY,
                                       scheduled_execution_time=datetime(2026, 11, 30, 3, 0, tzinfo=UTC))
    wikidata = list(schedules["wikidata_ids_weekly"].evaluate_tick(monday).run_requests)
    assert len({r.partition_key for r in wikidata}) == 32 and all(LANE1_TAGS.items() <= r.tags.items() for r in wikidata)
    assert schedules["sitemaps_weekly"].cron_schedule == "0 2 * * 1"
    graph = REPOSITORY.asset_graph
    for source, sitemap in (("rotten_tomatoes", True), ("metacritic", True), ("tvtropes", False)):
        parents = {key.to_user_string() for key in graph.get(dg.AssetKey(source)).parent_keys}
        assert parents == {"tmdb_details", "wikidata_ids"} | ({f"{source}_sitemap"} if sitemap else set()), source


# -- demand ---------------------------------------------------------------------------------------------------------

def test_events_are_recorded_from_python_and_the_command_line(demand_db):
    record_event(demand_db, "movie", 11, "view")
    result = run_cli("record-view", "tv", "1399", "--kind", "request")
    assert result.returncode == 0, result.stderr
    with demand_db.connect() as conn:
        rows = conn.execute("SELECT media, tmdb_id, kind FROM title_events ORDER BY id").fetchall()
    assert rows == [("movie", 11, "view"), ("tv", 1399, "request")]
    with pytest.raises(DemandError, match="event kind must be one of"):
        record_event(demand_db, "movie", 11, "like")
    refused = run_cli("record-view", "book", "3")
    assert refused.returncode == 2 and "book" in refused.stderr


def test_demand_decays_and_a_request_for_an_unknown_title_counts_heavily(demand_db):
    now = datetime.now(UTC)
    record_events(demand_db, [("movie", 1, "view")] * 3, at=now - timedelta(days=6))  # 3 views two half-lives ago
    record_events(demand_db, [("movie", 2, "view")], at=now)
    record_events(demand_db, [("movie", 3, "request")], at=now)
    record_events(demand_db, [("movie", 4, "impression")] * 5, at=now)
    ranked = rank_titles(demand_db, limit=10, now=now)
    assert [t.tmdb_id for t in ranked] == [3, 2, 1, 4]
    assert ranked[2].demand == pytest.approx(0.75, rel=1e-3)


# -- the priority sensor --------------------------------------------------------------------------------------------

def test_the_next_tick_asks_for_exactly_the_viewed_and_trending_titles_above_lane_one(demand_db):
    viewed = [("movie", 101), ("movie", 202), ("tv", 303), ("movie", 404), ("tv", 505)]
    record_events(demand_db, [(media, tmdb_id, "view") for media, tmdb_id in viewed])
    store_trending(demand_db, {("movie", "day"): [(9001, 80.0), (9002, 40.0)], ("tv", "week"): [(9003, 12.0)]})
    result, _ = tick(demand_db)
    titles = requested(result)
    assert set(titles) == set(viewed) | {("movie", 9001), ("movie", 9002), ("tv", 9003)}
    assert all(tags == {**LANE2_TAGS, **CHAIN_RUN_TAGS} for tags in titles.values())
    assert int(LANE2_TAGS["dagster/priority"]) > int(LANE1_TAGS["dagster/priority"])
    assert len(result.run_requests) == len({CatalogPartition(m, shard_of(i)).key for m, i in titles})
    job = REPOSITORY.get_job(REPOSITORY.get_sensor_def("priority_sensor").job_name)
    assert {key.to_user_string() for key in job.asset_layer.selected_asset_keys} == set(CHAIN)


def test_two_ticks_without_new_demand_ask_for_nothing_new_and_refreshed_titles_wait_seven_days(demand_db):
    record_events(demand_db, [("movie", 7, "view"), ("tv", 8, "view")])
    first, _ = tick(demand_db)
    assert set(requested(first)) == {("movie", 7), ("tv", 8)}
    second, _ = tick(demand_db, cursor=first.cursor)
    assert isinstance(second, dg.SkipReason) and "no new demand" in second.skip_message

    mark_refreshed(demand_db, [("movie", 7), ("tv", 8)])  # what the first tick's chain records as it fetches
    record_events(demand_db, [("movie", 7, "view"), ("movie", 70, "view")])
    third, _ = tick(demand_db, cursor=first.cursor)
    assert set(requested(third)) == {("movie", 70)}
    mark_refreshed(demand_db, [("movie", 70)])
    with demand_db.connect() as conn:  # eight days later, 7 may be asked for again
        conn.execute("UPDATE priority_refreshes SET refreshed_at = now() - interval '8 days' WHERE tmdb_id = 7")
    record_events(demand_db, [("movie", 7, "view")])
    fourth, _ = tick(demand_db, cursor=third.cursor)
    assert set(requested(fourth)) == {("movie", 7)}


def test_a_title_refreshed_by_the_lane_waits_seven_days_and_one_left_out_waits_while_left_out(demand_db):
    record_events(demand_db, [("movie", 31, "view"), ("movie", 32, "view")])
    now = datetime.now(UTC)
    mark_refreshed(demand_db, [("movie", 31)], now=now - timedelta(days=6))
    assert [t.tmdb_id for t in rank_titles(demand_db, limit=10, now=now)] == [32]  # 31 was refreshed 6 days ago
    assert rank_titles(demand_db, limit=10, now=now, leave_out={("movie", 32), ("tv", 31)}) == []
    later = now + timedelta(days=1, hours=2)  # 31 refreshed 7 days ago
    assert sorted(t.tmdb_id for t in rank_titles(demand_db, limit=10, now=later)) == [31, 32]


def priority_tables(db) -> list:
    """Everything the ranking reads and lane 2 records, to compare before and after a tick."""
    with db.connect() as conn:
        return [conn.execute(f"SELECT * FROM {table} ORDER BY 1, 2, 3").fetchall()
                for table in ("priority_refreshes", "title_events", "trending_titles")]


def test_a_preview_changes_nothing_and_the_titles_of_a_tick_never_submitted_are_asked_for_again(demand_db):
    record_events(demand_db, [("movie", 61, "view"), ("tv", 62, "request")])
    store_trending(demand_db, {("movie", "day"): [(63, 50.0)]})
    before = priority_tables(demand_db)
    preview, _ = tick(demand_db)  # `dagster sensor preview` evaluates the sensor the same way, and launches nothing
    assert set(requested(preview)) == {("movie", 61), ("tv", 62), ("movie", 63)}
    assert priority_tables(demand_db) == before
    # A tick whose runs were never submitted (the daemon restarted) committed no cursor either: the next tick asks
    # for the same titles.
    again, _ = tick(demand_db)
    assert requested(again) == requested(preview)
    assert [r.run_key for r in again.run_requests] == [r.run_key for r in preview.run_requests]


def test_the_titles_of_a_failed_lane_two_run_wait_two_hours_and_the_others_are_asked_for(demand_db):
    record_events(demand_db, [("movie", 64, "view"), ("movie", 65, "view"), ("tv", 64, "view")])
    partition = CatalogPartition("movie", shard_of(64)).key
    with dg.instance_for_test() as instance:
        instance.add_run(dg.DagsterRun(job_name="__anonymous_asset_job_priority_sensor", run_id="f" * 32,
                                       status=dg.DagsterRunStatus.FAILURE,
                                       tags={**LANE2_TAGS, "dagster/partition": partition},
                                       run_config=chain_run_config([64])))
        context = dg.build_sensor_context(instance=instance, resources={"serving_db": build_resources()["serving_db"]})
        result = priority_sensor(context)
        assert set(requested(result)) == {("movie", 65), ("tv", 64)}  # the same id in the other media is asked for
        now = datetime.now(UTC)
        assert failed_recently(instance, now) == {("movie", 64)}
        assert failed_recently(instance, now + ASK_AGAIN_AFTER_FAILURE + timedelta(minutes=1)) == set()


def test_impressions_alone_do_not_jump_the_queue_and_runs_under_way_hold_the_next_tick(demand_db):
    record_events(demand_db, [("movie", 41, "impression")] * 3)
    result, _ = tick(demand_db)
    assert not result.run_requests  # 0.3 < MIN_SCORE
    record_events(demand_db, [("movie", 42, "view")])
    with dg.instance_for_test() as instance:
        instance.add_run(dg.DagsterRun(job_name="__anonymous_asset_job_priority_sensor", run_id="a" * 32,
                                       status=dg.DagsterRunStatus.STARTED, tags=LANE2_TAGS))
        context = dg.build_sensor_context(instance=instance, resources={"serving_db": build_resources()["serving_db"]})
        held = priority_sensor(context)
    assert isinstance(held, dg.SkipReason) and "1 lane-2 runs still queued or running" in held.skip_message
    result, _ = tick(demand_db)
    assert set(requested(result)) == {("movie", 42)}


def test_a_tick_with_only_recently_refreshed_titles_asks_for_nothing(demand_db):
    record_events(demand_db, [("movie", 5, "view")])
    mark_refreshed(demand_db, [(t.media, t.tmdb_id) for t in rank_titles(demand_db, limit=10)])
    result, _ = tick(demand_db)
    assert not result.run_requests and "refreshed within 7 days" in result.skip_reason.skip_message
    assert json.loads(result.cursor)["seen"][0] is not None
