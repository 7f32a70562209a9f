"""The fetch client and its pacing, without a server: answers come from a mock transport."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import replace

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
