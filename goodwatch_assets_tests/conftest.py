"""Shared fixtures: one embedded PostgreSQL for the session, document stores on every backend.

The MongoDB backend runs against a real server when ``MONGODB_URI`` is set, and otherwise
against ``mongomock`` (an in-process stand-in): the header of the test run says which.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from goodwatch_assets.settings import StoreSettings
from goodwatch_assets.stores.documents import DocumentStore, utc_now
from goodwatch_assets.stores.serving_db import ServingDb, open_serving_db

REAL_MONGODB_URI = os.environ.get("MONGODB_URI")
SHARED_FIXTURES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "real"


def pytest_configure(config):
    """Every embedded-default store opened by the tests lives in a temporary data dir, never the project's.

    Set before test modules import the code location, whose resources read it at load time.
    """
    if "GOODWATCH_DATA_DIR" not in os.environ:
        data_dir = tempfile.mkdtemp(prefix="goodwatch-test-data-")
        os.environ["GOODWATCH_DATA_DIR"] = data_dir
        # Registered before the embedded server's own exit handler, so it runs after the server stopped.
        atexit.register(shutil.rmtree, data_dir, ignore_errors=True)


def pytest_report_header(config):
    if REAL_MONGODB_URI:
        return "MongoDB backend: a real MongoDB server (MONGODB_URI is set)"
    return "MongoDB backend: mongomock, an in-process stand-in (MONGODB_URI is unset); no real MongoDB server ran"


def settle() -> None:
    """Let the stores' own clocks move on: ``changed_at`` is server time, and a change feed reads
    strictly before the server's "now" (at millisecond precision on MongoDB)."""
    time.sleep(0.005)


class FakeClock:
    """A clock the tests move by hand (reservation expiry, backoff, fetched_at)."""

    def __init__(self, start: datetime | None = None):
        self.now = start or datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> None:
        self.now += timedelta(**delta)


@pytest.fixture(scope="session")
def embedded_data_dir() -> Path:
    return Path(os.environ["GOODWATCH_DATA_DIR"])


@pytest.fixture(scope="session")
def serving_db(embedded_data_dir) -> ServingDb:
    """The embedded PostgreSQL 16 + pgvector, migrated; shared by the whole session."""
    return open_serving_db(StoreSettings(data_dir=embedded_data_dir))


@pytest.fixture
def clean_serving_db(serving_db) -> ServingDb:
    """No documents, and no cool-down or slowed pace left by an earlier test."""
    with serving_db.connect() as conn:
        conn.execute("TRUNCATE raw.documents, source_cooldowns")
    return serving_db


SERVING_TABLES = "movies, tv_shows, streaming_links, streaming_providers"


def clear_serving(db: ServingDb) -> None:
    """Empty serving tables, and the combine's feed positions with them."""
    with db.connect() as conn:
        conn.execute(f"TRUNCATE {SERVING_TABLES}")
        conn.execute("DELETE FROM feed_watermarks WHERE consumer = 'serving'")


@pytest.fixture
def serving_tables_db(clean_serving_db) -> ServingDb:
    clear_serving(clean_serving_db)
    return clean_serving_db


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _mongo_database():
    if REAL_MONGODB_URI:
        import pymongo

        client = pymongo.MongoClient(REAL_MONGODB_URI, tz_aware=True)
        return client, client[f"goodwatch_test_{uuid.uuid4().hex[:8]}"]
    import mongomock

    _teach_mongomock_current_bulk_api()
    client = mongomock.MongoClient(tz_aware=True)
    return client, client["goodwatch_test"]


def _teach_mongomock_current_bulk_api() -> None:
    """pymongo >= 4.10 passes ``sort=`` to bulk builders; mongomock 4.3 predates it (ignored: unused here)."""
    from mongomock.collection import BulkOperationBuilder

    if getattr(BulkOperationBuilder.add_update, "accepts_sort", False):
        return
    original = BulkOperationBuilder.add_update

    def add_update(self, selector, doc, multi, upsert, collation=None, array_filters=None, hint=None, sort=None):
        return original(self, selector, doc, multi, upsert, collation=collation, array_filters=array_filters, hint=hint)

    add_update.accepts_sort = True
    BulkOperationBuilder.add_update = add_update


@pytest.fixture(params=["postgres", "mongodb"])
def document_store(request, clock) -> DocumentStore:
    """The same contract on every backend; time comes from ``clock``."""
    if request.param == "postgres":
        from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore

        store = PostgresDocumentStore(request.getfixturevalue("clean_serving_db"))
        cleanup = store.close
    else:
        from goodwatch_assets.stores.mongo_documents import MongoDocumentStore

        client, database = _mongo_database()
        # mongomock has no server clock to ask; its $currentDate uses this machine's clock.
        store = MongoDocumentStore(database, visibility_lag=timedelta(0), server_clock=utc_now)

        def cleanup():
            client.drop_database(database.name)
            client.close()

    store.clock = clock
    yield store
    cleanup()


def wait_for(condition, timeout: float = 60, every: float = 2.0, what: str = "the condition"):
    """Poll ``condition`` every ``every`` seconds until it returns something true, and return that."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout:.0f} s waiting for {what}")
