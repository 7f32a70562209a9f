"""Open the stores the settings name, failing fast with one clear message per bad setting."""

from __future__ import annotations

import warnings

from goodwatch_assets.errors import ConfigurationError
from goodwatch_assets.settings import MONGODB_URI, StoreSettings
from goodwatch_assets.stores.documents import DocumentStore
from goodwatch_assets.stores.serving_db import ServingDb, open_serving_db
from goodwatch_assets.stores.urls import check_mongodb_uri, redact, scrub

MONGODB_TIMEOUT_MS = 5_000


def open_document_store(settings: StoreSettings, serving_db: ServingDb) -> DocumentStore:
    """MongoDB when ``MONGODB_URI`` is set, else JSONB tables in the serving database."""
    if settings.mongodb_uri:
        return open_mongo_document_store(settings.mongodb_uri, settings.mongodb_database)
    from goodwatch_assets.stores.postgres_documents import PostgresDocumentStore

    return PostgresDocumentStore(serving_db)


def open_mongo_document_store(uri: str, database: str) -> DocumentStore:
    import pymongo
    from pymongo.errors import ConfigurationError as MongoConfigurationError
    from pymongo.errors import PyMongoError

    from goodwatch_assets.stores.mongo_documents import MongoDocumentStore

    check_mongodb_uri(MONGODB_URI, uri)
    try:
        with warnings.catch_warnings():  # pymongo warns (multi-line) about some options; errors still raise
            warnings.simplefilter("ignore")
            client = pymongo.MongoClient(
                uri, serverSelectionTimeoutMS=MONGODB_TIMEOUT_MS, connectTimeoutMS=MONGODB_TIMEOUT_MS, tz_aware=True
            )
        client.admin.command("ping")
    except (MongoConfigurationError, ValueError) as error:  # pymongo raises both for bad URIs
        raise ConfigurationError(MONGODB_URI, f"malformed URI {redact(uri)}: {scrub(str(error), uri)}") from error
    except PyMongoError as error:
        reason = scrub(str(error).split(" (configured timeouts")[0].split(", Timeout:")[0].splitlines()[0], uri)
        raise ConfigurationError(
            MONGODB_URI, f"cannot reach MongoDB at {redact(uri)} within {MONGODB_TIMEOUT_MS // 1000} s: {reason}"
        ) from error
    return MongoDocumentStore(client[database])


def open_stores(settings: StoreSettings, *, migrate: bool | None = None) -> tuple[ServingDb, DocumentStore]:
    """Both stores; ``migrate`` as for :func:`open_serving_db`."""
    serving_db = open_serving_db(settings, migrate=migrate)
    return serving_db, open_document_store(settings, serving_db)
