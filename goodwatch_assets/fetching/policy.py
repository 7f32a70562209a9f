"""A site's fetch policy: where it is, how fast, how parallel, how patient, and how it says "too many requests".

Each source module declares the sites it fetches from with their live defaults (the real sites); the settings
module resolves where a site is and how fast it may be asked in this environment (the offline replica, overrides).
A site's ``name`` is its concurrency pool, the key of its shared cool-down and pace, and the ``<NAME>`` of its
``GOODWATCH_<NAME>_BASE_URL`` and ``GOODWATCH_<NAME>_RPS`` settings.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from urllib.parse import urljoin, urlsplit

from goodwatch_assets import __version__
from goodwatch_assets.errors import GoodwatchError

DEFAULT_USER_AGENT = (f"GoodWatchAssets/{__version__} (+https://github.com/goodwatch-assets; data@goodwatch.app) "
                      "catalog refresh")
"""Who we are and how to reach us, on every request: sites that mind a crawler can write instead of blocking it."""
CHALLENGE_TITLES = ("just a moment...", "attention required! | cloudflare", "access denied", "please wait... | cloudflare",
                    "pardon our interruption", "are you a robot?", "security check", "ddos-guard")
"""Page titles (case-folded) of the challenge and block pages of bot-protection services."""


class HostNotAllowed(GoodwatchError):
    """A URL (guessed, or a redirect) points outside the site's own host."""


@dataclass(frozen=True)
class SitePolicy:
    name: str
    base_url: str
    requests_per_second: float
    """The upstream's limit. The client paces itself at :attr:`paced_rate`, a little below it."""
    pool_limit: int = 1
    """Runs of the site's pool at once (``goodwatch pools apply``); each paces at its share of the rate."""
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
    base_url_variable: str | None = None
    """Another environment variable that sets the base URL: the name tools of that kind read (``LLM_BASE_URL``)."""
    block_cooldown: timedelta = timedelta(hours=24)
    """How long a site that blocked us (a challenge, an empty 202, pages without data) is left alone ..."""
    block_cooldown_bounds: tuple[timedelta, timedelta] = (timedelta(hours=1), timedelta(days=7))
    """... or as long as its Retry-After says, within these bounds."""
    missing_data_limit: int = 3
    """Pages in a row without the site's data that count as a block."""

    @property
    def paced_rate(self) -> float:
        """The rate the client keeps: ``headroom`` below the limit, and at least two request slots per
        second spare from 10 requests/s up, so that one request delayed by a slot (connection set-up,
        a busy event loop) cannot make the upstream count more than its limit in any second."""
        rate = self.requests_per_second
        spare = self.headroom if rate < 10 else max(self.headroom, 2 / rate)
        return rate * (1 - spare)

    @property
    def replica_prefix(self) -> str:
        """Where the site lives on the offline replica: its name, then the live base URL's own path
        (``/llm/v1`` for an OpenAI-compatible endpoint at ``…/v1``)."""
        return f"/{self.name}{urlsplit(self.base_url).path.rstrip('/')}"

    @property
    def allowed_hosts(self) -> frozenset[str]:
        host = urlsplit(self.base_url).hostname or ""
        return frozenset({host})

    def url(self, path_or_url: str) -> str:
        """An absolute URL for a path under the base URL; absolute URLs must stay on the site's host."""
        if "://" in path_or_url:
            url = path_or_url
        else:
            url = self.base_url.rstrip("/") + "/" + path_or_url.lstrip("/")
        self.check_host(url)
        return url

    def path_of(self, url: str) -> str:
        """A URL of the site as a path under its base URL (stored URLs stay usable when the base URL moves)."""
        path = urlsplit(url).path
        base = urlsplit(self.base_url).path.rstrip("/")
        return path[len(base):] if base and path.startswith(base + "/") else path

    def resolve_redirect(self, current: str, location: str) -> str:
        url = urljoin(current, location)
        self.check_host(url)
        return url

    def check_host(self, url: str) -> None:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or (parts.hostname or "") not in self.allowed_hosts:
            raise HostNotAllowed(f"{self.name}: {url!r} is outside {sorted(self.allowed_hosts)}")
