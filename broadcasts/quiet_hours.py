"""Quiet hours: the local times when no bulk message goes out ("21:00-07:30" spans midnight)."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo


def parse(spec: str) -> tuple[time, time] | None:
    if not spec:
        return None
    start, end = spec.split("-")
    return time.fromisoformat(start), time.fromisoformat(end)


def is_quiet(spec: str, now: datetime, tz: ZoneInfo) -> bool:
    window = parse(spec)
    if window is None:
        return False
    start, end = window
    local = now.astimezone(tz).time()
    if start <= end:
        return start <= local < end
    return local >= start or local < end
