"""Pacing per channel: sends wait for their cost (SMS segments) at a steady rate, in one process
(a token bucket) or across every worker sharing a PostgreSQL database (a row per channel)."""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    def __init__(self, channel: str, rate: float, burst: float | None = None) -> None:
        self.channel = channel
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


class SharedBucket:
    """The rate is for all workers together: each send pushes the channel's theoretical arrival time
    (a row in rate_bucket) forward by cost/rate in one UPDATE, and waits until its own slot."""

    SQL = (
        "UPDATE rate_bucket SET tat = GREATEST(tat, clock_timestamp()) + make_interval(secs => $2) "
        "WHERE channel = $1 "
        "RETURNING EXTRACT(EPOCH FROM (tat - make_interval(secs => $2) - clock_timestamp()))::float8 AS wait"
    )

    def __init__(self, channel: str, rate: float) -> None:
        self.channel = channel
        self.rate = rate
        self._ready = False

    async def take(self, cost: float = 1.0) -> None:
        if self.rate <= 0:
            return
        from tortoise import connections  # the ORM is up by the time anything is sent

        conn = connections.get("default")
        if not self._ready:
            await conn.execute_query(
                "INSERT INTO rate_bucket (channel, tat) VALUES ($1, clock_timestamp()) ON CONFLICT DO NOTHING",
                [self.channel])
            self._ready = True
        rows = await conn.execute_query_dict(self.SQL, [self.channel, cost / self.rate])
        wait = float(rows[0]["wait"])
        if wait > 0:
            await asyncio.sleep(wait)
