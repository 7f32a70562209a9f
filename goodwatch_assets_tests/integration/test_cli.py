"""The ``goodwatch stores`` commands on the embedded default and on DATABASE_URL."""

from __future__ import annotations

from click.testing import CliRunner

from goodwatch_assets.cli import main
from goodwatch_assets.models.queue import FetchedDocument
from goodwatch_assets.stores.migrations import available_migrations
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.helpers import PROJECT, run_cli

LATEST = available_migrations()[-1].version


def test_stores_init_starts_the_embedded_default_and_reports_it(serving_db):
    # GOODWATCH_DATA_DIR is the session's data dir, so this joins the session's embedded server.
    result = run_cli("stores", "init")
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"serving database ready: embedded PostgreSQL at {serving_db.url}, schema version {LATEST}",
        "document store ready: postgres",
    ]


def test_stores_status_counts_documents_per_source_and_status(clean_serving_db):
    store = PostgresDocumentStore(clean_serving_db)
    store.upsert("imdb_ratings", [FetchedDocument("movie", i, {"rating": 7.0}) for i in (1, 2, 3)])
    store.quarantine("imdb_ratings", ("movie", 4), "rating 71 out of range", "tt4\t71\t10")
    store.close()

    result = run_cli("stores", "status", DATABASE_URL=clean_serving_db.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == [
        f"serving database: PostgreSQL (DATABASE_URL) at {clean_serving_db.url}, schema version {LATEST}",
        "document store:   postgres, 4 documents",
        "  imdb_ratings: ok 3, quarantined 1",
    ]


def test_synth_writes_a_catalog_straight_into_the_document_store(serving_db):
    with serving_db.connect() as conn:
        conn.execute("TRUNCATE raw.documents")
    result = run_cli("synth", "--movies", "80", "--shows", "20", "--links", "700")
    assert result.returncode == 0, result.stderr
    assert "titles written: {'movie': 80, 'tv': 20}" in result.stdout
    progress = [line.split(",")[0] for line in result.stdout.splitlines() if "titles gone through" in line]
    assert progress == ["80/100 titles gone through", "100/100 titles gone through"]  # a line per chunk off a terminal
    store = PostgresDocumentStore(serving_db)
    assert store.count_by_status("tmdb_details") == {"ok": 100}
    assert 0 < store.count_by_status("rotten_tomatoes")["ok"] < 100
    store.close()
    refused = run_cli("synth", "--movies", "-1")
    assert refused.returncode == 2 and "--movies" in refused.stderr


def invoke(*args: str, **env: str):
    """``goodwatch`` in this process (no start-up to wait for), with these settings on top of the environment's."""
    return CliRunner().invoke(main, list(args), env=env)


def test_cooldowns_list_shows_each_held_site_and_clear_ends_a_cooldown_and_says_what_it_changed(clean_serving_db):
    from datetime import UTC, datetime, timedelta

    from goodwatch_assets.stores.cooldowns import PostgresCooldowns

    cooldowns = PostgresCooldowns(clean_serving_db)
    with clean_serving_db.connect() as conn:
        conn.execute("TRUNCATE source_cooldowns")
    until = datetime.now(UTC) + timedelta(hours=6)
    cooldowns.block("rotten_tomatoes", until, "challenge page (Just a moment...)")
    cooldowns.record("tmdb_api", datetime.now(UTC) + timedelta(minutes=5), "HTTP 429")
    env = {"DATABASE_URL": clean_serving_db.url}

    listed = invoke("cooldowns", "list", **env)
    assert listed.exit_code == 0, listed.output
    assert listed.output.splitlines() == [
        f"rotten_tomatoes: cooling down until {until:%Y-%m-%d %H:%M:%S} UTC; pace 1 of the policy's rate; last: "
        "challenge page (Just a moment...)",
        f"tmdb_api: cooling down until {cooldowns.active_until('tmdb_api'):%Y-%m-%d %H:%M:%S} UTC; pace 0.5 of the "
        "policy's rate; last: HTTP 429",
    ]

    cleared = invoke("cooldowns", "clear", "rotten_tomatoes", **env)
    assert cleared.exit_code == 0, cleared.output
    assert cleared.output.strip() == f"rotten_tomatoes: cool-down until {until:%Y-%m-%d %H:%M:%S} UTC ended; pace stays 1"
    assert cooldowns.active_until("rotten_tomatoes") is None and cooldowns.active_until("tmdb_api") is not None
    assert cooldowns.blocks("rotten_tomatoes")  # the block stays logged

    reset = invoke("cooldowns", "clear", "tmdb_api", "--reset-pace", **env)
    assert reset.output.strip().endswith("ended; pace 0.5 -> 1") and cooldowns.pace("tmdb_api") == 1.0
    again = invoke("cooldowns", "clear", "tmdb_api", **env)
    assert again.output.startswith("tmdb_api: nothing to clear (tmdb_api: no cool-down (the last ended ")
    unknown = invoke("cooldowns", "clear", "rottentomatoes", **env)
    assert unknown.exit_code == 2 and "'rottentomatoes' is not a site; the sites are " in unknown.output


def test_pools_apply_says_what_it_changed_and_show_lists_each_sites_limit(tmp_path):
    from goodwatch_assets.defs.pools import POOL_LIMITS

    (tmp_path / "dagster.yaml").write_text((PROJECT / "dagster_home" / "dagster.yaml").read_text())
    env = {"DAGSTER_HOME": str(tmp_path)}
    shown = invoke("pools", "show", **env)
    assert shown.exit_code == 0, shown.output
    assert f"tmdb_api: no limit set (the instance's default) (planned {POOL_LIMITS['tmdb_api']}: `goodwatch pools " \
           "apply`); 0 run(s) holding slots; 0 step(s) waiting" in shown.output.splitlines()
    applied = invoke("pools", "apply", **env)
    assert f"tmdb_api: {POOL_LIMITS['tmdb_api']} (was not set)" in applied.output.splitlines()
    assert f"tmdb_api: {POOL_LIMITS['tmdb_api']} (unchanged)" in invoke("pools", "apply", **env).output.splitlines()
    shown = invoke("pools", "show", **env).output.splitlines()
    assert f"tmdb_api: limit {POOL_LIMITS['tmdb_api']}; 0 run(s) holding slots; 0 step(s) waiting" in shown
    assert len(shown) == len(POOL_LIMITS)
