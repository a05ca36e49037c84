"""The compose form: what its audience checkboxes offer, and the form read into the API's JSON body
with obvious mistakes refused in Chinese."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, cast
from zoneinfo import ZoneInfo

from multidict import MultiDictProxy
from tortoise.queryset import QuerySet

from bot import sandbox
from bot.config import Config
from bot.labels import BROADCAST_KINDS, CHANNEL_NAMES
from bot.models import TOPICS, Subscriber, unpack_set
from bot.web import auth
from broadcasts import schedules, service
from broadcasts.models import KINDS
from broadcasts.wording import WEEKDAYS

SCHEDULE_MODES = {"now": "立即发送（审批后）", "at": "指定时间发送一次", "daily": "每天", "weekly": "每周",
                  "monthly": "每月", "calendar": "按农时（各乡镇日期）", "after_registration": "农户注册后第几天",
                  "cron": "高级：cron 定时规则"}


class FormError(ValueError):
    """Input the compose form cannot accept; the message is shown to the officer as is."""


async def _flat(query: QuerySet[Subscriber], column: str) -> list[str]:
    """The distinct values of one text column (Tortoise's stubs only know values_list's tuple form)."""
    return cast(list[str], await query.distinct().values_list(column, flat=True))


async def choices() -> dict[str, Any]:
    """What the audience checkboxes offer: what active subscribers actually have."""
    active = Subscriber.filter(sandbox.real(), status="active")
    towns = await active.exclude(township="").distinct().values_list("township", flat=True)
    villages: dict[str, set[str]] = {}
    for village, town in await active.exclude(village="").distinct().values_list("village", "township"):
        villages.setdefault(village, set()).add(town)
    crops = {c for packed in await _flat(active.exclude(crops=""), "crops") for c in unpack_set(packed)}
    topics = {t for packed in await _flat(active.exclude(topics=""), "topics") for t in unpack_set(packed)}
    return {
        "townships": sorted(towns),
        "villages": [(v, "、".join(sorted(t for t in villages[v] if t))) for v in sorted(villages)],
        "crops": sorted(crops), "topics": [*TOPICS, *sorted(topics - set(TOPICS))],
        "subscribers": await active.count(),
    }


def context(form: MultiDictProxy[Any] | None, config: Config) -> dict[str, Any]:
    values = {k: str(v) for k, v in (form or {}).items() if k != auth.CSRF_FIELD}
    chosen = {name: set(map(str, form.getall(name, []))) if form is not None else set()
              for name in ("townships", "villages", "crops", "topics", "channels", "weekly_days")}
    calendar = dict(zip(map(str, form.getall("cal_town", [])), map(str, form.getall("cal_date", [])),
                        strict=False)) if form is not None else {}
    now = datetime.now(config.tz)
    return {
        "values": values, "chosen": chosen, "calendar": calendar, "kinds": BROADCAST_KINDS, "modes": SCHEDULE_MODES,
        "weekdays": WEEKDAYS, "channel_names": CHANNEL_NAMES, "max_text": service.MAX_TEXT,
        "min_at": f"{now:%Y-%m-%dT%H:%M}", "signature": config.sms.signature,
        "grace": config.broadcasts.grace_minutes,
    }


def _hhmm(form: MultiDictProxy[Any], name: str) -> str:
    value = str(form.get(name, "")).strip()[:5]  # a browser may send 08:00:00
    if not schedules.HHMM.match(value):
        raise FormError("请填写发送时刻，例如 08:00。")
    return value if len(value) == 5 else "0" + value


def _whole(form: MultiDictProxy[Any], name: str, low: int, high: int, what: str) -> int:
    raw = str(form.get(name, "")).strip()
    if not re.fullmatch(r"-?\d+", raw) or not low <= int(raw) <= high:
        raise FormError(f"{what}请填 {low} 到 {high} 之间的整数。")
    return int(raw)


def schedule_from(form: MultiDictProxy[Any], tz: ZoneInfo, now: datetime) -> dict[str, Any] | None:
    """The schedule JSON (see broadcasts/schedules.py) for what the form's schedule section says."""
    mode = str(form.get("schedule", "now"))
    if mode == "now":
        return None
    if mode == "at":
        raw = str(form.get("at", "")).strip()
        try:
            when = datetime.fromisoformat(raw)
        except ValueError:
            raise FormError("请选择发送的日期和时间。") from None
        when = when if when.tzinfo else when.replace(tzinfo=tz)
        if when <= now:
            raise FormError("指定的发送时间已经过去，请选一个以后的时间。")
        return {"at": when.isoformat()}
    if mode == "daily":
        return {"daily": _hhmm(form, "daily_time")}
    if mode == "weekly":
        days = [d for d in WEEKDAYS if d in form.getall("weekly_days", [])]
        if not days:
            raise FormError("请勾选每周哪几天发送。")
        return {"weekly": {"days": days, "time": _hhmm(form, "weekly_time")}}
    if mode == "monthly":
        return {"monthly": {"day": _whole(form, "monthly_day", 1, 31, "每月几号"),
                            "time": _hhmm(form, "monthly_time")}}
    if mode == "calendar":
        dates = {str(town).strip(): str(day).strip() for town, day in
                 zip(form.getall("cal_town", []), form.getall("cal_date", []), strict=False)
                 if str(town).strip() and str(day).strip()}
        if not dates:
            raise FormError("按农时发送：请至少给一个乡镇填写农时日期。")
        value = {"dates": dates, "offset_days": -_whole(form, "cal_before", 0, 60, "提前天数"),
                 "time": _hhmm(form, "cal_time")}
        try:
            firings = schedules.calendar_firings(value, tz)
        except ValueError:
            raise FormError("农时日期格式不对，请用日期选择框选择。") from None
        if all(when <= now for when in firings):
            raise FormError("按农时算出的发送日期都已经过去，请检查日期和提前天数。")
        return {"calendar": value}
    if mode == "after_registration":
        return {"after_registration": {"days": _whole(form, "reg_days", 0, 365, "注册后天数"),
                                       "time": _hhmm(form, "reg_time")}}
    if mode == "cron":
        expression = " ".join(str(form.get("cron", "")).split())
        if not expression:
            raise FormError("请填写 cron 定时规则，例如 “0 8 * * 1” 表示每周一 8:00。")
        return {"cron": expression}
    raise FormError("请选择发送时间。")


def body_from(form: MultiDictProxy[Any], tz: ZoneInfo, now: datetime) -> dict[str, Any]:
    """The JSON the API's create takes, from the compose form; obvious mistakes refused in Chinese."""
    kind = str(form.get("kind", ""))
    if kind not in KINDS:
        raise FormError("请选择群发类型。")
    text = str(form.get("text", "")).strip()
    if not text:
        raise FormError("请填写群发内容。")
    if len(text) > service.MAX_TEXT:
        raise FormError(f"群发内容最多 {service.MAX_TEXT} 个字，现在有 {len(text)} 个字。")
    audience = {name: [str(v) for v in form.getall(name, [])]
                for name in ("townships", "villages", "crops", "topics", "channels")}
    return {"kind": kind, "text": text, "audience": {k: v for k, v in audience.items() if v},
            "schedule": schedule_from(form, tz, now),
            "spread_minutes": _whole(form, "spread_minutes", 0, 24 * 60, "分散发送时长（分钟）")
            if str(form.get("spread_minutes", "")).strip() else 0}
