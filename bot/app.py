"""create_app(config): the composition root that wires config, database, channels and routes."""

from __future__ import annotations

import asyncio
import importlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from bot import __version__, background, db, extend, features, intake
from bot.channels import registry
from bot.config import Config
from bot.keys import CONFIG, METRICS, ROLE, ROUTER, SEARCH, SEED
from bot.metrics import Metrics
from bot.models import Officer
from bot.seed import seed_if_empty
from bot.web import accounts, audit, console, dashboard, simulator
from content import meaning
from content.search import Searcher
from content.tokenizer import shared as tokenizer_shared
from handlers import build_router

log = logging.getLogger("nongbot.app")
ROLES = ("all", "web", "worker", "cli")
WEBHOOK_MAX_BYTES = 64 * 1024
SEARCH_REFRESH_SECONDS = 2.0  # an article edited anywhere is searchable within this
# The officer console (/admin) and the JSON API (/api/v1), one module per area; console first.
WEB_AREAS = (console, accounts, audit, dashboard, simulator)


def create_app(config: Config, *, role: str = "all", seed: bool = False) -> web.Application:
    """role: all (one process does everything), web (HTTP only), worker (senders), cli (no HTTP).
    seed: load the bundled knowledge base and demo villagers into an empty database."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    app = web.Application(client_max_size=1024 * 1024)
    app[CONFIG] = config
    app[ROLE] = role
    app[SEED] = seed
    app[METRICS] = Metrics()
    app[ROUTER] = build_router()
    # Started in list order, stopped in reverse: the ORM first, everything that needs it after.
    app.cleanup_ctx.append(orm_ctx)
    app.cleanup_ctx.append(search_ctx)
    registry.install(app)  # the senders, then each enabled channel: its routes, sender and upkeep
    if role in ("all", "web"):
        for area in WEB_AREAS:
            area.setup(app)
    if role in ("all", "worker"):
        intake.setup_worker(app)  # pushed items a dead process left: after the senders
        app.cleanup_ctx.append(extend.periodic_ctx)  # features' periodic work
    for name in features.FEATURES:  # each registers its routes, menu, listeners and periodic work;
        importlib.import_module(name).setup(app)  # their contexts start after the core's (broadcasts' last)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    return app


async def orm_ctx(app: web.Application) -> AsyncIterator[None]:
    async with db.database(app[CONFIG].database.url, schema_template=True):
        if app[SEED]:
            await seed_if_empty(app[CONFIG])
        if app[ROLE] in ("all", "web") and not await Officer.exists():
            log.warning("no console accounts yet: create one with `nongbot officer add NAME --role admin`, "
                        "then log in at %s/admin/", app[CONFIG].server.public_url)
        yield


async def search_ctx(app: web.Application) -> AsyncIterator[None]:
    """Load the dictionary (half a second, in a thread, before traffic) and keep the index fresh."""
    tokenizer = await asyncio.to_thread(tokenizer_shared)
    searcher = Searcher(tokenizer)
    if app[CONFIG].bot.meaning:  # the optional second opinion by meaning, if its extra is installed
        searcher.use_meaning(await asyncio.to_thread(meaning.load))
    # The articles' cuts are remembered for the next start (content/tokenizer.py: a second of CPU here).
    with tokenizer.recording() as cuts:
        await searcher.refresh()
    await asyncio.to_thread(tokenizer.keep, cuts)
    app[SEARCH] = searcher

    async def refresh(_: web.Application) -> None:
        await searcher.refresh()  # a failed refresh keeps the old index; the next one retries

    # In every role, not only workers: each web process answers from its own index.
    fresh = extend.Periodic("search index refresh", SEARCH_REFRESH_SECONDS, refresh,
                            first_after=SEARCH_REFRESH_SECONDS)
    try:
        async with background.running(extend.repeat(app, fresh)):
            yield
    finally:
        await searcher.close()


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
