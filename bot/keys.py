"""Typed keys for what the app shares (aiohttp AppKey): no module globals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.channels import Sender
    from bot.config import Config
    from bot.metrics import Metrics
    from bot.models import ConsoleSession, Officer
    from bot.routing import Router
    from content.search import Searcher

CONFIG: web.AppKey[Config] = web.AppKey("config")
METRICS: web.AppKey[Metrics] = web.AppKey("metrics")
ROUTER: web.AppKey[Router] = web.AppKey("router")
SENDERS: web.AppKey[dict[str, Sender]] = web.AppKey("senders")
ROLE = web.AppKey("role", str)
SEED = web.AppKey("seed", bool)
SEARCH: web.AppKey[Searcher] = web.AppKey("search")
# Called with (channel, provider id, status, error code) for delivery reports that match no logged
# message; return True when they matched something of theirs (broadcast deliveries register here).
STATUS_LISTENERS = web.AppKey("status_listeners", list)
# Called with the ids of records just stored (new prices, new verified jobs): the composition root
# registers the broadcast side here (price alerts, job pushes), since bot/ cannot import it.
PRICE_LISTENERS = web.AppKey("price_listeners", list)
JOB_LISTENERS = web.AppKey("job_listeners", list)
# Set by the console and API guards (bot/web/auth.py) for the handler.
OFFICER: web.RequestKey[Officer] = web.RequestKey("officer")
SESSION: web.RequestKey[ConsoleSession] = web.RequestKey("console_session")
