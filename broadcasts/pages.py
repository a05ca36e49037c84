"""Broadcast console pages: the list with the approval queue, compose with a live preview, details with progress."""

from __future__ import annotations

import contextlib
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from multidict import MultiDict, MultiDictProxy
from tortoise.functions import Count, Max

from bot.keys import CONFIG, OFFICER
from bot.labels import BROADCAST_KINDS, BROADCAST_STATES, CHANNEL_NAMES, RUN_STATES
from bot.models import AuditEvent
from bot.web import auth
from bot.web.console import AUDIT_DETAIL
from bot.web.fields import MAX_ID, Int, Invalid
from bot.web.params import QUERY, Query, accepts
from bot.web.view import render, see_other
from broadcasts import api, costs, schedules, service
from broadcasts import audience as audiences
from broadcasts.compose import FormError, body_from, choices, context
from broadcasts.models import Broadcast, BroadcastRun, Delivery
from broadcasts.wording import ACTION_NAMES, chinese, describe_audience, describe_schedule, first_line, progress

LIVE = ("scheduled", "sending", "paused")
PAGE = 50
RECENT_RUNS = 20
SOON = timedelta(minutes=10)  # a detail page polls while a firing is this close


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/broadcasts", list_page)
    app.router.add_get("/admin/broadcasts/new", new_page)
    app.router.add_post("/admin/broadcasts", create)
    app.router.add_get("/admin/broadcasts/{id:\\d+}", detail_page)
    app.router.add_post("/admin/broadcasts/{id:\\d+}/approve", approve)
    app.router.add_post("/admin/broadcasts/{id:\\d+}/reject", reject)
    app.router.add_get("/admin/broadcasts/{id:\\d+}/edit", edit_page)
    app.router.add_post("/admin/broadcasts/{id:\\d+}/edit", edit)
    for action in CONTROLS:
        app.router.add_post(f"/admin/broadcasts/{{id:\\d+}}/{action}", control)


def next_firing(broadcast: Broadcast, tz: ZoneInfo, now: datetime) -> datetime | None:
    if broadcast.state not in ("pending_approval", *LIVE):
        return None
    try:
        plan = schedules.parse(broadcast.schedule, tz, broadcast.approved_at or now)
    except ValueError:
        return None
    times = [trigger.get_next_fire_time(None, now) for trigger in plan.triggers]
    return min((t for t in times if t is not None and t > now), default=None)


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
    cost = await costs.estimate(broadcast.audience, broadcast.text, config, datetime.now(config.tz).date())
    return {
        "b": broadcast, "audience": describe_audience(broadcast.audience), "reach": cost["recipients"], "cost": cost,
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
        "channel_names": CHANNEL_NAMES,
        "states": BROADCAST_STATES, "kinds": BROADCAST_KINDS,
    })


# --- compose ------------------------------------------------------------------------------------


NO_ONE = ("按这些条件，现在没有一位接收中的农户能收到，这条群发不会发给任何人。"
          "请放宽“发给谁”的条件（或先导入农户）后再提交。")
# Schedules whose recipients are decided at each firing: nobody matching today is no mistake.
DECIDED_LATER = ("after_registration", "calendar")


def form_from(broadcast: Broadcast, tz: ZoneInfo) -> MultiDictProxy[str]:
    """A stored broadcast as the compose form would have sent it (editing it, or copying a rejected one)."""
    form: MultiDict[str] = MultiDict(kind=broadcast.kind, text=broadcast.text,
                                     spread_minutes=str(broadcast.spread_minutes))
    for name in ("townships", "villages", "crops", "topics", "channels"):
        for value in broadcast.audience.get(name) or []:
            form.add(name, str(value))
    schedule = broadcast.schedule or {}
    mode, value = next(iter(schedule.items()), ("now", None))
    form.add("schedule", mode)
    if mode == "at":
        with contextlib.suppress(ValueError):  # an unreadable time: the officer picks one again
            form.add("at", f"{datetime.fromisoformat(str(value)).astimezone(tz):%Y-%m-%dT%H:%M}")
    elif mode == "daily":
        form.add("daily_time", str(value))
    elif mode == "weekly" and isinstance(value, dict):
        for day in value.get("days") or []:
            form.add("weekly_days", str(day))
        form.add("weekly_time", str(value.get("time", "")))
    elif mode == "monthly" and isinstance(value, dict):
        form.add("monthly_day", str(value.get("day", "")))
        form.add("monthly_time", str(value.get("time", "")))
    elif mode == "calendar" and isinstance(value, dict):
        for town, day in (value.get("dates") or {}).items():
            form.add("cal_town", str(town))
            form.add("cal_date", str(day))
        form.add("cal_before", str(-int(value.get("offset_days", 0) or 0)))
        form.add("cal_time", str(value.get("time", "")))
    elif mode == "after_registration" and isinstance(value, dict):
        form.add("reg_days", str(value.get("days", "")))
        form.add("reg_time", str(value.get("time", "")))
    elif mode == "cron":
        form.add("cron", str(value))
    return MultiDictProxy(form)


