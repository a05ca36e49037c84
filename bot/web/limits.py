"""In-process rate limits: login attempts per account name and per client address, and the
subscriber search and list per officer.

Each process keeps its own counts, so several web processes each allow as much; what must hold
across processes (the lockout after `console.max_failed_logins` wrong passwords) is counted in the
database by bot/web/auth.py. These limits slow what the lockout alone would let through: a burst of
parallel guesses, guessing many names from one address, and paging or searching through the
villagers to unmask phone numbers.
"""

from __future__ import annotations

import functools
import math
import re
import time
from collections import deque
from collections.abc import Callable, Hashable
from dataclasses import dataclass

from aiohttp import web

from bot.config import ConsoleConfig
from bot.keys import OFFICER
from bot.models import Subscriber
from bot.phones import normalise_phone
from bot.web.auth import Handler, error
from bot.web.view import render

SEARCHES_PER_MINUTE = 60
# Full-number lookups that find nobody, for roles that see masked phones: trying every middle
# digit of a masked number takes about 5,000 of them.
PHONE_MISSES_PER_HOUR = 20


class RateLimit:
    """At most `limit` hits per key in any `window` seconds (a sliding log of hit times per key)."""

    def __init__(self, limit: int, window: float, *, clock: Callable[[], float] = time.monotonic,
                 max_keys: int = 10_000) -> None:
        self.limit, self.window, self.clock, self.max_keys = limit, window, clock, max_keys
        self._hits: dict[Hashable, deque[float]] = {}

    def hit(self, key: Hashable) -> float:
        """Count a hit and return 0, or return the seconds until one is allowed (nothing counted).
        No await inside: parallel requests of one process are counted one after the other."""
        now = self.clock()
        hits = self._hits.pop(key, None) or deque()
        while hits and hits[0] <= now - self.window:
            hits.popleft()
        self._hits[key] = hits  # most recently used last: the first to go when there are too many keys
        if len(hits) >= self.limit:
            return max(hits[0] + self.window - now, 0.001)
        hits.append(now)
        if len(self._hits) > self.max_keys:
            self._forget()
        return 0.0

    def undo(self, key: Hashable) -> None:
        """Take back the latest hit (the attempt turned out to be one that is not limited)."""
        if hits := self._hits.get(key):
            hits.pop()

    def clear(self, key: Hashable) -> None:
        self._hits.pop(key, None)

    def _forget(self) -> None:
        horizon = self.clock() - self.window
        for key in [k for k, hits in self._hits.items() if not hits or hits[-1] <= horizon]:
            del self._hits[key]
        for key in list(self._hits)[: max(0, len(self._hits) - self.max_keys * 9 // 10)]:
            del self._hits[key]


@dataclass
class Limits:
    login_name: RateLimit
    login_address: RateLimit
    searches: RateLimit
    phone_misses: RateLimit

    @classmethod
    def for_console(cls, config: ConsoleConfig) -> Limits:
        """Login: 2 × max_failed_logins attempts per account name and 6 × per client address within
        lockout_minutes (10 and 30 in 15 minutes by default); a successful login does not count.
        Subscriber search and list: 60 requests a minute per officer, and 20 full-number lookups
        that find nobody an hour per officer who sees masked phones."""
        window = config.lockout_minutes * 60.0
        return cls(login_name=RateLimit(2 * config.max_failed_logins, window),
                   login_address=RateLimit(6 * config.max_failed_logins, window),
                   searches=RateLimit(SEARCHES_PER_MINUTE, 60.0),
                   phone_misses=RateLimit(PHONE_MISSES_PER_HOUR, 3600.0, max_keys=1000))

    def login_attempt(self, name: str, address: str) -> float:
        """0 when this attempt may go ahead (counted against the name and the address), else the
        seconds to wait."""
        name_key = name[:50]
        if wait := self.login_name.hit(name_key):
            return wait
        if wait := self.login_address.hit(address):
            self.login_name.undo(name_key)
            return wait
        return 0.0

    def login_succeeded(self, name: str, address: str) -> None:
        self.login_name.undo(name[:50])
        self.login_address.undo(address)


LIMITS = web.AppKey("limits", Limits)


def retry_after(seconds: float) -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def _full_number(query: str) -> str | None:
    """The phone number `q` names in full, as the subscriber search reads it (bot/villagers/service.py)."""
    q = query.strip()[:50]
    digits = re.sub(r"\D", "", q)
    if digits and re.fullmatch(r"[\d\s+\-()]+", q):
        return normalise_phone(q)
    return None


def searches(handler: Handler) -> Handler:
    """Rate-limit a subscriber search or list route per officer (put it under @auth.page or
    @requires): 429 with Retry-After, as {"error": …} on the API and as a page in the console."""

    @functools.wraps(handler)
    async def limited(request: web.Request) -> web.StreamResponse:
        officer = request[OFFICER]
        limits = request.app[LIMITS]
        wait = limits.searches.hit(officer.id)
        reason = f"查询太频繁：每个账号每分钟最多查询 {SEARCHES_PER_MINUTE} 次，请 {math.ceil(wait)} 秒后再试。"
        if not wait and officer.role != "admin" and (phone := _full_number(request.query.get("q", ""))):
            # Refused whether the number exists or not once the budget is spent: the answer says nothing.
            if wait := limits.phone_misses.hit(officer.id):
                reason = (f"按完整号码查找且没有找到的次数太多（每小时最多 {PHONE_MISSES_PER_HOUR} 次），"
                          f"请 {math.ceil(wait / 60)} 分钟后再试。")
            elif await Subscriber.exists(phone=phone):
                limits.phone_misses.undo(officer.id)
        if not wait:
            return await handler(request)
        if request.path.startswith("/api/"):
            response = error(429, reason)
        else:
            response = render(request, "forbidden.html", {"reason": reason}, status=429)
        response.headers.update(retry_after(wait))
        return response

    return limited
