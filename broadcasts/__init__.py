"""What goes out on its own: schedules, audiences and the delivery engine."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.extend import MenuEntry, add_menu, add_templates
from bot.keys import ROLE
from broadcasts import api, dashboard, pages, worker

HERE = Path(__file__).parent


def setup(app: web.Application) -> None:
    """The console's 群发 pages, the API, the 首页's broadcast parts and, in workers, the scheduler and
    the dispatcher (bot/features.py lists this package first: other features send through it)."""
    if app[ROLE] in ("all", "web"):
        add_templates(app, HERE / "templates")
        add_menu(app, MenuEntry("/admin/broadcasts", "群发", order=20))
        api.setup(app)
        pages.setup(app)
        dashboard.setup(app)
    worker.setup(app)
