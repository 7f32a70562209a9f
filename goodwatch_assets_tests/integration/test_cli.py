"""The ``goodwatch stores`` commands on the embedded default and on DATABASE_URL."""

from __future__ import annotations

from goodwatch_assets.models.queue import FetchedDocument
from goodwatch_assets.stores.migrations import available_migrations
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.helpers import run_cli

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
    store = PostgresDocumentStore(serving_db)
    assert store.count_by_status("tmdb_details") == {"ok": 100}
    assert 0 < store.count_by_status("rotten_tomatoes")["ok"] < 100
    store.close()
    refused = run_cli("synth", "--movies", "-1")
    assert refused.returncode == 2 and "--movies" in refused.stderr
