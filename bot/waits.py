"""Waiting for something until a deadline: a row another request is still writing, a state it moves to."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(wait: float, attempt: Callable[[], Awaitable[T | None]], step: float = 0.1) -> T | None:
    """Call `attempt` until it returns something or `wait` seconds have passed (then its last None)."""
    deadline = time.monotonic() + wait
    while True:
        found = await attempt()
        if found is not None or time.monotonic() >= deadline:
            return found
        await asyncio.sleep(step)
