"""The asset graph as users see it: freshness on every asset, and a snapshot of the whole graph (keys, partitions,
backfill policies, dependencies, pools, freshness, automation, checks, schedules, sensors, jobs) that shows every
change to it in review.

When the graph changes on purpose, write the new snapshot with ``GOODWATCH_UPDATE_SNAPSHOT=1 make test-fast`` and
commit it with the change.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import dagster as dg

from goodwatch_assets.definitions import defs
from goodwatch_assets.defs.freshness import freshness_policy
from goodwatch_assets.sources.registry import SOURCES
from goodwatch_assets.sources.spec import DAILY, HOURLY, MONTHLY, WEEKLY

SNAPSHOT = Path(__file__).with_name("asset_graph.txt")


def test_every_asset_has_the_freshness_of_its_source():
    expected = {
        **{spec.name: spec.freshness for spec in SOURCES},
        "tmdb_daily_export": DAILY, "tmdb_changes": DAILY, "tmdb_trending": HOURLY, "dna_vectors": MONTHLY,
        "store_inventory": DAILY, "metacritic_sitemap": WEEKLY, "rotten_tomatoes_sitemap": WEEKLY,
        **{table: DAILY for table in ("movies", "tv_shows", "streaming_links", "streaming_providers")},
    }
    specs = {s.key.to_user_string(): s for s in defs.resolve_all_asset_specs()}
    assert set(specs) == set(expected)
    for name, spec in specs.items():
        assert spec.freshness_policy == freshness_policy(expected[name]), name
    fail = {name: freshness.fail_after for name, freshness in expected.items()}
    assert fail["tmdb_daily_export"] == fail["imdb_ratings"] == fail["movies"] == timedelta(hours=30)
    assert fail["tmdb_details"] == fail["metacritic"] == timedelta(days=8)
    assert fail["dna"] == fail["tvtropes"] > fail["rotten_tomatoes"]


def _backfill(policy: dg.BackfillPolicy | None) -> str:
    if policy is None:
        return "default (a run per partition)"
    return "one run" if policy.max_partitions_per_run is None else f"{policy.max_partitions_per_run} partitions a run"


def _partitions(partitions_def) -> str:
    if partitions_def is None:
        return "none"
    if isinstance(partitions_def, dg.MultiPartitionsDefinition):
        return " x ".join(f"{d.name}({len(d.partitions_def.get_partition_keys())})" for d in partitions_def.partitions_defs)
    return f"{type(partitions_def).__name__}({partitions_def.get_first_partition_key()}..)"


def _freshness(policy) -> str:
    if policy is None:
        return "none"
    return f"warn {policy.warn_window.to_timedelta()}, fail {policy.fail_window.to_timedelta()}"


def render_graph() -> str:
    """The graph as text, one line per fact, in a stable order."""
    graph = defs.resolve_asset_graph()
    lines = []
    for key in sorted(graph.get_all_asset_keys(), key=lambda k: k.to_user_string()):
        node = graph.get(key)
        spec = next(s for s in defs.resolve_all_asset_specs() if s.key == key)
        deps = []
        for parent in sorted(node.parent_keys, key=lambda k: k.to_user_string()):
            mapping = graph.get_partition_mapping(key, parent)
            deps.append(f"{parent.to_user_string()}({type(mapping).__name__})")
        condition = node.automation_condition
        lines += [
            f"asset {key.to_user_string()}",
            f"  group {node.group_name}; kinds {sorted(node.kinds)}; pools {sorted(node.pools or [])}",
            f"  partitions {_partitions(node.partitions_def)}"
            + (f"; backfill {_backfill(node.backfill_policy)}" if node.partitions_def else ""),
            f"  deps {', '.join(deps) or 'none'}",
            f"  freshness {_freshness(spec.freshness_policy)}",
            f"  automation {condition.get_label() or type(condition).__name__ if condition else 'none'}",
        ]
        for check in sorted(node.check_keys, key=lambda k: k.name):
            lines.append(f"  check {check.name}")
    repository = defs.get_repository_def()
    for schedule in sorted(repository.schedule_defs, key=lambda s: s.name):
        lines.append(f"schedule {schedule.name}: {schedule.cron_schedule} {schedule.execution_timezone} -> "
                     f"{schedule.job_name}")
    for sensor in sorted(repository.sensor_defs, key=lambda s: s.name):
        lines.append(f"sensor {sensor.name}: {sensor.default_status.value}")
    for job in sorted(repository.get_all_jobs(), key=lambda j: j.name):
        if not job.name.startswith("__"):
            lines.append(f"job {job.name}")
    lines.append(f"resources {sorted(defs.resources)}")
    return "\n".join(lines) + "\n"


def test_the_asset_graph_is_the_reviewed_one():
    rendered = render_graph()
    if os.environ.get("GOODWATCH_UPDATE_SNAPSHOT") == "1":
        SNAPSHOT.write_text(rendered)
    assert SNAPSHOT.exists(), "no snapshot yet: run with GOODWATCH_UPDATE_SNAPSHOT=1 and commit asset_graph.txt"
    assert rendered == SNAPSHOT.read_text(), (
        "the asset graph changed: if on purpose, run with GOODWATCH_UPDATE_SNAPSHOT=1 and commit the new asset_graph.txt")
