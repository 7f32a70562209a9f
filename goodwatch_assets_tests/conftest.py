"""Shared fixtures: one embedded PostgreSQL for the session, document stores on every backend; the test tiers.

Tests come in three tiers, by folder: ``unit`` (no database, no server), ``integration`` (the embedded stores, the
combine, the queue, the replica in process) and ``end_to_end`` (dagster dev, the CLI, the UI, the fault suite, the
whole graph). Each test is marked with its tier. ``make test-fast`` runs the first two; ``make test`` all three.

The MongoDB backend runs against a real server when ``MONGODB_URI`` is set, and otherwise
against ``mongomock`` (an in-process stand-in): the header of the test run says which.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from datetime import timedelta
from pathlib import Path

import hypothesis.configuration
import pytest

from goodwatch_assets.settings import StoreSettings
from goodwatch_assets.stores.documents import DocumentStore, utc_now
from goodwatch_assets.stores.serving_db import ServingDb, open_serving_db
from goodwatch_assets_tests.helpers import (
    DNA_TABLES,
    REAL_MONGODB_URI,
    SHARED_FIXTURES,
    FakeClock,
    clear_serving,
    mongo_database,
)

TIERS = ("unit", "integration", "end_to_end")


def pytest_configure(config):
    """Every embedded-default store opened by the tests lives in a temporary data dir, never the project's, and so
    does Hypothesis's example database (its cache of constants copies the sources' strings, hosts among them).

    Set before test modules import the code location, whose resources read it at load time. Under ``CI=true`` the
    real fixtures must be there: their parser tests would otherwise be skipped, and CI would pass without them.
    """
    hypothesis.configuration.set_hypothesis_home_dir(Path(tempfile.gettempdir()) / "goodwatch-hypothesis")
    if os.environ.get("CI") == "true" and not SHARED_FIXTURES.exists():
        raise pytest.UsageError(f"CI=true and the real fixtures are missing: {SHARED_FIXTURES} (check out ../shared "
                                "beside the project)")
    if "GOODWATCH_DATA_DIR" not in os.environ:
        data_dir = tempfile.mkdtemp(prefix="goodwatch-test-data-")
        os.environ["GOODWATCH_DATA_DIR"] = data_dir
        # Registered before the embedded server's own exit handler, so it runs after the server stopped.
        atexit.register(shutil.rmtree, data_dir, ignore_errors=True)


def pytest_collection_modifyitems(config, items):
    """Mark every test with its tier, from its folder."""
    for item in items:
        tier = Path(item.fspath).parent.name
        if tier in TIERS:
            item.add_marker(getattr(pytest.mark, tier))


def pytest_report_header(config):
    if REAL_MONGODB_URI:
        return "MongoDB backend: a real MongoDB server (MONGODB_URI is set)"
    return "MongoDB backend: mongomock, an in-process stand-in (MONGODB_URI is unset); no real MongoDB server ran"


@pytest.fixture
def data_dir() -> Path:
    """A fresh embedded data dir, outside pytest's temporary root: a pytest session starting makes that root private
    to its user again, out of the reach of the embedded server's own user."""
    path = Path(tempfile.mkdtemp(prefix="goodwatch-run-data-"))
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def embedded_data_dir() -> Path:
    return Path(os.environ["GOODWATCH_DATA_DIR"])


@pytest.fixture(scope="session")
def serving_db(embedded_data_dir) -> ServingDb:
    """The embedded PostgreSQL 18 + pgvector 0.8, migrated; shared by the whole session."""
    return open_serving_db(StoreSettings(data_dir=embedded_data_dir))


@pytest.fixture
def clean_serving_db(serving_db) -> ServingDb:
    """No documents, and no cool-down, block or slowed pace left by an earlier test."""
    with serving_db.connect() as conn:
        conn.execute("TRUNCATE raw.documents, source_cooldowns, site_blocks")
    return serving_db


@pytest.fixture
def demand_db(serving_db) -> ServingDb:
    """No app events, trending lists or lane-2 refreshes left by an earlier test."""
    with serving_db.connect() as conn:
        conn.execute("TRUNCATE title_events, trending_titles, priority_refreshes")
    return serving_db


@pytest.fixture
def dna_db(clean_serving_db) -> ServingDb:
    """No DNA labels, links, vectors, budget or feed positions left by an earlier test."""
    with clean_serving_db.connect() as conn:
        conn.execute(f"TRUNCATE {DNA_TABLES}")
    return clean_serving_db


@pytest.fixture
def serving_tables_db(clean_serving_db) -> ServingDb:
    clear_serving(clean_serving_db)
    return clean_serving_db


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture(params=["postgres", "mongodb"])
def document_store(request, clock) -> DocumentStore:
    """The same contract on every backend; time comes from ``clock``."""
    if request.param == "postgres":
        from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore

        store = PostgresDocumentStore(request.getfixturevalue("clean_serving_db"))
        cleanup = store.close
    else:
        from goodwatch_assets.stores.mongo_documents import MongoDocumentStore

        client, database = mongo_database()
        # mongomock has no server clock to ask; its $currentDate uses this machine's clock.
        store = MongoDocumentStore(database, visibility_lag=timedelta(0), server_clock=utc_now)

        def cleanup():
            client.drop_database(database.name)
            client.close()

    store.clock = clock
    yield store
    cleanup()
