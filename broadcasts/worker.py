"""The delivery engine's place in the app: status reports in every role; the scheduler (one elected
process wakes broadcasts) and the dispatcher (every worker sends) in worker roles."""

from __future__ import annotations

from collections.abc import AsyncIterator

from aiohttp import web

from bot import background
from bot.channels.status import DELIVERY_STATUS
from bot.extend import listen
from bot.keys import ROLE
from broadcasts import api, dispatcher
from broadcasts.scheduler import Scheduler


def setup(app: web.Application) -> None:
    listen(app, DELIVERY_STATUS, dispatcher.delivery_status)  # webhooks arrive on web processes
    if app[ROLE] in ("all", "worker"):
        # Appended while the app is built, after the core's contexts: it needs the database and every sender.
        app.cleanup_ctx.append(worker_ctx)


async def worker_ctx(app: web.Application) -> AsyncIterator[None]:
    scheduler = Scheduler(app)
    app[api.SCHEDULER_WAKE] = scheduler.wake
    async with background.running(scheduler.run_forever(), dispatcher.Dispatcher(app).run_forever()):
        yield
