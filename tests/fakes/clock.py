"""A fake clock: a now() the test sets, and sleeps that end when the test advances time, not in real time."""

from __future__ import annotations

import asyncio
import heapq
import itertools
import types
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

import pytest

START = datetime(2026, 3, 2, 8, 0, tzinfo=UTC)  # a Monday, 16:00 in Beijing


class FakeClock:
    """Wall time (now), monotonic time and sleeping, all under the test's control.

    `install(monkeypatch, module)` makes a module's `datetime.now`, `time.monotonic`, `time.time` and
    `asyncio.sleep` this clock's (only in that module: the event loop and everything else keep real
    time). A sleeping task wakes when `advance` moves the clock past its deadline."""

    def __init__(self, start: datetime = START) -> None:
        self._now = start
        self._mono = 1000.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._order = itertools.count()
        self._sleeping = asyncio.Event()

    def now(self, tz: tzinfo | None = None) -> datetime:
        return datetime.fromtimestamp(self.time(), tz)

    def set(self, when: datetime) -> None:
        """Jump the wall clock (not monotonic time: it never goes back)."""
        self._now = when

    def monotonic(self) -> float:
        return self._mono

    def time(self) -> float:
        return self._now.timestamp()

    async def sleep(self, seconds: float, result: Any = None) -> Any:
        if seconds <= 0:
            await _real_sleep(0)
            return result
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._order), future))
        self._sleeping.set()
        await future
        return result

    @property
    def sleepers(self) -> int:
        return sum(1 for _, _, f in self._sleepers if not f.done())

    async def until_sleeping(self, count: int = 1, seconds: float = 5.0) -> None:
        """Return once `count` tasks sleep on this clock (the code under test reached its wait)."""
        async with asyncio.timeout(seconds):
            while self.sleepers < count:
                self._sleeping.clear()
                await self._sleeping.wait()

    async def advance(self, seconds: float) -> None:
        """Move time forward, waking each sleeper whose deadline passes in order and letting it run
        until it waits again (so a loop that sleeps repeatedly runs once per period crossed)."""
        end = self._mono + seconds
        while self._sleepers and self._sleepers[0][0] <= end:
            deadline, _, future = heapq.heappop(self._sleepers)
            self._step_to(deadline)
            if not future.done():
                future.set_result(None)
            for _ in range(20):  # let the woken task run up to its next await
                await _real_sleep(0)
        self._step_to(end)

    def _step_to(self, mono: float) -> None:
        if mono > self._mono:
            self._now += timedelta(seconds=mono - self._mono)
            self._mono = mono

    def install(self, monkeypatch: pytest.MonkeyPatch, module: types.ModuleType) -> None:
        """Point the module's names `datetime`, `time` and `asyncio` (whichever it has) at this clock."""
        names = vars(module)
        if names.get("datetime") is datetime:
            monkeypatch.setattr(module, "datetime", self._datetime_class())
        if isinstance(names.get("time"), types.ModuleType):
            monkeypatch.setattr(module, "time", types.SimpleNamespace(monotonic=self.monotonic, time=self.time))
        if names.get("asyncio") is asyncio:
            monkeypatch.setattr(module, "asyncio", _AsyncioWithSleep(self))

    def _datetime_class(self) -> type[datetime]:
        clock = self

        class ClockedDatetime(metaclass=_DatetimeLike):
            """datetime itself in all but now(); its values are real datetimes (databases take them)."""

            def __new__(cls, *args: Any, **kwargs: Any) -> datetime:  # type: ignore[misc]  # builds a datetime
                return datetime(*args, **kwargs)

            @staticmethod
            def now(tz: tzinfo | None = None) -> datetime:
                return clock.now(tz)

        return ClockedDatetime  # type: ignore[return-value]  # stands in for datetime, see _DatetimeLike


class _DatetimeLike(type):
    """The class of a datetime stand-in: isinstance and every class attribute but its own go to datetime."""

    def __instancecheck__(cls, instance: object) -> bool:
        return isinstance(instance, datetime)

    def __getattr__(cls, name: str) -> Any:
        return getattr(datetime, name)


_real_sleep = asyncio.sleep


class _AsyncioWithSleep(types.ModuleType):
    """The asyncio module as one module sees it: everything real except sleep."""

    def __init__(self, clock: FakeClock) -> None:
        super().__init__("asyncio")
        self.sleep = clock.sleep

    def __getattr__(self, name: str) -> Any:
        return getattr(asyncio, name)
