"""Lane 2: the priority sensor. Viewed, requested and trending titles are refreshed first, through the whole
per-title chain, ahead of the lane-1 sweeps.

Each tick ranks titles (``demand.rank_titles``: decayed app demand + TMDB trending + popularity, titles asked
for within 7 days left out), takes the best ``MAX_TITLES_PER_TICK``, and asks for one run per catalog partition
they fall in: TMDB details, the guessed sources, DNA, DNA vectors and the serving tables of that partition,
with the title ids in run config (each source fetches just those titles, whatever their age; a title not in
the catalog yet is fetched by id) and ``dagster/priority`` 10. The asked titles are recorded
(``priority_refreshes``) in the same tick. The cursor holds what the ranking last read (the newest event and
trending fetch): a tick with nothing new skips without ranking.
"""

from __future__ import annotations

import json
from collections import defaultdict

import dagster as dg

from goodwatch_assets.demand import demand_signature, mark_requested, rank_titles
from goodwatch_assets.partitions import CatalogPartition
from goodwatch_assets.resources import ServingDatabaseResource

MAX_TITLES_PER_TICK = 100
LANE2_TAGS = {"dagster/priority": "10", "goodwatch/lane": "priority"}
FETCHING_ASSETS = ("tmdb_details", "metacritic_scores", "rotten_tomatoes_scores", "tvtropes_tropes", "dna")
"""The chain's assets that fetch: each takes the title ids in its config."""
CHAIN = (*FETCHING_ASSETS, "dna_vectors", "movies", "tv_shows", "streaming_links", "streaming_providers")


def chain_run_config(tmdb_ids: list[int]) -> dict:
    return {"ops": {asset: {"config": {"tmdb_ids": tmdb_ids}} for asset in FETCHING_ASSETS}}


@dg.sensor(
    name="priority_sensor",
    target=dg.AssetSelection.assets(*CHAIN),
    minimum_interval_seconds=30,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description="Lane 2: titles the app's users view or request, and TMDB's trending titles, through the whole "
                "per-title chain first (run priority 10, above the lane-1 sweeps).",
)
def priority_sensor(context: dg.SensorEvaluationContext, serving_db: ServingDatabaseResource):
    db = serving_db.db
    seen = demand_signature(db)
    if context.cursor and json.loads(context.cursor).get("seen") == seen:
        return dg.SkipReason("no new demand or trending since the last tick")
    cursor = json.dumps({"seen": seen})
    titles = rank_titles(db, limit=MAX_TITLES_PER_TICK)
    if not titles:
        return dg.SensorResult(skip_reason="nothing to refresh first: every ranked title was asked for within 7 days",
                               cursor=cursor)
    by_partition: dict[str, list[int]] = defaultdict(list)
    for title in titles:
        by_partition[CatalogPartition(title.media, title.shard).key].append(title.tmdb_id)
    mark_requested(db, titles)
    requests = [dg.RunRequest(run_key=f"priority:{partition}:{seen[0]}:{seen[1]}", partition_key=partition,
                              run_config=chain_run_config(sorted(ids)), tags=LANE2_TAGS)
                for partition, ids in sorted(by_partition.items())]
    context.log.info(f"priority: {len(titles)} titles in {len(requests)} partitions; best: "
                     f"{[(t.media, t.tmdb_id, round(t.score, 2)) for t in titles[:5]]}")
    return dg.SensorResult(run_requests=requests, cursor=cursor)
