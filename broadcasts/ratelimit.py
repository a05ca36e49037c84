"""A token bucket per channel: sends wait for their cost (SMS segments) at a steady rate."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    def __init__(self, rate: float, burst: float | None = None) -> None:
        self.rate = rate  # tokens per second; 0 means unlimited
        self.capacity = burst if burst is not None else max(rate, 1.0)
        self._tokens = self.capacity
        self._stamp = time.monotonic()
        self._lock = asyncio.Lock()

    async def take(self, cost: float = 1.0) -> None:
        if self.rate <= 0:
            return
        async with self._lock:  # first come, first served
            while True:
                now = time.monotonic()
                self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
                self._stamp = now
                if self._tokens >= min(cost, self.capacity):
                    self._tokens -= cost
                    return
                await asyncio.sleep((min(cost, self.capacity) - self._tokens) / self.rate)
