"""Fault knobs of the replica: rate limits, 5xx (scattered or in bursts), latency, malformed pages,
truncated downloads, blocks (challenges), and the Wikidata query service's timeouts and short answers.

Decisions are seeded: the n-th request for a path gets the same fault in every run with the same
seed, whatever the order requests arrive in; a retry (the n+1-th request) rolls again, so transient
faults really are transient. Bursts are counted per site instead: an outage answers every request
that arrives while it lasts, whatever its path.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import defaultdict, deque
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RateLimit:
    """At most ``requests`` accepted requests per ``window_s`` seconds (sliding window)."""

    requests: int
    window_s: float = 1.0


BLOCK_KINDS = ("challenge", "empty-202", "challenge-page", "no-data")
"""How sites block a crawler: a 403 with ``cf-mitigated: challenge``, a 202 with an empty body, a 200 challenge page
("Just a moment..."), a 200 page without the site's data."""


@dataclass(frozen=True)
class FaultConfig:
    seed: int = 0
    rate_limits: dict[str, RateLimit] = field(default_factory=dict)  # per site
    error_rate: float = 0.0  # share of requests answered 500/502/503
    burst_every: int = 0  # 5xx bursts: of every ``burst_every`` requests to a site, the first ``burst_length``
    burst_length: int = 0  # are answered 500/502/503 (0: no bursts)
    latency_ms: float = 0.0  # added to every answer
    malformed_rate: float = 0.0  # share of pages/JSON answered broken
    truncate_rate: float = 0.0  # share of file downloads cut short
    retry_after_s: int = 60  # what rate-limit answers say in Retry-After
    block_rate: float = 0.0  # share of requests answered with a block of ``block_kind``
    block_kind: str = "challenge"  # one of BLOCK_KINDS
    sparql_timeout_rate: float = 0.0  # share of Wikidata queries answered 200 with part of the JSON and a stack trace
    sparql_short_rate: float = 0.0  # share of Wikidata queries answered with most rows missing

    def __post_init__(self) -> None:
        if self.block_kind not in BLOCK_KINDS:
            raise ValueError(f"unknown block kind {self.block_kind!r}; kinds: {', '.join(BLOCK_KINDS)}")

    @classmethod
    def parse_rate_limits(cls, specs: list[str]) -> dict[str, RateLimit]:
        """``site=N/W`` (N requests per W seconds), e.g. ``rotten_tomatoes=5/1``; sites as the replica serves them."""
        from goodwatch_assets.replica.server import PREFIXES

        limits = {}
        for spec in specs:
            site, _, rate = spec.partition("=")
            site = site.strip()
            if site not in PREFIXES:
                raise ValueError(f"unknown site {site!r} in {spec!r}; sites: {', '.join(PREFIXES)}")
            count, _, window = rate.partition("/")
            try:
                limits[site] = RateLimit(int(count), float(window or 1))
            except ValueError:
                raise ValueError(f"expected SITE=N/W (N requests per W seconds), got {spec!r}") from None
        return limits

    @staticmethod
    def parse_block(spec: str) -> tuple[str, float]:
        """``KIND=RATE`` as (block_kind, block_rate); empty: no blocks."""
        if not spec:
            return "challenge", 0.0
        kind, _, rate = spec.partition("=")
        try:
            share = float(rate)
        except ValueError:
            raise ValueError(f"expected KIND=RATE (e.g. challenge=0.05), got {spec!r}") from None
        if kind.strip() not in BLOCK_KINDS or not 0 <= share <= 1:
            raise ValueError(f"expected KIND=RATE with KIND one of {', '.join(BLOCK_KINDS)} and RATE from 0 to 1, "
                             f"got {spec!r}")
        return kind.strip(), share

    @staticmethod
    def parse_bursts(spec: str) -> tuple[int, int]:
        """``LENGTH/EVERY`` as (burst_length, burst_every); empty: no bursts."""
        if not spec:
            return 0, 0
        length, _, every = spec.partition("/")
        try:
            burst_length, burst_every = int(length), int(every)
        except ValueError:
            raise ValueError(f"expected LENGTH/EVERY (e.g. 10/40), got {spec!r}") from None
        if not 0 < burst_length < burst_every:
            raise ValueError(f"a burst needs 0 < LENGTH < EVERY, got {spec!r}")
        return burst_length, burst_every




class FaultInjector:
    def __init__(self, config: FaultConfig):
        self.config = config
        self._seen: dict[str, int] = defaultdict(int)
        self._site_requests: dict[str, int] = defaultdict(int)
        self._accepted: dict[str, deque[float]] = defaultdict(deque)
        self._lock = threading.Lock()

    def _roll(self, kind: str, path: str, nth: int) -> float:
        digest = hashlib.blake2b(f"{self.config.seed}|{kind}|{path}|{nth}".encode(), digest_size=8).digest()
        return int.from_bytes(digest, "big") / 2**64

    def admit(self, site: str, now: float | None = None) -> bool:
        """Count a request against the site's rate limit; False means answer it as rate-limited."""
        limit = self.config.rate_limits.get(site)
        if limit is None:
            return True
        now = time.monotonic() if now is None else now
        with self._lock:
            accepted = self._accepted[site]
            while accepted and accepted[0] <= now - limit.window_s:
                accepted.popleft()
            if len(accepted) >= limit.requests:
                return False
            accepted.append(now)
            return True

    def draw(self, site: str, path: str) -> dict[str, bool]:
        """Which faults hit this request for ``path`` on ``site``."""
        c = self.config
        with self._lock:
            self._seen[path] += 1
            nth = self._seen[path]
            in_burst = c.burst_every > 0 and self._site_requests[site] % c.burst_every < c.burst_length
            self._site_requests[site] += 1
        return {
            "error": in_burst or self._roll("error", path, nth) < c.error_rate,
            "malformed": self._roll("malformed", path, nth) < c.malformed_rate,
            "truncate": self._roll("truncate", path, nth) < c.truncate_rate,
            "block": self._roll("block", path, nth) < c.block_rate,
            "sparql_timeout": self._roll("sparql_timeout", path, nth) < c.sparql_timeout_rate,
            "sparql_short": self._roll("sparql_short", path, nth) < c.sparql_short_rate,
        }
