"""Broadcast schedules as APScheduler triggers in the county's time zone, and the firings they imply."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger

DAY_NAMES = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


class ScheduleError(ValueError):
    """A schedule that cannot be understood; the message names the field."""


@dataclass(frozen=True)
class Plan:
    """What a schedule means: triggers to wake on, and whether it recurs."""

    triggers: tuple[BaseTrigger, ...]
    recurring: bool


def _hhmm(value: Any, field: str) -> tuple[int, int]:
    match = HHMM.match(str(value or ""))
    if not match:
        raise ScheduleError(f"schedule.{field}: expected HH:MM, got {value!r}")
    return int(match.group(1)), int(match.group(2))


def _dow(field: str) -> str:
    """Standard cron day-of-week (0 or 7 = Sunday) to names: APScheduler 3 counts 0 as Monday."""

    def name(token: str) -> str:
        if token.isdigit():
            number = int(token)
            if not 0 <= number <= 7:
                raise ScheduleError(f"schedule.cron: day of week {token} out of range")
            return DAY_NAMES[number % 7]
        return token

    out = []
    for part in field.split(","):
        step = ""
        if "/" in part:
            part, step = part.split("/", 1)
            step = "/" + step
        if "-" in part:
            low, high = part.split("-", 1)
            out.append(f"{name(low)}-{name(high)}{step}")
        else:
            out.append(name(part) + step)
    return ",".join(out)


def cron_trigger(expression: str, tz: ZoneInfo) -> CronTrigger:
    parts = expression.split()
    if len(parts) != 5:
        raise ScheduleError(f"schedule.cron: expected 5 fields (minute hour day month weekday), got {expression!r}")
    minute, hour, day, month, weekday = parts
    try:
        return CronTrigger(minute=minute, hour=hour, day=day, month=month, day_of_week=_dow(weekday), timezone=tz)
    except ValueError as exc:
        raise ScheduleError(f"schedule.cron: {exc}") from None


def parse(schedule: dict[str, Any] | None, tz: ZoneInfo, now: datetime) -> Plan:
    """None: as soon as approved. {"at"}, {"cron"}, {"daily"}, {"weekly"}, {"monthly"},
    {"calendar"} (per-township crop dates), {"after_registration"}."""
    if not schedule:
        return Plan((DateTrigger(now, timezone=tz),), recurring=False)
    if not isinstance(schedule, dict) or len(schedule) != 1:
        raise ScheduleError("schedule: expected null or an object with one key (at, cron, daily, weekly, "
                            "monthly, calendar, after_registration)")
    kind, value = next(iter(schedule.items()))
    if kind == "at":
        try:
            when = datetime.fromisoformat(str(value))
        except ValueError:
            raise ScheduleError(f"schedule.at: expected an ISO date-time, got {value!r}") from None
        when = when if when.tzinfo else when.replace(tzinfo=tz)
        return Plan((DateTrigger(when, timezone=tz),), recurring=False)
    if kind == "cron":
        return Plan((cron_trigger(str(value), tz),), recurring=True)
    if kind == "daily":
        hour, minute = _hhmm(value, "daily")
        return Plan((CronTrigger(hour=hour, minute=minute, timezone=tz),), recurring=True)
    if kind == "weekly":
        days = value.get("days") if isinstance(value, dict) else None
        if not days or not all(d in DAY_NAMES for d in days):
            raise ScheduleError(f"schedule.weekly.days: expected names from {', '.join(DAY_NAMES)}")
        hour, minute = _hhmm(value.get("time"), "weekly.time")
        return Plan((CronTrigger(day_of_week=",".join(days), hour=hour, minute=minute, timezone=tz),), True)
    if kind == "monthly":
        day = value.get("day") if isinstance(value, dict) else None
        if not isinstance(day, int) or not 1 <= day <= 31:
            raise ScheduleError("schedule.monthly.day: expected 1-31")
        hour, minute = _hhmm(value.get("time"), "monthly.time")
        return Plan((CronTrigger(day=day, hour=hour, minute=minute, timezone=tz),), recurring=True)
    if kind == "calendar":
        return Plan(tuple(DateTrigger(when, timezone=tz) for when in calendar_firings(value, tz)), recurring=True)
    if kind == "after_registration":
        if not isinstance(value, dict) or not isinstance(value.get("days"), int) or value["days"] < 0:
            raise ScheduleError("schedule.after_registration.days: expected a whole number of days >= 0")
        hour, minute = _hhmm(value.get("time"), "after_registration.time")
        return Plan((CronTrigger(hour=hour, minute=minute, timezone=tz),), recurring=True)
    raise ScheduleError(f"schedule: unknown kind {kind!r}")


def calendar_firings(value: Any, tz: ZoneInfo) -> list[datetime]:
    """{"dates": {"关防乡": "2027-04-10", …}, "offset_days": -3, "time": "08:00"}: one firing per
    distinct date (townships sharing a date share a run)."""
    if not isinstance(value, dict) or not isinstance(value.get("dates"), dict) or not value["dates"]:
        raise ScheduleError("schedule.calendar.dates: expected {township: YYYY-MM-DD, …}")
    offset = value.get("offset_days", 0)
    if not isinstance(offset, int):
        raise ScheduleError("schedule.calendar.offset_days: expected a whole number of days")
    hour, minute = _hhmm(value.get("time", "08:00"), "calendar.time")
    firings = set()
    for township, day in value["dates"].items():
        try:
            base = date.fromisoformat(str(day))
        except ValueError:
            raise ScheduleError(f"schedule.calendar.dates.{township}: expected YYYY-MM-DD") from None
        firings.add(datetime.combine(base + timedelta(days=offset), time(hour, minute), tz))
    return sorted(firings)


def run_audience(schedule: dict[str, Any] | None, audience: dict[str, Any], fire_at: datetime,
                 tz: ZoneInfo) -> dict[str, Any]:
    """The audience of one firing: calendars narrow it to the townships due that day, registration
    campaigns to the people who registered N days before it."""
    if not schedule:
        return audience
    if "calendar" in schedule:
        value = schedule["calendar"]
        offset = value.get("offset_days", 0)
        day = fire_at.astimezone(tz).date()
        towns = [t for t, d in value["dates"].items() if date.fromisoformat(d) + timedelta(days=offset) == day]
        return {**audience, "townships": towns}
    if "after_registration" in schedule:
        day = fire_at.astimezone(tz).date() - timedelta(days=schedule["after_registration"]["days"])
        start = datetime.combine(day, time(0), tz)
        return {**audience, "registered_after": start.isoformat(),
                "registered_before": (start + timedelta(days=1)).isoformat()}
    return audience
