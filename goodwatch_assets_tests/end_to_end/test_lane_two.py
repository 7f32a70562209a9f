"""Lane 2 through the whole chain against the replica: viewed and requested titles, never fetched before, reach the
serving tables through one tick of the priority sensor."""

from __future__ import annotations

import dagster as dg

from goodwatch_assets.defs.dna.assets import dna, dna_vectors
from goodwatch_assets.defs.priority.sensor import CHAIN, priority_sensor
from goodwatch_assets.defs.serving.assets import serving_tables
from goodwatch_assets.defs.sources.assets import PER_TITLE_ASSETS, imdb_ratings, tmdb_daily_export
from goodwatch_assets.lib.demand import record_events
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.helpers import DAY, clear_serving, replica_resources, requested, row_of


def test_viewed_titles_never_fetched_reach_the_serving_tables_through_one_tick(demand_db, clean_serving_db):
    clear_serving(clean_serving_db)
    catalog = SyntheticCatalog(400, seed=31)
    in_export = [e for e in catalog.entries if e.in_export(DAY)]
    not_yet = next(e for e in catalog.entries if not e.in_export(DAY))  # not in the export: unknown to the catalog
    wanted = [in_export[3], in_export[50], in_export[-1], not_yet]
    assets = [tmdb_daily_export, imdb_ratings, *PER_TITLE_ASSETS.values(), dna, dna_vectors, serving_tables]
    store = PostgresDocumentStore(clean_serving_db)
    with ReplicaServer(Replica(catalog)) as server, dg.instance_for_test() as instance:
        resources = replica_resources(server.url)
        assert dg.materialize([tmdb_daily_export], partition_key=DAY.isoformat(), resources=resources,
                              instance=instance).success  # the catalog is known; no title was fetched yet
        assert store.count_by_status("tmdb_details") == {"pending": len(in_export)}
        record_events(demand_db, [(e.media, e.tmdb_id, "view") for e in wanted[:3]] + [
            (not_yet.media, not_yet.tmdb_id, "request")])
        context = dg.build_sensor_context(instance=instance, resources={"serving_db": resources["serving_db"]})
        result = priority_sensor(context)
        assert set(requested(result)) == {(e.media, e.tmdb_id) for e in wanted}
        for request in result.run_requests:  # what the daemon would launch, run here in process
            run = dg.materialize(assets, selection=CHAIN, partition_key=request.partition_key, run_config=request.run_config,
                                 tags=request.tags, resources=resources, instance=instance)
            assert run.success
    fetched = store.count_by_status("tmdb_details")
    assert fetched == {"ok": len(wanted), "pending": len(in_export) - len(wanted) + 1}  # only the asked titles
    for entry in wanted:
        row = row_of(clean_serving_db, entry.media, entry.tmdb_id)
        assert row is not None and row["title"] == entry.title and row["release_year"] == entry.year, entry
    with clean_serving_db.connect() as conn:
        refreshed = conn.execute("SELECT media, tmdb_id FROM priority_refreshes WHERE refreshed_at IS NOT NULL"
                                 ).fetchall()
    assert set(refreshed) == {(e.media, e.tmdb_id) for e in wanted}  # the chain recorded its refreshes
    described = [e for e in wanted if row_of(clean_serving_db, e.media, e.tmdb_id)["dna_label_ids"]]
    assert len(described) >= 3  # DNA and its labels came with the chain (the model does not know 1% of titles)
    store.close()
