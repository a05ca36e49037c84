"""Answers worked out a few at a time, newest first under overload, and the ones that go out later."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

from aiohttp import web

from bot.channels.webhooks import drain

log = logging.getLogger("nongbot.wechat")

DRAIN = 10.0  # s that shutdown waits for answers still going out by customer-service message
# Answers worked out at once. Under overload more would only lengthen every turn of the event loop,
# and with it every request's time to "success"; the others wait their turn (see Slots).
WORKERS = 16


class Slots:
    """At most `size` answers worked out at once. Messages still inside their reply budget go before
    answers already deferred (those have WeChat's 48 hours), and among them the newest first: under
    overload a message just in still has its whole budget to be answered passively, while one that
    has waited is deferred when its turn does not come in time (and no slot is spent on an answer
    that would miss its deadline anyway). Deferred answers go in arrival order."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._urgent: collections.deque[asyncio.Future[None]] = collections.deque()
        self._later: collections.deque[asyncio.Future[None]] = collections.deque()

    def try_acquire(self) -> bool:
        if self.free > 0:  # waiters are handed a freed slot directly, so none are waiting now
            self.free -= 1
            return True
        return False

    async def acquire(self, urgent: bool) -> None:
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._later
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot just as the caller gave up: pass it on
            else:
                with contextlib.suppress(ValueError):
                    queue.remove(waiter)
            raise

    def release(self) -> None:
        for take in (self._urgent.pop, self._later.popleft):
            while True:
                try:
                    waiter = take()
                except IndexError:
                    break
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self.free += 1

    @contextlib.asynccontextmanager
    async def held(self, urgent: bool) -> AsyncIterator[None]:
        await self.acquire(urgent)
        try:
            yield
        finally:
            self.release()


class Pending:
    """Answers that missed the passive-reply budget, finishing and going out in the background, and
    the slots every answer is worked out in."""

    def __init__(self, drain: float = DRAIN, workers: int | None = None) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self.drain = drain
        self.slots = Slots(workers or WORKERS)
        self._deferred: dict[str, float] = {}

    def defer(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        self.mark(key)
        self.spawn(work)

    def mark(self, key: str) -> None:
        now = time.monotonic()
        # WeChat retries for about 15 s; a retry of a deferred message must not be answered passively too.
        # Oldest first (insertion order): forgetting the expired ones costs nothing per message.
        while self._deferred:
            oldest = next(iter(self._deferred))
            if now - self._deferred[oldest] < 60.0:
                break
            del self._deferred[oldest]
        self._deferred.pop(key, None)
        self._deferred[key] = now

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def deferred(self, key: str) -> bool:
        return key in self._deferred

    async def close(self) -> None:
        if late := await drain(set(self.tasks), self.drain):
            log.warning("shutdown cancelled %d answers still going out", late)


PENDING: web.AppKey[Pending] = web.AppKey("wechat_pending")
