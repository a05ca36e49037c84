"""Labour: job notices, migrant workers' wishes, wage-arrears warnings, their console page and API,
and the push of each verified notice to the workers it fits."""

from __future__ import annotations

import functools
from pathlib import Path

from aiohttp import web

from bot import sandbox
from bot.extend import MenuEntry, add_menu, add_templates, listen
from bot.keys import CONFIG, ROLE
from bot.labour import api, pages, push
from bot.labour.events import JOBS_VERIFIED
from bot.labour.models import WorkerProfile

HERE = Path(__file__).parent


def setup(app: web.Application) -> None:
    # In every role: the console, the API and the CLI's import all emit it.
    listen(app, JOBS_VERIFIED, functools.partial(push.push_jobs, app[CONFIG]))
    listen(app, sandbox.RESET, lambda subscriber_id: WorkerProfile.filter(subscriber_id=subscriber_id).delete())
    if app[ROLE] in ("all", "web"):
        add_templates(app, HERE / "templates")
        add_menu(app, MenuEntry("/admin/jobs", "务工", order=50))
        api.setup(app)
        pages.setup(app)
