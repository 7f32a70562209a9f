"""Lane 2: the priority sensor. Viewed, requested and trending titles are refreshed first, through the whole
per-title chain, ahead of the lane-1 sweeps.

Each tick ranks titles (``demand.rank_titles``: decayed app demand + TMDB trending + popularity; titles lane 2
refreshed within 7 days left out), takes the best ``MAX_TITLES_PER_TICK`` that score at least ``MIN_SCORE``, and
asks for one run per catalog partition they fall in: TMDB details, the page-finding sources, DNA, DNA vectors and
the serving tables of that partition, with the title ids in run config (each source fetches just those titles,
whatever their age; a title not in the catalog yet is fetched by id) and ``dagster/priority`` 10. The chain's TMDB
details record when they were refreshed (``priority_refreshes``).

The sensor writes nothing while it evaluates: what lane 2 asked for and has not refreshed yet is read from its
runs. While lane-2 runs are still queued or running a tick asks for nothing (lane 2 goes as fast as its chain:
Metacritic's 0.5 requests/s, not the app's traffic, sets the pace); the titles of a lane-2 run that failed or was
cancelled wait ``ASK_AGAIN_AFTER_FAILURE``. So a preview (``dagster sensor preview``) changes nothing, and the
titles of a tick whose runs were never submitted (a daemon restart) are asked for again. The cursor holds what the
ranking last read (the newest event and trending fetch): a tick with nothing new skips without ranking.
"""

from __future__ import annotations

import json
from collections import defaultdict
from datetime import UTC, datetime, timedelta

import dagster as dg

from goodwatch_assets.defs.dna.assets import dna_vectors
from goodwatch_assets.defs.partitions import CatalogPartition
from goodwatch_assets.defs.resources import ServingDatabaseResource
from goodwatch_assets.defs.run_resources import run_tags
from goodwatch_assets.defs.runs import unfinished_runs
from goodwatch_assets.defs.serving.assets import serving_tables
from goodwatch_assets.lib.demand import demand_signature, rank_titles
from goodwatch_assets.sources.registry import PER_TITLE_SOURCES

MAX_TITLES_PER_TICK = 100
MIN_SCORE = 0.5
"""Half a fresh view: a few search impressions alone do not jump the queue."""
LANE2_TAGS = {"dagster/priority": "10", "goodwatch/lane": "priority"}
ASK_AGAIN_AFTER_FAILURE = timedelta(hours=2)
"""The titles of a lane-2 run that failed or was cancelled wait this long: what stopped it (a site's cool-down, an
outage) usually outlasts the next tick."""
FETCHING_ASSETS = tuple(spec.name for spec in PER_TITLE_SOURCES)
"""The chain's assets that fetch (every per-title source's): each takes the title ids in its config."""
CHAIN = (*FETCHING_ASSETS, dna_vectors.key.to_user_string(), *sorted(key.to_user_string() for key in serving_tables.keys))
CHAIN_RUN_TAGS = run_tags(dna_vectors, serving_tables)
"""A chain run is sized for its largest steps (the fetching ones are smaller)."""


def chain_run_config(tmdb_ids: list[int]) -> dict:
    return {"ops": {asset: {"config": {"tmdb_ids": tmdb_ids}} for asset in FETCHING_ASSETS}}


def failed_recently(instance: dg.DagsterInstance, now: datetime) -> set[tuple[str, int]]:
    """(media, TMDB id) of the titles lane-2 runs created within ``ASK_AGAIN_AFTER_FAILURE`` asked for and did not
    finish: read from the runs' partition and config."""
    runs = instance.get_runs(dg.RunsFilter(tags=LANE2_TAGS, created_after=now - ASK_AGAIN_AFTER_FAILURE,
                                           statuses=[dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED]))
    titles = set()
    for run in runs:
        partition = run.tags.get("dagster/partition")
        if partition is None:
            continue
        media = CatalogPartition.from_key(partition).media
        for op in (run.run_config or {}).get("ops", {}).values():
            titles.update((media, tmdb_id) for tmdb_id in op.get("config", {}).get("tmdb_ids", ()))
    return titles


@dg.sensor(
    name="priority_sensor",
    target=dg.AssetSelection.assets(*CHAIN),
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Lane 2: titles the app's users view or request, and TMDB's trending titles, through the whole "
                "per-title chain first (run priority 10, above the lane-1 sweeps).",
)
def priority_sensor(context: dg.SensorEvaluationContext, serving_db: ServingDatabaseResource):
    under_way = unfinished_runs(context.instance, {"goodwatch/lane": LANE2_TAGS["goodwatch/lane"]})
    if under_way:  # lane 2 goes as fast as its chain: the next titles wait for the runs asked for before
        return dg.SkipReason(f"{under_way} lane-2 runs still queued or running")
    db = serving_db.db
    seen = demand_signature(db)
    if context.cursor and json.loads(context.cursor).get("seen") == seen:
        return dg.SkipReason("no new demand or trending since the last tick")
    cursor = json.dumps({"seen": seen})
    failed = failed_recently(context.instance, datetime.now(UTC))
    titles = rank_titles(db, limit=MAX_TITLES_PER_TICK, min_score=MIN_SCORE, leave_out=failed)
    if not titles:
        return dg.SensorResult(skip_reason="nothing to refresh first: no title scores high enough that lane 2 has "
                               f"not refreshed within 7 days ({len(failed)} titles of failed lane-2 runs wait "
                               f"{ASK_AGAIN_AFTER_FAILURE})", cursor=cursor)
    by_partition: dict[str, list[int]] = defaultdict(list)
    for title in titles:
        by_partition[CatalogPartition(title.media, title.shard).key].append(title.tmdb_id)
    requests = [dg.RunRequest(run_key=f"priority:{partition}:{seen[0]}:{seen[1]}", partition_key=partition,
                              run_config=chain_run_config(sorted(ids)), tags={**LANE2_TAGS, **CHAIN_RUN_TAGS})
                for partition, ids in sorted(by_partition.items())]
    context.log.info(f"priority: {len(titles)} titles in {len(requests)} partitions; best: "
                     f"{[(t.media, t.tmdb_id, round(t.score, 2)) for t in titles[:5]]}")
    return dg.SensorResult(run_requests=requests, cursor=cursor)
