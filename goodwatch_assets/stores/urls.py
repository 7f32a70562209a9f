"""Connection URLs: checked before use, and never shown with a secret in them."""

from __future__ import annotations

import re
from urllib.parse import parse_qsl, quote, unquote, urlencode, urlsplit, urlunsplit

from goodwatch_assets.errors import ConfigurationError

POSTGRES_SCHEMES = ("postgresql", "postgres")
MONGODB_SCHEMES = ("mongodb", "mongodb+srv")
_SECRET_PARAM = re.compile(r"password|passwd|secret|token|key", re.IGNORECASE)
HIDDEN = "***"


def _secrets(url: str) -> list[str]:
    """Every secret value in a URL (password, password-like query parameters), as written and decoded."""
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return []
    values = [password] if password else []
    values += [value for name, value in parse_qsl(parts.query, keep_blank_values=False) if _SECRET_PARAM.search(name)]
    forms = {form for value in values for form in (value, unquote(value), quote(value, safe="")) if form}
    return sorted(forms, key=len, reverse=True)


def redact(url: str) -> str:
    """The URL with its password and password-like parameters replaced by ``***``.

    A value that is not a URL at all (say, a ``key=value`` connection string) is not echoed.
    """
    try:
        parts = urlsplit(url)
        password = parts.password
    except ValueError:
        return "<unparseable URL>"
    if not parts.scheme or "://" not in url:
        return "<not a URL>"
    netloc = parts.netloc
    if password:
        netloc = netloc.replace(f":{password}@", f":{HIDDEN}@", 1)
    query = urlencode(
        [(name, HIDDEN if _SECRET_PARAM.search(name) else value) for name, value in parse_qsl(parts.query)],
        safe="/*",
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def scrub(message: str, url: str) -> str:
    """A driver's error message with any secret of ``url`` in it replaced by ``***``."""
    for secret in _secrets(url):
        message = message.replace(secret, HIDDEN)
    return message


def libpq_url(setting: str, url: str) -> str:
    """A PostgreSQL URL as libpq/psycopg 3 takes it.

    SQLAlchemy-style driver suffixes (``postgresql+psycopg2://``) are accepted, because users
    share one URL between this project and dagster-postgres, and dropped here.
    """
    scheme, sep, rest = url.partition("://")
    base_scheme = scheme.split("+", 1)[0].lower()
    if not sep or base_scheme not in POSTGRES_SCHEMES:
        raise ConfigurationError(setting, f"expected a postgresql:// URL, got {redact(url)}")
    return f"postgresql://{rest}"


def check_mongodb_uri(setting: str, uri: str) -> str:
    scheme = uri.partition("://")[0].lower()
    if scheme not in MONGODB_SCHEMES:
        raise ConfigurationError(setting, f"expected a mongodb:// or mongodb+srv:// URI, got {redact(uri)}")
    return uri
