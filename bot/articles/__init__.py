"""The knowledge base (知识库) in the console and the API: list, search as villagers do, write, edit,
preview and delete articles; drafts reviewed before they go live, versions and rollback (versions.py). The
Article table itself is content/models.py."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.articles import api, dashboard, pages
from bot.extend import MenuEntry, add_menu, add_templates
from bot.keys import ROLE


def setup(app: web.Application) -> None:
    if app[ROLE] not in ("all", "web"):
        return
    add_menu(app, MenuEntry("/admin/articles", "知识库", order=10))
    add_templates(app, Path(__file__).parent / "templates")
    dashboard.setup(app)
    pages.add_routes(app)
    api.add_routes(app)
