"""Per-source fetch policies: how fast, how parallel, how patient, and where (the base URL).

The live defaults are the real sites. ``GOODWATCH_REPLICA_URL`` points every source at an offline
replica (``goodwatch replica serve``), paced at ``REPLICA_RPS``; ``GOODWATCH_<SOURCE>_BASE_URL`` and
``GOODWATCH_<SOURCE>_RPS`` override one source.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from urllib.parse import urljoin, urlsplit

from goodwatch_assets import __version__
from goodwatch_assets.errors import ConfigurationError, GoodwatchError
from goodwatch_assets.settings import LLM_BASE_URL

DEFAULT_USER_AGENT = f"GoodWatchAssets/{__version__} (catalog refresh; polite crawler)"
REPLICA_URL = "GOODWATCH_REPLICA_URL"
REPLICA_RPS = 100.0
"""Pace against the replica (it has no limits unless told): fast, but still paced."""


class HostNotAllowed(GoodwatchError):
    """A URL (guessed, or a redirect) points outside the source's own hosts."""


@dataclass(frozen=True)
class SourcePolicy:
    source: str
    base_url: str
    requests_per_second: float
    """The upstream's limit. The client paces itself at :attr:`paced_rate`, a little below it."""
    burst: int = 1
    concurrency: int = 4
    timeout_s: float = 30.0
    user_agent: str = DEFAULT_USER_AGENT
    rate_limit_statuses: tuple[int, ...] = (429,)
    default_cooldown: timedelta = timedelta(minutes=15)
    tries: int = 3
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 30.0
    headroom: float = 0.03

    @property
    def paced_rate(self) -> float:
        """The rate the client keeps: ``headroom`` below the limit, and at least two request slots per
        second spare from 10 requests/s up, so that one request delayed by a slot (connection set-up,
        a busy event loop) cannot make the upstream count more than its limit in any second."""
        rate = self.requests_per_second
        spare = self.headroom if rate < 10 else max(self.headroom, 2 / rate)
        return rate * (1 - spare)

    @property
    def allowed_hosts(self) -> frozenset[str]:
        host = urlsplit(self.base_url).hostname or ""
        return frozenset({host})

    def url(self, path_or_url: str) -> str:
        """An absolute URL for a path under the base URL; absolute URLs must stay on the source's hosts."""
        if "://" in path_or_url:
            url = path_or_url
        else:
            url = self.base_url.rstrip("/") + "/" + path_or_url.lstrip("/")
        self.check_host(url)
        return url

    def resolve_redirect(self, current: str, location: str) -> str:
        url = urljoin(current, location)
        self.check_host(url)
        return url

    def check_host(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or (parts.hostname or "") not in self.allowed_hosts:
            raise HostNotAllowed(f"{self.source}: {url!r} is outside {sorted(self.allowed_hosts)}")


LIVE_POLICIES: dict[str, SourcePolicy] = {
    p.source: p
    for p in (
        SourcePolicy("tmdb_files", "https://files.tmdb.org", 2, concurrency=2, timeout_s=300),
        SourcePolicy("tmdb_api", "https://api.themoviedb.org", 40, concurrency=16, timeout_s=20),
        SourcePolicy("imdb_datasets", "https://datasets.imdbws.com", 1, concurrency=2, timeout_s=600),
        SourcePolicy("imdb", "https://www.imdb.com", 1, concurrency=2, rate_limit_statuses=(403, 429, 503)),
        SourcePolicy("rotten_tomatoes", "https://www.rottentomatoes.com", 0.5, concurrency=2,
                     rate_limit_statuses=(403, 429)),
        SourcePolicy("metacritic", "https://www.metacritic.com", 0.5, concurrency=2, rate_limit_statuses=(403, 429)),
        SourcePolicy("tvtropes", "https://tvtropes.org", 0.5, concurrency=2, rate_limit_statuses=(403, 429)),
        SourcePolicy("llm", "https://api.openai.com/v1", 1, concurrency=2, timeout_s=180),
    )
}

# Where each source lives on the replica (see goodwatch_assets.replica.server).
REPLICA_PREFIXES = {
    "tmdb_files": "/tmdb-files", "tmdb_api": "/tmdb-api", "imdb_datasets": "/imdb-datasets", "imdb": "/imdb",
    "rotten_tomatoes": "/rotten_tomatoes", "metacritic": "/metacritic", "tvtropes": "/tvtropes", "llm": "/llm/v1",
}


def policies_from_env(environ: Mapping[str, str] | None = None) -> dict[str, SourcePolicy]:
    env = os.environ if environ is None else environ
    replica = env.get(REPLICA_URL, "").rstrip("/")
    policies = {}
    for source, policy in LIVE_POLICIES.items():
        if replica:
            policy = replace(policy, base_url=replica + REPLICA_PREFIXES[source], requests_per_second=REPLICA_RPS,
                             concurrency=max(policy.concurrency, 8), backoff_base_s=0.2)
        name = source.upper()
        if source == "llm" and (base := env.get(LLM_BASE_URL)):  # the name OpenAI-compatible tools use
            policy = replace(policy, base_url=base)
        if base := env.get(f"GOODWATCH_{name}_BASE_URL"):
            policy = replace(policy, base_url=base)
        if rps := env.get(f"GOODWATCH_{name}_RPS"):
            try:
                policy = replace(policy, requests_per_second=float(rps))
            except ValueError:
                raise ConfigurationError(f"GOODWATCH_{name}_RPS", f"expected a number, got {rps!r}") from None
        if urlsplit(policy.base_url).scheme not in ("http", "https"):
            raise ConfigurationError(f"GOODWATCH_{name}_BASE_URL", f"expected an http(s) URL, got {policy.base_url!r}")
        policies[source] = policy
    return policies
