"""The ``goodwatch stores`` commands on the embedded default and on DATABASE_URL."""

from __future__ import annotations

from goodwatch_assets.stores.documents import FetchedDocument
from goodwatch_assets.stores.migrations import available_migrations
from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore
from goodwatch_assets_tests.test_configuration_errors import run_cli

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
