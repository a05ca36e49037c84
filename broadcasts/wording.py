"""What officers read about a broadcast: the service's refusals, its audience, schedule and progress in Chinese."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from bot.labels import BROADCAST_STATES, CHANNEL_NAMES, RUN_STATES
from bot.web.view import translate
from broadcasts import service

WEEKDAYS = {"mon": "周一", "tue": "周二", "wed": "周三", "thu": "周四", "fri": "周五", "sat": "周六", "sun": "周日"}
ACTION_NAMES = {"approve": "批准", "reject": "驳回", "pause": "暂停", "resume": "继续", "cancel": "取消",
                "edit": "修改"}


# The service's refusals (English, for the API's callers) as officers read them; the first match wins.
REFUSALS = (
    (r"own broadcast", "不能审批自己提交的群发，请另一位审核员审批。"),
    (r"^only a supervisor", "只有审核员可以审批或驳回群发。"),
    (r"^only its writer", "只有提交人或审核员可以修改这条群发。"),
    (r"^schedule\.cron", "cron 定时规则写法不对：应为 5 段，依次是 分 时 日 月 星期，"
                         "例如 “0 8 * * 1” 表示每周一 8:00。"),
    (r"(?s)^(schedule.*)", "发送时间设置不对（{0}）。"),
    (r"(?s)^(audience.*)", "收件人条件不对（{0}）。"),
    (r"^kind", "请选择群发类型。"),
    (r"(?s)^text: (「.*)", "群发内容提到{0}。请改掉后再提交。"),
    (r"^text", f"群发内容不能为空，最多 {service.MAX_TEXT} 个字。"),
    (r"^spread_minutes", "分散发送时长请填 0 到 1440 之间的整数（分钟）。"),
)


def chinese(exc: Exception) -> str:
    """The service speaks English (the API's callers are programs); officers read Chinese."""
    message = str(exc)
    if found := re.match(r"cannot (\w+) a broadcast that is (\w+)", message):
        action, state = found.groups()
        return f"这条群发现在是“{BROADCAST_STATES.get(state, state)}”，不能{ACTION_NAMES.get(action, action)}。"
    return translate(message, REFUSALS) or f"无法完成：{message}"


def describe_audience(audience: dict[str, Any]) -> list[str]:
    lines = []
    for field, label in (("townships", "乡镇"), ("villages", "村"), ("crops", "种植"), ("topics", "关注")):
        if audience.get(field):
            lines.append(f"{label}：{'、'.join(audience[field])}")
    if audience.get("channels"):
        lines.append("渠道：只用" + "、".join(CHANNEL_NAMES.get(c, c) for c in audience["channels"]))
    if audience.get("subscriber_ids"):
        lines.append(f"指定农户 {len(audience['subscriber_ids'])} 人")
    if audience.get("registered_after"):
        lines.append(f"注册时间不早于 {audience['registered_after'][:16].replace('T', ' ')}")
    if audience.get("registered_before"):
        lines.append(f"注册时间早于 {audience['registered_before'][:16].replace('T', ' ')}")
    return lines or ["全部在册农户（每人用其常用渠道）"]


def describe_schedule(schedule: dict[str, Any] | None, tz: ZoneInfo) -> str:
    if not schedule:
        return "审批通过后立即发送"
    try:
        kind, value = next(iter(schedule.items()))
        if kind == "at":
            when = datetime.fromisoformat(value)
            return f"{(when if when.tzinfo else when.replace(tzinfo=tz)).astimezone(tz):%Y-%m-%d %H:%M} 发送一次"
        if kind == "daily":
            return f"每天 {value}"
        if kind == "weekly":
            return f"每周（{'、'.join(WEEKDAYS[d] for d in value['days'])}）{value['time']}"
        if kind == "monthly":
            return f"每月 {value['day']} 日 {value['time']}（没有这一天的月份不发）"
        if kind == "calendar":
            offset = value.get("offset_days", 0)
            shift = f"提前 {-offset} 天" if offset < 0 else (f"推后 {offset} 天" if offset > 0 else "当天")
            dates = "；".join(f"{town} {day}" for town, day in value["dates"].items())
            return f"按农时：{dates}，{shift} {value.get('time', '08:00')} 发给到期的乡镇"
        if kind == "after_registration":
            return f"农户注册后第 {value['days']} 天 {value['time']}（每天发给当天到期的新农户）"
        if kind == "cron":
            return f"定时规则 {value}（cron）"
    except (KeyError, TypeError, ValueError, AttributeError, StopIteration):
        pass
    return f"其他：{schedule}"


def progress(run: dict[str, Any]) -> dict[str, Any]:
    """The bar's width and its words; static/broadcasts.js says the same while it polls."""
    done = run["sent"] + run["failed"]  # "sent" already counts the delivered ones
    targeted = run["targeted"]
    if run["state"] == "skipped":
        percent = 0
    elif run["state"] == "done" or not targeted:
        percent = 100
    else:
        percent = min(100, round(done * 100 / targeted))
    counted = f"已发送 {done} / {targeted}"
    if run["state"] == "skipped":
        label = "未发送：" + skip_reason(run.get("note", ""))
    elif run["state"] in ("done", "cancelled", "paused"):
        label = f"{RUN_STATES[run['state']]} · {counted}"
    else:
        label = counted
    return {"percent": percent, "label": label}


def skip_reason(note: str) -> str:
    if found := re.search(r"missed by (\d+) min", note):
        return f"服务停机，错过发送时间 {found.group(1)} 分钟，已超过补发时限"
    return note or "已跳过"


def first_line(text: str, width: int = 40) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= width else line[:width] + "…"
