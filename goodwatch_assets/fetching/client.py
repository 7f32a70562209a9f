"""The HTTP client of one source: paced, retried, stopped at the first rate-limit answer.

* Transient failures (5xx, 408, timeouts, connection errors) are retried up to ``policy.tries``
  times with exponential backoff and jitter; then the item fails (the work queue backs it off).
* A rate-limit answer (429, or 403 where the site answers so) stops the whole run at once: no retry,
  the requests in flight are cancelled, and the source's cool-down is recorded when the client
  closes, so no request of this run reaches the upstream after the cool-down exists. A client checks
  for an active cool-down when it opens and before every batch, and then sends nothing.
* A block stops the run the same way, for longer (``policy.block_cooldown``, or Retry-After within
  ``block_cooldown_bounds``), and is logged: an answer with ``cf-mitigated: challenge``, a 202 with an
  empty body, a challenge page's title, or ``policy.missing_data_limit`` pages in a row without the
  site's data (:class:`MissingData`). What was being fetched is released, never stored as "no score".
* It paces itself at the source's pace (a share of the policy's rate that rate limits halve and clean
  runs give back, kept with the cool-downs), so that runs against a site whose limit is lower than
  its policy says still finish whole titles.
* An unexpected error in an item's handler fails that item (it is retried later and quarantined
  after N attempts); the batch goes on.
* Redirects are followed by hand and only to the source's own hosts.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any, Generic, Protocol, TypeVar

import anyio._backends._asyncio  # noqa: F401 - see below
import httpcore._backends.anyio  # noqa: F401
import httpx

from goodwatch_assets.errors import GoodwatchError, MissingData, ParseError, parsing
from goodwatch_assets.fetching.policy import CHALLENGE_TITLES, HostNotAllowed, SitePolicy
from goodwatch_assets.fetching.ratelimit import RateLimiter

# httpx logs every request's full URL at INFO, query string included, and TMDB's v3 key travels in the query
# (``api_key``): keep its request log off so that no key reaches a log handler. Failures reach the run log through
# this client's own messages, which name the path and never the parameters.
logging.getLogger("httpx").setLevel(logging.WARNING)

# httpx loads its async backend on the first request (~70 ms here); imported up front, the first paced
# request leaves on time instead of bunching with the next ones at the upstream.
T = TypeVar("T")
Item = TypeVar("Item")
_TRANSIENT_STATUSES = frozenset({408, 500, 502, 503, 504})
_MAX_REDIRECTS = 5
_TITLE = re.compile(rb"<title[^>]*>\s*([^<]{0,200})", re.IGNORECASE)
log = logging.getLogger(__name__)


class CooldownRegistry(Protocol):
    """Where cool-downs and paces are shared between runs (the serving database in production)."""

    def active_until(self, source: str) -> datetime | None: ...

    def record(self, source: str, until: datetime, reason: str) -> None:
        """A rate limit: no run sends anything until ``until``, and the source's pace slows."""

    def block(self, source: str, until: datetime, reason: str) -> None:
        """A block: no run sends anything until ``until``; the block is logged."""

    def pace(self, source: str) -> float:
        """The share of the policy's rate that runs keep (1.0 when no rate limit slowed the source)."""

    def recover(self, source: str) -> None:
        """A run ended without a rate limit: the pace moves back towards 1.0."""


class RateLimited(GoodwatchError):
    kind = "rate limited"

    def __init__(self, source: str, until: datetime, reason: str):
        self.source, self.until, self.reason = source, until, reason
        super().__init__(f"{source}: {self.kind} ({reason}); cooling down until {until:%Y-%m-%d %H:%M:%S} UTC")


class Blocked(RateLimited):
    """The site is blocking us (a challenge, not a rate): the run stops and the site is left alone for long."""

    kind = "blocked"


class FetchFailed(GoodwatchError):
    """Every try of a request failed transiently."""


class RunStopped(GoodwatchError):
    """The run stopped (rate limit) before this request was sent."""


