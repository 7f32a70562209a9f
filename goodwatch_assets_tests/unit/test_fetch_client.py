"""The fetch client and its pacing, without a server: answers come from a mock transport."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from goodwatch_assets.errors import ParseError
from goodwatch_assets.fetching.client import SourceClient
from goodwatch_assets.fetching.ratelimit import RateLimiter
from goodwatch_assets.sources import tvtropes


def test_a_broken_part_of_a_title_is_fetched_again_before_the_title_fails():
    answers = {"/flaky": [b"broken", b"broken", b"good"], "/broken": [b"broken"] * 3, "/gone": []}
    sent = Counter()

    def upstream(request: httpx.Request) -> httpx.Response:
        sent[request.url.path] += 1
        bodies = answers[request.url.path]
        return httpx.Response(200, content=bodies.pop(0)) if bodies else httpx.Response(404)

    def parse(body: bytes) -> str:
        if body != b"good":
            raise ParseError("not good", body)
        return body.decode()

    async def go():
        policy = replace(tvtropes.SPEC.site, base_url="http://127.0.0.1:9", requests_per_second=1000)
        async with SourceClient(policy, transport=httpx.MockTransport(upstream)) as client:
            flaky, gone = await client.get_part("/flaky", parse), await client.get_part("/gone", parse)
            with pytest.raises(ParseError, match="not good") as broken:
                await client.get_part("/broken", parse)
            return flaky, gone, broken.value

    flaky, gone, broken = asyncio.run(go())
    assert (flaky, gone, broken.body) == ("good", None, b"broken")
    assert sent == {"/flaky": 3, "/broken": 3, "/gone": 1}  # the policy's 3 tries, no more




def test_the_rate_limiter_spaces_requests():
    async def go():
        limiter = RateLimiter(rate=200, burst=1)
        times = []
        for _ in range(21):
            await limiter.acquire()
            times.append(time.monotonic())
        return times

    times = asyncio.run(go())
    # The schedule is fixed (one slot every 5 ms): a late wake-up shortens the next gap, never the total.
    assert 0.0999 <= times[-1] - times[0] <= 0.2
    assert all(times[k] - times[0] >= 0.005 * k - 0.001 for k in range(len(times)))


class Registry:
    """A cool-down registry that remembers what it was told."""

    def __init__(self):
        self.blocks, self.rate_limits = [], []

    def active_until(self, source):
        return None

    def pace(self, source):
        return 1.0

    def record(self, source, until, reason):
        self.rate_limits.append((source, until, reason))

    def block(self, source, until, reason):
        self.blocks.append((source, until, reason))

    def recover(self, source):
        pass


CHALLENGE = b"<html><head><title>Just a moment...</title></head><body>Checking your browser</body></html>"


@pytest.mark.parametrize(("answer", "signal"), [
    (httpx.Response(403, content=CHALLENGE, headers={"cf-mitigated": "challenge", "content-type": "text/html"}),
     "cf-mitigated: challenge"),
    (httpx.Response(202, content=b""), "an empty HTTP 202"),
    (httpx.Response(200, content=CHALLENGE, headers={"content-type": "text/html; charset=utf-8"}), "a challenge page"),
])
def test_a_block_stops_the_run_for_a_day_and_nothing_is_judged(answer, signal):
    registry, sent = Registry(), Counter()

    def upstream(request: httpx.Request) -> httpx.Response:
        sent[request.url.path] += 1
        return answer

    async def handle(client, item):
        response = await client.get(f"/page/{item}")
        return tvtropes.parse_article(response.content)  # never reached: the answer is a block

    async def go():
        policy = replace(tvtropes.SPEC.site, base_url="http://127.0.0.1:9", requests_per_second=1000, concurrency=1)
        async with SourceClient(policy, registry, transport=httpx.MockTransport(upstream)) as client:
            return await client.run_items(list(range(5)), handle), client

    before = datetime.now(UTC)
    outcomes, client = asyncio.run(go())
    assert [o.state for o in outcomes] == ["not_tried"] * 5  # released: a block is never "no score"
    assert sum(sent.values()) == 1 and client.stopped
    ((site, until, reason),) = registry.blocks
    assert site == "tvtropes" and signal in reason and not registry.rate_limits  # a block, not a rate: the pace stays
    assert timedelta(hours=23, minutes=59) < until - before < timedelta(hours=24, minutes=1)


@pytest.mark.parametrize(("retry_after", "hours"), [("10", 1), ("7200", 2), (str(30 * 86400), 7 * 24)])
def test_a_blocks_retry_after_is_kept_within_an_hour_and_a_week(retry_after, hours):
    registry = Registry()

    def upstream(request: httpx.Request) -> httpx.Response:
        return httpx.Response(403, headers={"cf-mitigated": "challenge", "retry-after": retry_after})

    async def go():
        policy = replace(tvtropes.SPEC.site, base_url="http://127.0.0.1:9", requests_per_second=1000)
        async with SourceClient(policy, registry, transport=httpx.MockTransport(upstream)) as client:
            await client.run_items([1], lambda c, i: c.get("/x"))

    before = datetime.now(UTC)
    asyncio.run(go())
    ((_, until, _),) = registry.blocks
    assert abs((until - before) - timedelta(hours=hours)) < timedelta(minutes=1)


def test_pages_without_the_sites_data_three_in_a_row_are_a_block():
    registry, sent = Registry(), Counter()
    consent = b"<html><head><title>Welcome</title></head><body><div id='consent'>We value your privacy</div></body></html>"
    article = (b"<html><head><title>Heat (Film) - TV Tropes</title></head><body><div id='main-article'><p>x</p>"
               b"<h2>Tropes</h2><ul><li><a href='/pmwiki/pmwiki.php/Main/Foo'>Foo</a></li></ul></div></body></html>")

    def upstream(request: httpx.Request) -> httpx.Response:
        sent[request.url.path] += 1
        good = request.url.path == "/page/0"
        return httpx.Response(200, content=article if good else consent, headers={"content-type": "text/html"})

    async def handle(client, item):
        response = await client.get(f"/page/{item}")
        return tvtropes.parse_article(response.content)

    async def go():
        policy = replace(tvtropes.SPEC.site, base_url="http://127.0.0.1:9", requests_per_second=1000, concurrency=1)
        async with SourceClient(policy, registry, transport=httpx.MockTransport(upstream)) as client:
            return await client.run_items(list(range(6)), handle)

    outcomes = asyncio.run(go())
    assert [o.state for o in outcomes] == ["done"] + ["not_tried"] * 5
    assert sum(sent.values()) == 4  # the good page, then three without data: stopped
    ((_, _, reason),) = registry.blocks
    assert "3 pages in a row without the site's data" in reason


def test_a_missing_data_page_between_good_ones_is_only_a_rejected_page():
    registry = Registry()
    pages = {0: b"<html><body>nothing</body></html>"}

    async def handle(client, item):
        body = pages.get(item, b"<html><body><div id='main-article'><ul></ul></div></body></html>")
        return tvtropes.parse_article(body)

    async def go():
        policy = replace(tvtropes.SPEC.site, base_url="http://127.0.0.1:9", requests_per_second=1000, concurrency=1)
        async with SourceClient(policy, registry, transport=httpx.MockTransport(lambda r: httpx.Response(404))) as c:
            return await c.run_items([0, 1, 2], handle)

    outcomes = asyncio.run(go())
    assert [o.state for o in outcomes] == ["rejected", "done", "done"] and not registry.blocks
