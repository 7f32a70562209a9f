"""Connection URLs: checked before use, and never printed with their password."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

from goodwatch_assets.errors import ConfigurationError

POSTGRES_SCHEMES = ("postgresql", "postgres")
MONGODB_SCHEMES = ("mongodb", "mongodb+srv")


def redact(url: str) -> str:
    """The URL with its password replaced by ``***`` (safe for messages and logs)."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable URL>"
    if not parts.password:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def libpq_url(setting: str, url: str) -> str:
    """A PostgreSQL URL as libpq/psycopg 3 takes it.

    SQLAlchemy-style driver suffixes (``postgresql+psycopg2://``) are accepted, because users
    share one URL between this project and dagster-postgres, and dropped here.
    """
    scheme, sep, rest = url.partition("://")
    base_scheme = scheme.split("+", 1)[0].lower()
    if not sep or base_scheme not in POSTGRES_SCHEMES:
        raise ConfigurationError(
            setting, f"expected a postgresql:// URL, got {redact(url)!r}"
        )
    return f"postgresql://{rest}"


def check_mongodb_uri(setting: str, uri: str) -> str:
    scheme = uri.partition("://")[0].lower()
    if scheme not in MONGODB_SCHEMES:
        raise ConfigurationError(setting, f"expected a mongodb:// or mongodb+srv:// URI, got {redact(uri)!r}")
    return uri
