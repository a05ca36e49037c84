"""JSON API for broadcasts: create (with preview), list, status, approve, reject, pause, resume, cancel."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from tortoise import connections
from tortoise.functions import Count

from bot import db
from bot.keys import CONFIG, OFFICER
from bot.models import CHANNELS
from bot.web.auth import error, json_body, requires
from bot.web.console import AUDIT_DETAIL
from bot.web.fields import MAX_ID, Int, List, Map, Obj, Text
from bot.web.params import QUERY, Query, accepts
from broadcasts import audience as audiences
from broadcasts import schedules, service
from broadcasts.models import KINDS, Broadcast, BroadcastRun, Delivery
from broadcasts.placeholders import render

DELIVERY_STATES = ("queued", "sending", "sent", "delivered", "failed", "skipped")
SCHEDULER_WAKE = web.AppKey("scheduler_wake", object)
HHMM = Text(5, label="时刻 HH:MM")
AUDIENCE = Obj(
    closed=True, label="受众（都不填 = 所有接收中的农户）",
    townships=List(Text(50, label="乡镇"), max_items=1000, label="乡镇"),
    villages=List(Text(50, label="村"), max_items=5000, label="村"),
    crops=List(Text(50, label="作物"), max_items=500, label="作物"),
    topics=List(Text(50, label="主题"), max_items=50, label="主题"),
    channels=List(Text(16, choices=CHANNELS, label="渠道"), max_items=2, label="渠道"),
    subscriber_ids=List(Int(1, MAX_ID, label="农户 id"), max_items=10_000, label="农户 id"),
    registered_after=Text(32, label="注册时间晚于（ISO 日期或时间）"),
    registered_before=Text(32, label="注册时间早于（ISO 日期或时间）"))
# One of these keys (broadcasts/schedules.py says what each means); null: as soon as approved.
SCHEDULE = Obj(
    label="发送时间（null：审批后立即发送）",
    at=Text(40, label="发送一次的时间（ISO）"), cron=Text(100, label="cron 规则"), daily=HHMM,
    weekly=Obj(days=List(Text(3, choices=schedules.DAY_NAMES), max_items=7, label="星期"), time=HHMM),
    monthly=Obj(day=Int(1, 31, label="几号"), time=HHMM),
    calendar=Obj(dates=Map(value=Text(10, label="日期 YYYY-MM-DD"), max_items=1000, label="各乡镇日期"),
                 offset_days=Int(-366, 366, label="提前（负数）或推后的天数"), time=HHMM),
    after_registration=Obj(days=Int(0, 3650, label="注册后第几天"), time=HHMM))
BROADCAST = Obj(
    kind=Text(16, choices=KINDS, required=True, label="群发类型"), text=Text(service.MAX_TEXT, label="群发内容"),
    audience=AUDIENCE, schedule=SCHEDULE, spread_minutes=Int(0, 24 * 60, label="分散发送的分钟数"),
    article_ref=Text(100, label="相关文章编号"),
    example={"kind": "tip", "text": "明早有霜冻，柑橘园请覆盖。",
             "audience": {"townships": ["关防乡"], "crops": ["柑橘"]}, "schedule": {"daily": "08:00"},
             "spread_minutes": 30})
PREVIEW = Obj(text=Text(service.MAX_TEXT, label="群发内容"), audience=AUDIENCE)
ACTION = Obj(reason=Text(500, label="理由"))


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/broadcasts", create)
    app.router.add_get("/api/v1/broadcasts", list_broadcasts)
    app.router.add_post("/api/v1/broadcasts/preview", preview)
    app.router.add_get("/api/v1/broadcasts/{id:\\d+}", show)
    for action in ("approve", "reject", "pause", "resume", "cancel"):
        # Approving and rejecting need a supervisor (the service also refuses one's own broadcast).
        guard = requires("supervisor" if action in ("approve", "reject") else "officer")
        app.router.add_post(f"/api/v1/broadcasts/{{id:\\d+}}/{action}", guard(act_checked))


async def _broadcast(request: web.Request) -> Broadcast | web.Response:
    broadcast = await Broadcast.get_or_none(id=int(request.match_info["id"]))
    return broadcast if broadcast is not None else error(404, "no such broadcast")


async def wake(request: web.Request) -> None:
    """Let the scheduler see a change at once instead of at its next sync: this process's, if it runs
    one, and on PostgreSQL the elected one in whichever process it runs (it listens on wake_channel)."""
    nudge = request.app.get(SCHEDULER_WAKE)
    if callable(nudge):
        nudge()
    config = request.app[CONFIG]
    if db.is_postgres(config.database.url):
        await connections.get("default").execute_script(f"NOTIFY {service.wake_channel(config)}")


async def run_detail(run: BroadcastRun) -> dict[str, Any]:
    """service.run_stats plus the count of deliveries in each state (queued, sending, sent, …)."""
    states = dict(await Delivery.filter(run_id=run.id).group_by("state").annotate(n=Count("id"))
                  .values_list("state", "n"))
    return {**await service.run_stats(run), "by_state": {s: states.get(s, 0) for s in DELIVERY_STATES}}


async def describe(broadcast: Broadcast, newest: int | None = None) -> dict[str, Any]:
    """service.describe with run_detail, optionally only the newest runs (a daily broadcast gathers hundreds)."""
    query = BroadcastRun.filter(broadcast_id=broadcast.id)
    runs = await (query.order_by("-id").limit(newest) if newest else query.order_by("-id"))
    return {
        "id": broadcast.id, "kind": broadcast.kind, "state": broadcast.state, "text": broadcast.text,
        "audience": broadcast.audience, "schedule": broadcast.schedule, "reason": broadcast.reason,
        "spread_minutes": broadcast.spread_minutes, "created_by": broadcast.created_by_id,
        "approved_by": broadcast.approved_by_id, "runs": [await run_detail(r) for r in reversed(runs)],
        "run_count": await query.count(),
    }


@requires("officer")
@accepts(body=BROADCAST)
async def create(request: web.Request) -> web.Response:
    """Create a broadcast; it waits for a supervisor's approval (answers with a recipient preview).

    Body: {"kind", "text", "audience": {townships, villages, crops, topics, channels}, "schedule", "spread_minutes"}."""
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    try:
        broadcast, shown = await service.create(body, request[OFFICER], request.app[CONFIG])
    except service.BroadcastError as exc:
        return error(exc.status, str(exc))
    return web.json_response({"id": broadcast.id, "state": broadcast.state, "preview": shown}, status=201)


@requires("officer")
@accepts(body=PREVIEW)
async def preview(request: web.Request) -> web.Response:
    """Recipients per channel, SMS segments and estimated cost of a text for an audience, nothing saved;
    `text` is the text with its placeholders filled as they would be today (`filled`: whether any was).

    Body: {"text", "audience"} (an empty audience means every active subscriber)."""
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    try:
        audience = audiences.Audience.from_json(body.get("audience"))
    except ValueError as exc:
        return error(400, str(exc))
    # Placeholders ({价格:水果}) filled as they would be today: the count of segments is the real one.
    config = request.app[CONFIG]
    text = str(body.get("text") or "")
    filled = await render(text, datetime.now(config.tz).date())
    return web.json_response({**await audiences.preview(audience, filled, config), "text": filled,
                              "filled": filled != text})


@requires("officer")
async def list_broadcasts(request: web.Request) -> web.Response:
    """The newest 100 broadcasts."""
    rows = await Broadcast.all().order_by("-id").limit(100).values("id", "kind", "state", "text", "created_at")
    return web.json_response({"broadcasts": [{**r, "created_at": r["created_at"].isoformat()} for r in rows]})


@requires("officer")
@accepts(query=Query(runs=Int(1, 1000, label="只看最近几次")))
async def show(request: web.Request) -> web.Response:
    """A broadcast with per-run delivery statistics.

    Query: runs=N (only the newest N runs; run_count always says how many there are)."""
    broadcast = await _broadcast(request)
    if isinstance(broadcast, web.Response):
        return broadcast
    return web.json_response(await describe(broadcast, request[QUERY]["runs"]))


async def act(request: web.Request) -> web.Response:
    """Approve, reject, pause, resume or cancel a broadcast (approve and reject: supervisor, never one's own).

    Body (reject, cancel): {"reason": "…"}."""
    broadcast = await _broadcast(request)
    if isinstance(broadcast, web.Response):
        return broadcast
    action = request.path.rsplit("/", 1)[1]
    body: dict[str, Any] = {}
    if request.can_read_body:
        parsed = await json_body(request)
        if isinstance(parsed, web.Response):
            return parsed
        body = parsed
    officer = request[OFFICER]
    if body.get("reason"):
        request[AUDIT_DETAIL] = str(body["reason"])
    try:
        if action == "approve":
            broadcast = await service.approve(broadcast, officer, request.app[CONFIG])
        elif action == "reject":
            broadcast = await service.reject(broadcast, officer, str(body.get("reason") or ""))
        elif action == "pause":
            broadcast = await service.pause(broadcast)
        elif action == "resume":
            broadcast = await service.resume(broadcast)
        else:
            broadcast = await service.cancel(broadcast, str(body.get("reason") or ""))
    except service.BroadcastError as exc:
        return error(exc.status, str(exc))
    await wake(request)
    return web.json_response({"id": broadcast.id, "state": broadcast.state})


act_checked = accepts(body=ACTION, body_optional=True)(act)
