"""The message log (every text in and out, broadcast deliveries too), resending a failed one, and the
channels' status page."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.extend import AUDIT_NAMES, MenuEntry, add_menu, add_templates, listen
from bot.keys import ROLE
from bot.messagelog import api, names, pages


def setup(app: web.Application) -> None:
    if app[ROLE] not in ("all", "web"):
        return
    add_menu(app, MenuEntry("/admin/messages", "消息记录", order=35))
    add_menu(app, MenuEntry("/admin/channels", "渠道状态", order=85))
    add_templates(app, Path(__file__).parent / "templates")
    pages.add_routes(app)
    api.add_routes(app)
    listen(app, AUDIT_NAMES, names.audit_names)
