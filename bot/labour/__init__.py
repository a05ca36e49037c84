"""Labour: job notices, migrant workers' wishes, wage-arrears warnings, their console page and API."""

from __future__ import annotations

from aiohttp import web

from bot.keys import ROLE
from bot.web import labour_api, labour_pages


def setup(app: web.Application) -> None:
    if app[ROLE] in ("all", "web"):
        labour_api.setup(app)
        labour_pages.setup(app)
