"""Typed keys for what the app shares (aiohttp AppKey): no module globals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.channels.base import Sender
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
# Set by the console and API guards (bot/web/auth.py) for the handler.
OFFICER: web.RequestKey[Officer] = web.RequestKey("officer")
SESSION: web.RequestKey[ConsoleSession] = web.RequestKey("console_session")
