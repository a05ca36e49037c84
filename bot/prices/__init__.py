"""Market prices: commodities and markets, price records, the console page and API, price alerts."""

from __future__ import annotations

from aiohttp import web

from bot.keys import ROLE
from bot.web import prices_api, prices_pages


def setup(app: web.Application) -> None:
    if app[ROLE] in ("all", "web"):
        prices_api.setup(app)
        prices_pages.setup(app)
