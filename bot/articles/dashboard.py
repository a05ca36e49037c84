"""The 首页's article part: how many articles have a draft waiting for a supervisor."""

from __future__ import annotations

from aiohttp import web

from bot.articles import versions
from bot.extend import Card, add_card


def setup(app: web.Application) -> None:
    add_card(app, Card("articles_waiting", "articles/dashboard_waiting.html", waiting, order=35, place="tile"))


async def waiting(_: web.Application) -> int:
    return len(await versions.waiting_ids())
