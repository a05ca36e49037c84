"""create_app(config): the composition root that wires config, database, channels and routes."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot import __version__, db
from bot.channels import Sender
from bot.channels.log import LogSender
from bot.config import Config
from bot.keys import CONFIG, METRICS, ROLE, ROUTER, SENDERS
from bot.metrics import Metrics
from handlers import build_router

log = logging.getLogger("nongbot.app")
ROLES = ("all", "web", "worker", "cli")
WEBHOOK_MAX_BYTES = 64 * 1024


def create_app(config: Config, *, role: str = "all") -> web.Application:
    """role: all (one process does everything), web (HTTP only), worker (senders), cli (no HTTP)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    app = web.Application(client_max_size=1024 * 1024)
    app[CONFIG] = config
    app[ROLE] = role
    app[METRICS] = Metrics()
    app[ROUTER] = build_router()
    # Started in list order, stopped in reverse: the ORM first, everything that needs it after.
    app.cleanup_ctx.append(orm_ctx)
    app.cleanup_ctx.append(senders_ctx)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def orm_ctx(app: web.Application) -> AsyncIterator[None]:
    async with db.database(app[CONFIG].database.url):
        yield


async def senders_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    senders: dict[str, Sender] = {"sms": LogSender("sms"), "wechat": LogSender("wechat")}
    if config.sms.provider == "log":
        log.info("sms provider is 'log': outbound SMS are printed, not sent")
    app[SENDERS] = senders
    yield


async def healthz(request: web.Request) -> web.Response:
    try:
        await asyncio.wait_for(db.ping(), timeout=2.0)
    except Exception as exc:  # any failure to answer means "not ready"
        log.warning("health check failed: %s", exc)
        return web.json_response({"status": "unavailable", "database": "down"}, status=503)
    return web.json_response(
        {"status": "ok", "database": "ok", "role": request.app[ROLE], "version": __version__}
    )


async def metrics(request: web.Request) -> web.Response:
    body = request.app[METRICS].render()
    return web.Response(body=body, headers={"Content-Type": "text/plain; version=0.0.4; charset=utf-8"})