async def _compose(request: web.Request, form: MultiDictProxy[Any] | None, *, editing: Broadcast | None = None,
                   copied: Broadcast | None = None, flash_error: str = "", status: int = 200) -> web.Response:
    config = request.app[CONFIG]
    extra: dict[str, Any] = {"editing": editing, "copied": copied,
                             "action": f"/admin/broadcasts/{editing.id}/edit" if editing else "/admin/broadcasts"}
    if flash_error:
        extra["flash_error"] = flash_error
    return render(request, "broadcasts/new.html", {**context(form, config), **await choices(), **extra},
                  status=status)


@auth.page("officer")
@accepts(query=Query(copy=Int(1, MAX_ID, label="复制哪条群发")))
async def new_page(request: web.Request) -> web.Response:
    copied = None
    if copy := request[QUERY]["copy"]:
        copied = await Broadcast.get_or_none(id=copy)
        if copied is None:
            raise web.HTTPNotFound(reason="要复制的群发不存在，可能编号写错了。")
    config = request.app[CONFIG]
    return await _compose(request, form_from(copied, config.tz) if copied else None, copied=copied)


async def _checked_body(request: web.Request, form: MultiDictProxy[Any]) -> dict[str, Any]:
    """The form as the API's body, checked as the API checks it; an audience nobody matches refused."""
    config = request.app[CONFIG]
    body: dict[str, Any] = api.BROADCAST.check(body_from(form, config.tz, datetime.now(config.tz)), "")
    schedule = body.get("schedule") or {}
    if not any(key in schedule for key in DECIDED_LATER):
        try:
            audience = audiences.Audience.from_json(body.get("audience"))
        except ValueError as exc:
            raise service.BroadcastError(str(exc)) from None
        if not await audiences.matching(audience).exists():
            raise FormError(NO_ONE)
    return body


def _copied_from(form: MultiDictProxy[Any]) -> int | None:
    raw = str(form.get("copied_from", ""))
    return int(raw) if raw.isdigit() and len(raw) < 10 else None


@auth.page("officer")
async def create(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    form = await request.post()
    copied = await Broadcast.get_or_none(id=source) if (source := _copied_from(form)) else None
    try:
        # The form's JSON is checked as the API's body is (types and lengths), then by the service.
        body = await _checked_body(request, form)
        broadcast, shown = await service.create(body, request[OFFICER], config)
    except (FormError, Invalid, service.BroadcastError) as exc:
        return await _compose(request, form, copied=copied, status=400,
                              flash_error=str(exc) if isinstance(exc, FormError) else chinese(exc))
    copy_note = f"（复制自群发 #{copied.id}）" if copied else ""
    request[AUDIT_DETAIL] = f"broadcast {broadcast.id}: {first_line(broadcast.text)}{copy_note}"
    return see_other(f"/admin/broadcasts/{broadcast.id}", ok=(
        f"已提交审批（预计发给 {shown['recipients']} 人）。审核员批准后按计划发送。"))


async def _editable(request: web.Request) -> Broadcast:
    broadcast = await _get(request)
    if not service.may_edit(broadcast, request[OFFICER]):
        if broadcast.state != "pending_approval":
            raise auth.PageRefused(f"这条群发现在是“{BROADCAST_STATES.get(broadcast.state, broadcast.state)}”，"
                                   "只有待审批的群发可以修改。被驳回的可以复制成新群发再提交。")
        raise auth.PageRefused("只有提交人或审核员可以修改这条群发。")
    return broadcast


@auth.page("officer")
async def edit_page(request: web.Request) -> web.Response:
    broadcast = await _editable(request)
    return await _compose(request, form_from(broadcast, request.app[CONFIG].tz), editing=broadcast)


@auth.page("officer")
async def edit(request: web.Request) -> web.Response:
    broadcast = await _editable(request)
    form = await request.post()
    try:
        body = await _checked_body(request, form)
        broadcast, shown = await service.update(broadcast, body, request[OFFICER], request.app[CONFIG])
    except (FormError, Invalid, service.BroadcastError) as exc:
        return await _compose(request, form, editing=broadcast, status=400,
                              flash_error=str(exc) if isinstance(exc, FormError) else chinese(exc))
    request[AUDIT_DETAIL] = f"改后：{first_line(broadcast.text)}"
    return see_other(f"/admin/broadcasts/{broadcast.id}", ok=(
        f"已保存修改（预计发给 {shown['recipients']} 人），仍在等待审批。"))


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
    cost = None
    if broadcast.state in ("pending_approval", "scheduled", "paused", "rejected"):
        cost = await costs.estimate(broadcast.audience, broadcast.text, config, datetime.now(config.tz).date())
    return render(request, "broadcasts/detail.html", {
        "cost": cost, "may_edit": service.may_edit(broadcast, officer), "channel_names": CHANNEL_NAMES,
        "b": broadcast, "states": BROADCAST_STATES, "kinds": BROADCAST_KINDS, "run_states": RUN_STATES,
        "audience": describe_audience(broadcast.audience),
        "schedule": describe_schedule(broadcast.schedule, config.tz), "next": upcoming,
        "runs": runs, "run_count": described["run_count"], "history": history, "rejected": rejected,
        "may_approve": is_supervisor and broadcast.state == "pending_approval" and not own,
        "own_pending": is_supervisor and broadcast.state == "pending_approval" and own,
        "poll": broadcast.state == "sending" or active or soon,
        "names": {"states": BROADCAST_STATES, "runs": RUN_STATES},
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
    await api.wake(request)
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
    await api.wake(request)
    return see_other(back, ok=CONTROLS[action])