@dataclass
class FetchStats:
    requests: int = 0
    retries: int = 0
    statuses: Counter = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)
    finished: float | None = None

    @property
    def elapsed_s(self) -> float:
        return (self.finished or time.monotonic()) - self.started

    @property
    def achieved_rate(self) -> float:
        return self.requests / self.elapsed_s if self.elapsed_s > 0 else 0.0

    def as_metadata(self) -> dict[str, Any]:
        return {
            "requests": self.requests, "retries": self.retries, "achieved_rate_per_s": round(self.achieved_rate, 3),
            "statuses": {str(k): v for k, v in sorted(self.statuses.items(), key=lambda kv: str(kv[0]))},
        }


@dataclass(frozen=True)
class ItemOutcome(Generic[Item]):
    """What happened to one item: ``done`` (with ``value``), ``rejected`` (unusable content, with
    ``body`` and the ``url`` it came from), ``failed`` (transient errors exhausted) or ``not_tried`` (the run stopped
    first, or was blocked)."""

    item: Item
    state: str
    value: Any = None
    error: str | None = None
    body: str | bytes | None = None
    url: str | None = None
    missing_data: bool = False
    """Rejected as a page without the site's data: released instead, should the site turn out to be blocking us."""


class SourceClient:
    """One run's client of one site. ``params`` and ``headers`` go with every request (a site's credentials)."""

    def __init__(
        self,
        policy: SitePolicy,
        cooldowns: CooldownRegistry | None = None,
        *,
        params: dict[str, str] | None = None,
        headers: dict[str, str] | None = None,
        rng: random.Random | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
    ):
        self.policy = policy
        self._params = params or {}
        self._headers = headers or {}
        self.cooldowns = cooldowns
        self.stats = FetchStats()
        self.rate_limited: RateLimited | None = None
        self.halted: str | None = None
        self.pace = 1.0
        self._rng = rng or random.Random()
        self._limiter = RateLimiter(policy.paced_rate, policy.burst)
        self._slots = asyncio.Semaphore(policy.concurrency)
        self._transport = transport
        self._http: httpx.AsyncClient | None = None
        self._cooldown_recorded = False
        self._missing_in_a_row = 0

    @property
    def stopped(self) -> bool:
        return self.rate_limited is not None

    def halt(self, reason: str) -> None:
        """Take no new work (e.g. our own request budget is spent): unlike a rate limit, requests already under
        way finish, and no cool-down is recorded."""
        self.halted = self.halted or reason

    async def __aenter__(self) -> SourceClient:
        self._http = httpx.AsyncClient(
            headers={"User-Agent": self.policy.user_agent, **self._headers}, params=self._params,
            timeout=self.policy.timeout_s, follow_redirects=False,
            limits=httpx.Limits(max_connections=self.policy.concurrency), transport=self._transport,
        )
        self.check_cooldown()
        if self.cooldowns is not None:
            self.pace = self.cooldowns.pace(self.policy.name)
            if self.pace < 1:
                self._limiter = RateLimiter(self.policy.paced_rate * self.pace, self.policy.burst)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stats.finished = time.monotonic()
        if self._http is not None:
            await self._http.aclose()
        self._record_cooldown()
        if self.rate_limited is None and self.stats.requests and self.pace < 1 and self.cooldowns is not None:
            self.cooldowns.recover(self.policy.name)

    def _record_cooldown(self) -> None:
        """Record this run's rate limit for every other run, once, when none of its requests can still go out."""
        if self.rate_limited is not None and self.cooldowns is not None and not self._cooldown_recorded:
            self._cooldown_recorded = True
            if isinstance(self.rate_limited, Blocked):
                self.cooldowns.block(self.policy.name, self.rate_limited.until, self.rate_limited.reason)
            else:
                self.cooldowns.record(self.policy.name, self.rate_limited.until, self.rate_limited.reason)

    def check_cooldown(self) -> None:
        """Stop before sending anything if another run recorded a cool-down that is still active."""
        if self.cooldowns is None or self.stopped:
            return
        until = self.cooldowns.active_until(self.policy.name)
        if until is not None and until > datetime.now(UTC):
            self.rate_limited = RateLimited(self.policy.name, until, "a cool-down recorded by another run is active")
            self._cooldown_recorded = True  # it is already recorded

    # -- one request -------------------------------------------------------------------------

    async def get(self, path_or_url: str, *, params: dict[str, Any] | None = None,
                  headers: dict[str, str] | None = None) -> httpx.Response:
        return await self.request("GET", path_or_url, params=params, headers=headers)

    async def request(self, method: str, path_or_url: str, **kwargs: Any) -> httpx.Response:
        """Send one request (retried on transient failures); any non-transient answer is returned."""
        assert self._http is not None, "use the client as an async context manager"
        url = self.policy.url(path_or_url)
        problem = ""
        for attempt in range(1, self.policy.tries + 1):
            try:
                response = await self._send(method, url, **kwargs)
            except (httpx.TimeoutException, httpx.TransportError) as error:
                problem = f"{type(error).__name__}: {error}".strip()
            else:
                if response.status_code not in _TRANSIENT_STATUSES:
                    return response
                problem = f"HTTP {response.status_code}"
            if attempt < self.policy.tries:
                self.stats.retries += 1
                await asyncio.sleep(self._backoff(attempt))
        raise FetchFailed(f"{self.policy.name}: {method} {url} failed {self.policy.tries} times, last: {problem}")

    async def get_part(self, path: str, parse: Callable[[bytes], T]) -> T | None:
        """One page of a title made of several (a sub-page), parsed; None when it is not there (404, 410).

        A page that does not parse is fetched again, up to the policy's tries, before its ParseError goes up: a
        broken answer is often a passing fault, and one broken part would otherwise fail the whole title, whose
        chance of coming whole shrinks with every part it has.
        """
        broken = ParseError(f"{self.policy.name}: {path} was not tried")
        for _ in range(self.policy.tries):
            response = await self.get(path)
            if response.status_code in (404, 410):
                return None
            if response.status_code != 200:
                raise FetchFailed(f"{self.policy.name}: {path} answered HTTP {response.status_code}")
            try:
                with parsing(self.policy.url(path)):
                    return parse(response.content)
            except ParseError as error:
                broken = error
        raise broken

    async def _send(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        for _ in range(_MAX_REDIRECTS + 1):
            async with self._slots:
                if self.stopped:
                    raise RunStopped(self.policy.name)
                await self._limiter.acquire()
                if self.stopped:  # checked again after the wait: nothing goes out once the run stopped
                    raise RunStopped(self.policy.name)
                self.stats.requests += 1
                try:
                    response = await self._http.request(method, url, **kwargs)
                except BaseException:
                    self.stats.statuses["error"] += 1
                    raise
            self.stats.statuses[response.status_code] += 1
            if block := self._block_signal(response):
                raise self._stop_blocked(f"{block} for {url}", response)
            if response.status_code in self.policy.rate_limit_statuses:
                self.rate_limited = RateLimited(self.policy.name, self._cooldown_until(response),
                                                f"HTTP {response.status_code} for {url}")
                raise self.rate_limited
            if not response.is_redirect:
                return response
            url = self.policy.resolve_redirect(url, response.headers["location"])
            method = "GET"
        raise FetchFailed(f"{self.policy.name}: more than {_MAX_REDIRECTS} redirects from {url}")

    @staticmethod
    def _block_signal(response: httpx.Response) -> str | None:
        """What in an answer says the site is blocking us, if anything."""
        if response.headers.get("cf-mitigated", "").lower() == "challenge":
            return f"a challenge (HTTP {response.status_code}, cf-mitigated: challenge)"
        if response.status_code == 202 and not response.content.strip():
            return "an empty HTTP 202"
        if "html" in response.headers.get("content-type", "") and (title := _TITLE.search(response.content[:4096])):
            text = " ".join(title[1].decode("utf-8", "replace").split()).casefold()
            # The whole title on a page that answered 200 (a film may be called "Access Denied"), its start otherwise.
            if text in CHALLENGE_TITLES or (response.status_code != 200 and text.startswith(CHALLENGE_TITLES)):
                return f"a challenge page ({text[:60]!r}, HTTP {response.status_code})"
        return None

    def _stop_blocked(self, reason: str, response: httpx.Response | None = None) -> Blocked:
        """Stop the run for a block: cool down for the policy's block time, or the answer's Retry-After within
        the policy's bounds; the block is logged."""
        now = datetime.now(UTC)
        low, high = self.policy.block_cooldown_bounds
        until = now + self.policy.block_cooldown
        if response is not None and response.headers.get("retry-after"):
            until = min(max(self._cooldown_until(response), now + low), now + high)
        self.rate_limited = self.rate_limited or Blocked(self.policy.name, until, reason)
        log.warning("%s", self.rate_limited)
        return self.rate_limited

    def _backoff(self, attempt: int) -> float:
        delay = min(self.policy.backoff_base_s * 2 ** (attempt - 1), self.policy.backoff_cap_s)
        return delay * self._rng.uniform(0.5, 1.5)

    def _cooldown_until(self, response: httpx.Response) -> datetime:
        now = datetime.now(UTC)
        retry_after = response.headers.get("retry-after", "")
        try:
            return now + timedelta(seconds=max(1, int(retry_after)))
        except ValueError:
            pass
        try:
            return max(now, parsedate_to_datetime(retry_after))
        except (TypeError, ValueError):
            return now + self.policy.default_cooldown

    # -- a batch of items --------------------------------------------------------------------

    async def run_items(
        self, items: Sequence[Item], handle: Callable[[SourceClient, Item], Awaitable[T]]
    ) -> list[ItemOutcome[Item]]:
        """Handle items concurrently; stop everything at the first rate-limit answer."""
        outcomes: dict[int, ItemOutcome[Item]] = {}

        async def one(index: int, item: Item) -> None:
            try:
                outcomes[index] = ItemOutcome(item, "done", value=await handle(self, item))
                self._missing_in_a_row = 0
            except MissingData as error:
                self._missing_in_a_row += 1
                if self._missing_in_a_row >= self.policy.missing_data_limit:
                    raise self._stop_blocked(f"{self._missing_in_a_row} pages in a row without the site's data "
                                             f"(last: {error})") from None
                outcomes[index] = ItemOutcome(item, "rejected", error=str(error), body=error.body, url=error.url,
                                              missing_data=True)
            except ParseError as error:
                outcomes[index] = ItemOutcome(item, "rejected", error=str(error), body=error.body, url=error.url)
            except HostNotAllowed as error:  # a redirect or guess pointing off the source's hosts
                outcomes[index] = ItemOutcome(item, "rejected", error=str(error))
            except (FetchFailed, httpx.HTTPError) as error:
                outcomes[index] = ItemOutcome(item, "failed", error=str(error))
            except RunStopped:
                pass  # not tried: the item is released
            except RateLimited:
                raise  # stops the whole batch (below)
            except Exception as error:  # a bug or an unforeseen answer: this item fails, the batch goes on
                outcomes[index] = ItemOutcome(item, "failed", error=f"unexpected {type(error).__name__}: {error}")

        self.check_cooldown()
        # Pages without data count in a row within a batch: the ones before the block are released with it, never
        # an attempt of a title whose batch was already stored.
        self._missing_in_a_row = 0
        if not self.stopped:
            tasks = [asyncio.create_task(one(i, item)) for i, item in enumerate(items)]
            pending: set[asyncio.Task] = set(tasks)
            while pending:
                done, pending = await asyncio.wait(pending, return_when=asyncio.FIRST_EXCEPTION)
                if any(not t.cancelled() and isinstance(t.exception(), RateLimited) for t in done):
                    for task in pending:
                        task.cancel()  # stop at once: what is in flight is abandoned, not retried
                    await asyncio.gather(*pending, return_exceptions=True)
                    pending = set()
        if isinstance(self.rate_limited, Blocked):  # pages without data before the block was seen: not judged
            return [outcome if outcome is not None and not outcome.missing_data else ItemOutcome(item, "not_tried")
                    for outcome, item in ((outcomes.get(i), item) for i, item in enumerate(items))]
        return [outcomes.get(i, ItemOutcome(item, "not_tried")) for i, item in enumerate(items)]


async def download(client: SourceClient, paths: Sequence[str]) -> list[bytes]:
    """Whole files (daily exports, datasets), in order; an answer other than 200 raises ParseError
    naming the file, so the asset fails before anything is written."""
    async with client:
        bodies = []
        for path in paths:
            response = await client.get(path)
            if response.status_code != 200:
                raise ParseError(f"{path}: {client.policy.name} answered HTTP {response.status_code}")
            bodies.append(response.content)
        return bodies
