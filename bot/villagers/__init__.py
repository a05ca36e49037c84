"""Villagers (农户): the list and profiles in the console, the subscriber API, CSV import and export.
The Subscriber table itself is core (bot/models.py)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.extend import MenuEntry, add_menu, add_templates
from bot.keys import ROLE
from bot.villagers import api, pages


def setup(app: web.Application) -> None:
    if app[ROLE] not in ("all", "web"):
        return
    add_menu(app, MenuEntry("/admin/subscribers", "农户", order=60))
    add_templates(app, Path(__file__).parent / "templates")
    pages.add_routes(app)
    api.add_routes(app)
