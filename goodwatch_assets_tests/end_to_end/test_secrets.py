"""Secrets never reach logs, event records, run records, compute logs or output."""

from __future__ import annotations

import logging

import dagster as dg

from goodwatch_assets.defs.dna.assets import dna
from goodwatch_assets.defs.sources.assets import PER_TITLE_ASSETS, tmdb_daily_export
from goodwatch_assets.replica.catalog import SyntheticCatalog
from goodwatch_assets.replica.server import Replica, ReplicaServer
from goodwatch_assets.sources import dna as dna_source
from goodwatch_assets.sources import tmdb
from goodwatch_assets_tests.helpers import DAY, replica_resources

# -- secrets --------------------------------------------------------------------------------------------------------

def test_a_recognisable_key_never_reaches_logs_events_or_run_metadata(clean_serving_db, monkeypatch, tmp_path, capfd):
    """The keys are in the environment, where ``dagster.EnvVar`` reads them at launch."""
    tmdb_key, llm_key = "tmdbkey-RECOGNISABLE-4242", "sk-RECOGNISABLE-llm-4242"
    monkeypatch.setenv("TMDB_API_KEY", tmdb_key)
    monkeypatch.setenv("LLM_API_KEY", llm_key)
    seen = []

    class Everything(logging.Handler):
        def emit(self, record):
            seen.append(self.format(record))

    (tmp_path / "instance").mkdir()
    handler = Everything(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    previous = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        with ReplicaServer(Replica(SyntheticCatalog(60, seed=71))) as server, dg.instance_for_test(
                temp_dir=str(tmp_path / "instance")) as instance:
            resources = replica_resources(server.url)
            results = [dg.materialize([tmdb_daily_export], partition_key=DAY.isoformat(), resources=resources,
                                      instance=instance)]
            for asset in (PER_TITLE_ASSETS[tmdb.SPEC.name], dna):  # TMDB details (the key in a parameter), DNA (in a header)
                results.append(dg.materialize([asset], partition_key="movie|03", resources=resources, instance=instance))
            assert all(r.success for r in results)
            events = [str(record) for r in results for record in instance.all_logs(r.run_id)]
            runs = [str(instance.get_run_by_id(r.run_id)) for r in results]
            served = server.replica.requests()
        files = [p.read_text(errors="replace") for p in (tmp_path / "instance").rglob("*") if p.is_file()
                 and p.suffix not in (".db", ".db-wal", ".db-shm")]
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(previous)
    out, err = capfd.readouterr()
    # The requests that carry the keys (TMDB's api_key parameter, the LLM's bearer header) were really made.
    assert any(r.path.startswith(f"{tmdb.API.replica_prefix}/3/movie/") for r in served)
    assert any(r.path.startswith(f"{dna_source.LLM.replica_prefix}/chat/completions") for r in served)
    for key in (tmdb_key, llm_key):
        for where, texts in (("logging", seen), ("event records", events), ("run records", runs),
                             ("instance files (compute logs)", files), ("stdout/stderr", [out, err])):
            assert not any(key in text for text in texts), f"{key} found in {where}"


