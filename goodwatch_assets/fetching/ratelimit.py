"""Pacing requests: a generic cell rate algorithm (GCRA) for asyncio.

Requests are spaced ``1 / rate`` apart; after an idle spell up to ``burst`` may go at once.
Waiters are served in arrival order.
"""

from __future__ import annotations

import asyncio
import time


class RateLimiter:
    def __init__(self, rate: float, burst: int = 1, clock=time.monotonic):
        if rate <= 0 or burst < 1:
            raise ValueError(f"need rate > 0 and burst >= 1, got rate={rate}, burst={burst}")
        self.interval = 1.0 / rate
        self.burst = burst
        self._clock = clock
        self._next_free = 0.0  # the theoretical arrival time of the next request
        self._lock = asyncio.Lock()

    async def acquire(self) -> None:
        async with self._lock:
            now = self._clock()
            arrival = max(self._next_free, now)
            allowed_at = arrival - (self.burst - 1) * self.interval
            if allowed_at > now:
                await asyncio.sleep(allowed_at - now)
            self._next_free = arrival + self.interval
