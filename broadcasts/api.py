"""JSON API for broadcasts: create (with preview), list, status, approve, reject, pause, resume, cancel."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from tortoise.functions import Count

from bot.keys import CONFIG
from bot.web.auth import OFFICER, error, json_body, requires
from bot.web.console import AUDIT_DETAIL
from broadcasts import audience as audiences
from broadcasts import service
from broadcasts.models import Broadcast, BroadcastRun, Delivery

DELIVERY_STATES = ("queued", "sending", "sent", "delivered", "failed", "skipped")
SCHEDULER_WAKE = web.AppKey("scheduler_wake", object)


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/broadcasts", create)
    app.router.add_get("/api/v1/broadcasts", list_broadcasts)
    app.router.add_post("/api/v1/broadcasts/preview", preview)
    app.router.add_get("/api/v1/broadcasts/{id:\\d+}", show)
    for action in ("approve", "reject", "pause", "resume", "cancel"):
        # Approving and rejecting need a supervisor (the service also refuses one's own broadcast).
        guard = requires("supervisor" if action in ("approve", "reject") else "officer")
        app.router.add_post(f"/api/v1/broadcasts/{{id:\\d+}}/{action}", guard(act))


async def _broadcast(request: web.Request) -> Broadcast | web.Response:
    broadcast = await Broadcast.get_or_none(id=int(request.match_info["id"]))
    return broadcast if broadcast is not None else error(404, "no such broadcast")


def wake(request: web.Request) -> None:
    """Let this process's scheduler (if it runs one) see a change at once instead of at its next sync."""
    nudge = request.app.get(SCHEDULER_WAKE)
    if callable(nudge):
        nudge()


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
async def preview(request: web.Request) -> web.Response:
    """Recipients per channel, SMS segments and estimated cost of a text for an audience, nothing saved.

    Body: {"text", "audience"} (an empty audience means every active subscriber)."""
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    try:
        audience = audiences.Audience.from_json(body.get("audience"))
    except ValueError as exc:
        return error(400, str(exc))
    return web.json_response(await audiences.preview(audience, str(body.get("text") or ""), request.app[CONFIG]))


@requires("officer")
async def list_broadcasts(request: web.Request) -> web.Response:
    """The newest 100 broadcasts."""
    rows = await Broadcast.all().order_by("-id").limit(100).values("id", "kind", "state", "text", "created_at")
    return web.json_response({"broadcasts": [{**r, "created_at": r["created_at"].isoformat()} for r in rows]})


@requires("officer")
async def show(request: web.Request) -> web.Response:
    """A broadcast with per-run delivery statistics.

    Query: runs=N (only the newest N runs; run_count always says how many there are)."""
    broadcast = await _broadcast(request)
    if isinstance(broadcast, web.Response):
        return broadcast
    newest = request.query.get("runs")
    if newest is not None and not (newest.isdigit() and 0 < int(newest) <= 1000):
        return error(400, "runs: expected 1-1000")
    return web.json_response(await describe(broadcast, int(newest) if newest is not None else None))


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
    wake(request)
    return web.json_response({"id": broadcast.id, "state": broadcast.state})
