"""Where the stores are: the settings read from the environment, in one place.

Every setting is an environment variable (see the README's configuration table). The Dagster
resources receive the secret ones through ``dagster.EnvVar`` (see ``resources.py``); the CLI reads
the same variables through :meth:`StoreSettings.from_env`, so both paths open the same stores.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from goodwatch_assets.errors import ConfigurationError

DATABASE_URL = "DATABASE_URL"
MONGODB_URI = "MONGODB_URI"
MONGODB_DATABASE = "MONGODB_DATABASE"
DATA_DIR = "GOODWATCH_DATA_DIR"
TMDB_API_KEY = "TMDB_API_KEY"
TMDB_BEARER_TOKEN = "TMDB_BEARER_TOKEN"
LLM_BASE_URL = "LLM_BASE_URL"
LLM_API_KEY = "LLM_API_KEY"
LLM_MODEL = "LLM_MODEL"
LLM_DAILY_REQUESTS = "GOODWATCH_LLM_DAILY_REQUESTS"
LLM_TITLES_PER_REQUEST = "GOODWATCH_LLM_TITLES_PER_REQUEST"

DEFAULT_MONGODB_DATABASE = "goodwatch"


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

    database_url: str | None = None
    mongodb_uri: str | None = None
    mongodb_database: str = DEFAULT_MONGODB_DATABASE
    data_dir: Path | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> StoreSettings:
        env = os.environ if environ is None else environ
        data_dir = env.get(DATA_DIR)
        return cls(
            database_url=env.get(DATABASE_URL) or None,
            mongodb_uri=env.get(MONGODB_URI) or None,
            mongodb_database=env.get(MONGODB_DATABASE) or DEFAULT_MONGODB_DATABASE,
            data_dir=Path(data_dir) if data_dir else None,
        )

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir or default_data_dir()


def number_setting(name: str, kind: type, default, environ: Mapping[str, str] | None = None):
    """A numeric setting from the environment: ``default`` when unset, a clear error when not a number."""
    value = (os.environ if environ is None else environ).get(name)
    if not value:
        return default
    try:
        return kind(value)
    except ValueError:
        raise ConfigurationError(name, f"expected {'a whole number' if kind is int else 'a number'}, got {value!r}") from None
