"""JSON API for broadcasts: create (with preview), list, status, approve, reject, pause, resume, cancel."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.keys import CONFIG
from bot.web.auth import OFFICER, error, json_body, requires
from broadcasts import audience as audiences
from broadcasts import service
from broadcasts.models import Broadcast

SCHEDULER_WAKE = web.AppKey("scheduler_wake", object)


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/broadcasts", create)
    app.router.add_get("/api/v1/broadcasts", list_broadcasts)
    app.router.add_post("/api/v1/broadcasts/preview", preview)
    app.router.add_get("/api/v1/broadcasts/{id:\\d+}", show)
    for action in ("approve", "reject", "pause", "resume", "cancel"):
        app.router.add_post(f"/api/v1/broadcasts/{{id:\\d+}}/{action}", act)


async def _broadcast(request: web.Request) -> Broadcast | web.Response:
    broadcast = await Broadcast.get_or_none(id=int(request.match_info["id"]))
    return broadcast if broadcast is not None else error(404, "no such broadcast")


def _wake(request: web.Request) -> None:
    wake = request.app.get(SCHEDULER_WAKE)
    if callable(wake):
        wake()


@requires("officer")
async def create(request: web.Request) -> web.Response:
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
    rows = await Broadcast.all().order_by("-id").limit(100).values("id", "kind", "state", "text", "created_at")
    return web.json_response({"broadcasts": [{**r, "created_at": r["created_at"].isoformat()} for r in rows]})


@requires("officer")
async def show(request: web.Request) -> web.Response:
    broadcast = await _broadcast(request)
    if isinstance(broadcast, web.Response):
        return broadcast
    return web.json_response(await service.describe(broadcast))


@requires("officer")
async def act(request: web.Request) -> web.Response:
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
    _wake(request)
    return web.json_response({"id": broadcast.id, "state": broadcast.state})
