"""Typed keys for what the app shares (aiohttp AppKey): no module globals."""

from __future__ import annotations

from typing import TYPE_CHECKING

from aiohttp import web

if TYPE_CHECKING:
    from bot.channels import Sender
    from bot.config import Config
    from bot.metrics import Metrics
    from bot.routing import Router
    from content.search import Searcher

CONFIG = web.AppKey("config", "Config")
METRICS = web.AppKey("metrics", "Metrics")
ROUTER = web.AppKey("router", "Router")
SENDERS = web.AppKey("senders", "dict[str, Sender]")
ROLE = web.AppKey("role", str)
SEED = web.AppKey("seed", bool)
SEARCH = web.AppKey("search", "Searcher")
