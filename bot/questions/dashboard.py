"""The 首页's question parts: the open questions' number at the top, and how many texts went to officers."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from bot import sandbox
from bot.extend import Card, add_card, listen
from bot.questions.models import Question
from bot.web.dashboard import HANDED_OVER


def setup(app: web.Application) -> None:
    add_card(app, Card("open_questions", "questions/dashboard_open.html", open_questions, order=30, place="tile"))
    listen(app, HANDED_OVER, handed_over)


async def open_questions(_: web.Application) -> int:
    return await Question.filter(sandbox.not_from_sandbox(), status="open").count()


async def handed_over(since: datetime) -> int:
    """Questions left to officers since `since`, feedback aside (it has its own tab)."""
    return await Question.filter(sandbox.not_from_sandbox(), created_at__gte=since).exclude(reason="feedback").count()
