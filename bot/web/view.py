"""Render a console page: its template plus who is logged in, their CSRF token and the menu."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date, datetime
from typing import Any
from urllib.parse import urlencode

import aiohttp_jinja2
from aiohttp import web

from bot.extend import extensions
from bot.keys import CONFIG, OFFICER, SESSION
from bot.labels import ROLE_NAMES
from bot.phones import mask_phone
from bot.web.auth import RANK


def render(request: web.Request, template: str, context: dict[str, Any] | None = None,
           *, status: int = 200) -> web.Response:
    officer = request.get(OFFICER)
    session = request.get(SESSION)
    rank = RANK[officer.role] if officer is not None else -1
    menu = sorted(extensions(request.app).menu, key=lambda entry: entry.order)
    nav = [(entry.path, entry.label) for entry in menu if rank >= RANK[entry.role]]
    current = next((p for p, _ in sorted(nav, key=lambda i: -len(i[0])) if request.path.startswith(p)), "")
    base = {
        "officer": officer, "csrf": session.csrf_token if session is not None else "",
        "nav": nav, "current": current, "bot": request.app[CONFIG].bot, "role_names": ROLE_NAMES,
        # SMS printed by the log provider, not sent: every page says so (bot/channels/log.py).
        "demo_mode": request.app[CONFIG].sms.provider == "log",
        "is_admin": officer is not None and officer.role == "admin",
        "can_approve": officer is not None and rank >= RANK["supervisor"],
        # After a form, handlers redirect with ?ok=… (what was done) or ?err=… (what went wrong).
        "flash": request.query.get("ok", "")[:200], "flash_error": request.query.get("err", "")[:300],
    }
    return aiohttp_jinja2.render_template(template, request, {**base, **(context or {})}, status=status)


def phone_for(request: web.Request, phone: str | None) -> str:
    """Phones are shown in full to admins only; everyone else sees 138****8000."""
    if not phone:
        return ""
    officer = request.get(OFFICER)
    return phone if officer is not None and officer.role == "admin" else mask_phone(phone)


def see_other(location: str, *, ok: str = "", err: str = "") -> web.Response:
    """Post/redirect/get: after a form the browser fetches `location`, which shows `ok` (what was
    done) or `err` (what went wrong) at the top."""
    if ok or err:
        query = urlencode({"ok": ok} if ok else {"err": err})
        location += ("&" if "?" in location else "?") + query
    return web.Response(status=303, headers={"Location": location})


def today(request: web.Request) -> date:
    """Today in the county's time zone."""
    return datetime.now(request.app[CONFIG].tz).date()


def translate(message: str, table: Iterable[tuple[str, str]]) -> str | None:
    """Officers read Chinese, the services speak English: the first (pattern, text) of `table`
    whose pattern is found in `message`, with its groups filled into text; None when none matches."""
    for pattern, text in table:
        if found := re.search(pattern, message):
            return text.format(*found.groups())
    return None
