"""Questions: what the bot left to an officer (the inbox), the answers it gave and villagers' ratings."""

from __future__ import annotations

from aiohttp import web

from bot.keys import ROLE
from bot.web import questions


def setup(app: web.Application) -> None:
    if app[ROLE] in ("all", "web"):
        questions.setup(app)
