"""Questions: what the bot left to an officer (the inbox), answering villagers, the answers it gave and
villagers' ratings."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot import sandbox
from bot.extend import AUDIT_NAMES, OPEN_QUESTIONS, MenuEntry, add_menu, add_templates, listen
from bot.keys import ROLE
from bot.questions import api, dashboard, pages, service
from bot.questions.models import Answer, Question
from bot.web.simulator import HANDED_TO_OFFICER


def setup(app: web.Application) -> None:
    if app[ROLE] not in ("all", "web"):
        return
    add_menu(app, MenuEntry("/admin/questions", "问答收件箱", order=30))
    add_menu(app, MenuEntry("/admin/answers", "回答复核", order=32))
    add_templates(app, Path(__file__).parent / "templates")
    pages.add_routes(app)
    api.add_routes(app)
    listen(app, OPEN_QUESTIONS, service.open_questions)
    listen(app, AUDIT_NAMES, service.audit_names)
    dashboard.setup(app)  # the 首页's open questions and texts handed to officers
    listen(app, HANDED_TO_OFFICER, lambda message_id: Question.exists(message_id=message_id))
    listen(app, sandbox.RESET, lambda subscriber_id: Answer.filter(subscriber_id=subscriber_id).delete())
