"""Broadcast console pages: the list with the approval queue, compose with a live preview, details with progress."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDictProxy
from tortoise.functions import Count, Max

from bot import sandbox
from bot.config import Config
from bot.extend import MenuEntry, add_menu
from bot.keys import CONFIG, OFFICER
from bot.models import TOPICS, AuditEvent, Subscriber, unpack_set
from bot.web import auth
from bot.web.console import AUDIT_DETAIL
from bot.web.params import MAX_ID, QUERY, Int, Invalid, Query, accepts
from bot.web.view import render, see_other
from broadcasts import api, schedules, service
from broadcasts import audience as audiences
from broadcasts.models import KINDS, Broadcast, BroadcastRun, Delivery

STATE_NAMES = {"draft": "草稿", "pending_approval": "待审批", "scheduled": "已排期", "sending": "发送中",
               "paused": "已暂停", "done": "已完成", "cancelled": "已取消", "rejected": "已驳回"}
RUN_STATE_NAMES = {"enqueuing": "准备名单", "sending": "发送中", "paused": "已暂停", "done": "已完成",
                   "cancelled": "已取消", "skipped": "未发送"}
KIND_NAMES = {"tip": "农技提示", "price": "价格行情", "labour": "务工信息", "notice": "通知公告"}
CHANNEL_NAMES = {"sms": "短信", "wechat": "微信"}
WEEKDAYS = {"mon": "周一", "tue": "周二", "wed": "周三", "thu": "周四", "fri": "周五", "sat": "周六", "sun": "周日"}
ACTION_NAMES = {"approve": "批准", "reject": "驳回", "pause": "暂停", "resume": "继续", "cancel": "取消"}
SCHEDULE_MODES = {"now": "立即发送（审批后）", "at": "指定时间发送一次", "daily": "每天", "weekly": "每周",
                  "monthly": "每月", "calendar": "按农时（各乡镇日期）", "after_registration": "农户注册后第几天",
                  "cron": "高级：cron 定时规则"}
LIVE = ("scheduled", "sending", "paused")
PAGE = 50
RECENT_RUNS = 20
SOON = timedelta(minutes=10)  # a detail page polls while a firing is this close


def setup(app: web.Application) -> None:
    add_menu(app, MenuEntry("/admin/broadcasts", "群发", order=20))
    app.router.add_get("/admin/broadcasts", list_page)
    app.router.add_get("/admin/broadcasts/new", new_page)
    app.router.add_post("/admin/broadcasts", create)
    app.router.add_get("/admin/broadcasts/{id:\\d+}", detail_page)
    app.router.add_post("/admin/broadcasts/{id:\\d+}/approve", approve)
    app.router.add_post("/admin/broadcasts/{id:\\d+}/reject", reject)
    for action in CONTROLS:
        app.router.add_post(f"/admin/broadcasts/{{id:\\d+}}/{action}", control)


class FormError(ValueError):
    """Input the compose form cannot accept; the message is shown to the officer as is."""


# --- words for officers -----------------------------------------------------------------------


def chinese(exc: Exception) -> str:
    """The service speaks English (the API's callers are programs); officers read Chinese."""
    message = str(exc)
    if "own broadcast" in message:
        return "不能审批自己提交的群发，请另一位审核员审批。"
    if message.startswith("only a supervisor"):
        return "只有审核员可以审批或驳回群发。"
    if found := re.match(r"cannot (\w+) a broadcast that is (\w+)", message):
        action, state = found.groups()
        return f"这条群发现在是“{STATE_NAMES.get(state, state)}”，不能{ACTION_NAMES.get(action, action)}。"
    if message.startswith("schedule.cron"):
        return ("cron 定时规则写法不对：应为 5 段，依次是 分 时 日 月 星期，"
                "例如 “0 8 * * 1” 表示每周一 8:00。")
    if message.startswith("schedule"):
        return f"发送时间设置不对（{message}）。"
    if message.startswith("audience"):
        return f"收件人条件不对（{message}）。"
    if message.startswith("kind"):
        return "请选择群发类型。"
    if message.startswith("text: 「"):
        return f"群发内容提到{message.removeprefix('text: ')}。请改掉后再提交。"
    if message.startswith("text"):
        return f"群发内容不能为空，最多 {service.MAX_TEXT} 个字。"
    if message.startswith("spread_minutes"):
        return "分散发送时长请填 0 到 1440 之间的整数（分钟）。"
    return f"无法完成：{message}"


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
            when = f"提前 {-offset} 天" if offset < 0 else (f"推后 {offset} 天" if offset > 0 else "当天")
            dates = "；".join(f"{town} {day}" for town, day in value["dates"].items())
            return f"按农时：{dates}，{when} {value.get('time', '08:00')} 发给到期的乡镇"
        if kind == "after_registration":
            return f"农户注册后第 {value['days']} 天 {value['time']}（每天发给当天到期的新农户）"
        if kind == "cron":
            return f"定时规则 {value}（cron）"
    except (KeyError, TypeError, ValueError, AttributeError, StopIteration):
        pass
    return f"其他：{schedule}"


def next_firing(broadcast: Broadcast, tz: ZoneInfo, now: datetime) -> datetime | None:
    if broadcast.state not in ("pending_approval", *LIVE):
        return None
    try:
        plan = schedules.parse(broadcast.schedule, tz, broadcast.approved_at or now)
    except ValueError:
        return None
    times = [trigger.get_next_fire_time(None, now) for trigger in plan.triggers]
    return min((t for t in times if t is not None and t > now), default=None)


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
        label = f"{RUN_STATE_NAMES[run['state']]} · {counted}"
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


# --- list ---------------------------------------------------------------------------------------


async def _latest_runs(ids: list[int]) -> dict[int, dict[str, Any]]:
    """Each broadcast's newest run with its delivery counts, in three queries for the whole page."""
    newest = dict(await BroadcastRun.filter(broadcast_id__in=ids).group_by("broadcast_id")
                  .annotate(last=Max("id")).values_list("broadcast_id", "last"))
    runs = {r.id: r for r in await BroadcastRun.filter(id__in=list(newest.values()))}
    counts: dict[int, dict[str, int]] = {}
    for run_id, state, n in await (Delivery.filter(run_id__in=list(runs)).group_by("run_id", "state")
                                   .annotate(n=Count("id")).values_list("run_id", "state", "n")):
        counts.setdefault(run_id, {})[state] = n
    out = {}
    for broadcast_id, run_id in newest.items():
        run, c = runs[run_id], counts.get(run_id, {})
        shown = {"id": run.id, "state": run.state, "targeted": run.targeted, "note": run.note, "fire_at": run.fire_at,
                 "sent": c.get("sent", 0) + c.get("delivered", 0), "failed": c.get("failed", 0)}
        out[broadcast_id] = {**shown, **progress(shown)}
    return out


async def _queue_item(broadcast: Broadcast, request: web.Request) -> dict[str, Any]:
    config = request.app[CONFIG]
    officer = request[OFFICER]
    try:
        reach = await audiences.matching(audiences.Audience.from_json(broadcast.audience)).count()
    except ValueError:
        reach = 0
    return {
        "b": broadcast, "audience": describe_audience(broadcast.audience), "reach": reach,
        "schedule": describe_schedule(broadcast.schedule, config.tz),
        "own": broadcast.created_by_id == officer.id and not config.broadcasts.allow_self_approval,
    }


@auth.page("officer")
@accepts(query=Query(before=Int(1, MAX_ID, label="从这条群发往前（上一页最后一条的 id）")))
async def list_page(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    query = Broadcast.all().prefetch_related("created_by")
    if before := request[QUERY]["before"]:
        query = query.filter(id__lt=before)
    rows = await query.order_by("-id").limit(PAGE)
    latest = await _latest_runs([b.id for b in rows])
    now = datetime.now(UTC)
    items = [{"b": b, "title": first_line(b.text), "run": latest.get(b.id),
              "next": next_firing(b, config.tz, now)} for b in rows]
    queue = []
    if auth.RANK[request[OFFICER].role] >= auth.RANK["supervisor"]:
        pending = await Broadcast.filter(state="pending_approval").prefetch_related("created_by").order_by("id")
        queue = [await _queue_item(b, request) for b in pending]
    return render(request, "broadcasts/list.html", {
        "items": items, "queue": queue, "older": rows[-1].id if len(rows) == PAGE else 0,
        "states": STATE_NAMES, "kinds": KIND_NAMES,
    })


# --- compose ------------------------------------------------------------------------------------


async def _choices() -> dict[str, Any]:
    """What the audience checkboxes offer: what active subscribers actually have."""
    active = Subscriber.filter(sandbox.real(), status="active")
    towns = await active.exclude(township="").distinct().values_list("township", flat=True)
    villages: dict[str, set[str]] = {}
    for village, town in await active.exclude(village="").distinct().values_list("village", "township"):
        villages.setdefault(village, set()).add(town)
    crops = {c for packed in await active.exclude(crops="").distinct().values_list("crops", flat=True)
             for c in unpack_set(packed)}
    topics = {t for packed in await active.exclude(topics="").distinct().values_list("topics", flat=True)
              for t in unpack_set(packed)}
    return {
        "townships": sorted(towns),
        "villages": [(v, "、".join(sorted(t for t in villages[v] if t))) for v in sorted(villages)],
        "crops": sorted(crops), "topics": [*TOPICS, *sorted(topics - set(TOPICS))],
        "subscribers": await active.count(),
    }


def _new_context(form: MultiDictProxy[Any] | None, config: Config) -> dict[str, Any]:
    values = {k: str(v) for k, v in (form or {}).items() if k != auth.CSRF_FIELD}
    chosen = {name: set(map(str, form.getall(name, []))) if form is not None else set()
              for name in ("townships", "villages", "crops", "topics", "channels", "weekly_days")}
    calendar = dict(zip(map(str, form.getall("cal_town", [])), map(str, form.getall("cal_date", [])),
                        strict=False)) if form is not None else {}
    now = datetime.now(config.tz)
    return {
        "values": values, "chosen": chosen, "calendar": calendar, "kinds": KIND_NAMES, "modes": SCHEDULE_MODES,
        "weekdays": WEEKDAYS, "channel_names": CHANNEL_NAMES, "max_text": service.MAX_TEXT,
        "min_at": f"{now:%Y-%m-%dT%H:%M}", "signature": config.sms.signature,
        "grace": config.broadcasts.grace_minutes,
    }


@auth.page("officer")
async def new_page(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    return render(request, "broadcasts/new.html", {**_new_context(None, config), **await _choices()})


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


@auth.page("officer")
async def create(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    form = await request.post()
    try:
        # The form's JSON is checked as the API's body is (types and lengths), then by the service.
        body = api.BROADCAST.check(body_from(form, config.tz, datetime.now(config.tz)), "")
        broadcast, shown = await service.create(body, request[OFFICER], config)
    except (FormError, Invalid, service.BroadcastError) as exc:
        return render(request, "broadcasts/new.html", {
            **_new_context(form, config), **await _choices(),
            "flash_error": str(exc) if isinstance(exc, FormError) else chinese(exc)}, status=400)
    request[AUDIT_DETAIL] = f"broadcast {broadcast.id}: {first_line(broadcast.text)}"
    return see_other(f"/admin/broadcasts/{broadcast.id}", ok=(
        f"已提交审批（预计发给 {shown['recipients']} 人）。审核员批准后按计划发送。"))


# --- details ------------------------------------------------------------------------------------


async def _get(request: web.Request) -> Broadcast:
    broadcast = await Broadcast.get_or_none(id=int(request.match_info["id"])).prefetch_related(
        "created_by", "approved_by")
    if broadcast is None:
        raise web.HTTPNotFound(reason="没有这条群发，可能编号写错了。")
    return broadcast


async def _history(broadcast_id: int) -> list[dict[str, Any]]:
    """Who approved, rejected, paused, resumed or cancelled it, from the audit trail (console and API)."""
    events = await AuditEvent.filter(target=f"id={broadcast_id}", action__contains="/broadcasts/").order_by("id")
    out = []
    for event in events:
        action = event.action.rsplit("/", 1)[-1]
        if action in ACTION_NAMES:
            out.append({"at": event.created_at, "who": event.officer_name, "action": action,
                        "what": ACTION_NAMES[action], "detail": event.detail})
    return out


@auth.page("officer")
async def detail_page(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    broadcast = await _get(request)
    officer = request[OFFICER]
    described = await api.describe(broadcast, RECENT_RUNS)
    runs = [{**run, **progress(run), "fire_at": datetime.fromisoformat(run["fire_at"])}
            for run in reversed(described["runs"])]  # newest first
    now = datetime.now(UTC)
    upcoming = next_firing(broadcast, config.tz, now)
    active = any(r["state"] in ("enqueuing", "sending") for r in runs)
    soon = broadcast.state == "scheduled" and (
        (not broadcast.schedule and not runs) or (upcoming is not None and upcoming - now <= SOON))
    history = await _history(broadcast.id)
    rejected = next((h for h in reversed(history) if h["action"] == "reject"), None)
    is_supervisor = auth.RANK[officer.role] >= auth.RANK["supervisor"]
    own = broadcast.created_by_id == officer.id and not config.broadcasts.allow_self_approval
    return render(request, "broadcasts/detail.html", {
        "b": broadcast, "states": STATE_NAMES, "kinds": KIND_NAMES, "run_states": RUN_STATE_NAMES,
        "audience": describe_audience(broadcast.audience),
        "schedule": describe_schedule(broadcast.schedule, config.tz), "next": upcoming,
        "runs": runs, "run_count": described["run_count"], "history": history, "rejected": rejected,
        "may_approve": is_supervisor and broadcast.state == "pending_approval" and not own,
        "own_pending": is_supervisor and broadcast.state == "pending_approval" and own,
        "poll": broadcast.state == "sending" or active or soon,
        "names": {"states": STATE_NAMES, "runs": RUN_STATE_NAMES},
    })


# --- actions ------------------------------------------------------------------------------------


def _back(form: MultiDictProxy[Any], broadcast: Broadcast) -> str:
    return "/admin/broadcasts" if form.get("back") == "list" else f"/admin/broadcasts/{broadcast.id}"


@auth.page("supervisor")
async def approve(request: web.Request) -> web.Response:
    broadcast, form = await _get(request), await request.post()
    try:
        await service.approve(broadcast, request[OFFICER], request.app[CONFIG])
    except service.BroadcastError as exc:
        return see_other(_back(form, broadcast), err=chinese(exc))
    api.wake(request)
    when = "马上开始发送" if not broadcast.schedule else "将按计划发送"
    return see_other(_back(form, broadcast), ok=f"已批准群发 #{broadcast.id}，{when}。")


@auth.page("supervisor")
async def reject(request: web.Request) -> web.Response:
    broadcast, form = await _get(request), await request.post()
    reason = str(form.get("reason", "")).strip()
    if not reason:
        return see_other(_back(form, broadcast), err="驳回时请写明理由，提交人会在群发详情里看到。")
    try:
        await service.reject(broadcast, request[OFFICER], reason)
    except service.BroadcastError as exc:
        return see_other(_back(form, broadcast), err=chinese(exc))
    request[AUDIT_DETAIL] = reason
    return see_other(_back(form, broadcast), ok=f"已驳回群发 #{broadcast.id}，提交人会看到理由。")


CONTROLS = {
    "pause": "已暂停：还没发出的消息先不发，点“继续发送”后接着发。",
    "resume": "已继续发送。",
    "cancel": "已取消：还没发出的消息不再发送。",
}


@auth.page("officer")
async def control(request: web.Request) -> web.Response:
    """暂停 / 继续 / 取消, effective within a second (the workers check the state before each batch)."""
    action = request.path.rsplit("/", 1)[1]
    broadcast, form = await _get(request), await request.post()
    back = f"/admin/broadcasts/{broadcast.id}"
    try:
        if action == "cancel":
            request[AUDIT_DETAIL] = reason = str(form.get("reason", "")).strip()
            await service.cancel(broadcast, reason)
        else:
            await (service.pause if action == "pause" else service.resume)(broadcast)
    except service.BroadcastError as exc:
        return see_other(back, err=chinese(exc))
    api.wake(request)
    return see_other(back, ok=CONTROLS[action])
