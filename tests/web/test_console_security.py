"""Every console page and API route refuses anonymous, wrong-role and CSRF-less requests.

The routes are read from the app itself, so a route added later is covered (or fails the
'every route is guarded' test) without anyone remembering to list it here."""

from __future__ import annotations

import re

import pytest

from bot.app import create_app
from bot.models import AuditEvent
from bot.web.auth import RANK
from tests.conftest import make_config
from tests.helpers import Console

pytestmark = pytest.mark.db
# Open to anyone: the login form itself, its redirect, static files and the API description.
PUBLIC = {"/admin", "/admin/login", "/api/v1/openapi.json"}
PARAM = re.compile(r"\{(\w+)(?::([^}]*))?\}")


def _example(match: re.Match[str]) -> str:
    pattern = match.group(2) or ""
    if "|" in pattern:
        return pattern.split("|")[0]
    return "1" if "\\d" in pattern or match.group(1) == "id" else "x"


def _routes() -> list[tuple[str, str, str | None]]:
    app = create_app(make_config("sqlite:///tmp/nongbot-routes.sqlite3"), role="web")
    found = set()
    for route in app.router.routes():
        resource = route.resource
        if resource is None or route.method == "HEAD":
            continue
        path = resource.canonical
        if not path.startswith(("/admin", "/api/v1/")):
            continue
        if path in PUBLIC or path.startswith("/admin/static"):
            continue
        found.add((route.method, PARAM.sub(_example, path), getattr(route.handler, "required_role", None)))
    return sorted(found, key=lambda r: (r[1], r[0]))


ROUTES = _routes()
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


def test_every_console_and_api_route_is_guarded() -> None:
    unguarded = [f"{m} {p}" for m, p, role in ROUTES if role is None]
    assert not unguarded, f"routes without @page/@requires: {unguarded}"
    assert len(ROUTES) >= 10


async def test_anonymous_requests_are_refused(console: Console) -> None:
    wrong = []
    for method, path, _ in ROUTES:
        response = await console.client.request(method, path, allow_redirects=False, data=b"{}")
        if path.startswith("/api/"):
            body = await response.json(content_type=None)
            if response.status != 401 or "error" not in body:
                wrong.append(f"{method} {path}: {response.status} {body}")
        elif response.status != 303 or not response.headers["Location"].startswith("/admin/login"):
            wrong.append(f"{method} {path}: {response.status}")
    assert not wrong, "\n".join(wrong)
    assert await AuditEvent.all().count() == 0


async def test_wrong_role_is_refused(console: Console) -> None:
    below = {"supervisor": "officer", "admin": "supervisor"}
    checked, wrong = 0, []
    for method, path, role in ROUTES:
        if role not in below:
            continue  # "officer" is the lowest role: every account may
        checked += 1
        headers = await console.token(below[role])
        response = await console.client.request(method, path, headers=headers, json={})
        if path.startswith("/api/"):
            if response.status != 403 or "error" not in await response.json():
                wrong.append(f"token {method} {path}: {response.status}")
            continue
        await console.login(below[role])
        response = await console.client.request(
            method, path, data={"_csrf": console.csrf} if method in UNSAFE else None, allow_redirects=False)
        if response.status != 403 or "权限" not in await response.text():
            wrong.append(f"page {method} {path}: {response.status}")
    assert checked, "no route needs more than the officer role?"
    assert not wrong, "\n".join(wrong)
    assert not await AuditEvent.exclude(action="login").exists()


async def test_changes_without_csrf_token_are_refused(console: Console) -> None:
    await console.login("admin")  # may do anything: only the missing token can be the reason
    wrong = []
    for method, path, _ in ROUTES:
        if method not in UNSAFE:
            continue
        if path.startswith("/api/"):  # the session cookie alone is not enough for an API change
            for headers in ({}, {"X-CSRF-Token": "forged"}):
                response = await console.client.request(method, path, json={}, headers=headers)
                if response.status != 403:
                    wrong.append(f"{method} {path} {headers}: {response.status}")
        else:
            for data in ({}, {"_csrf": "forged"}):
                response = await console.client.request(method, path, data=data, allow_redirects=False)
                if response.status != 403:
                    wrong.append(f"{method} {path} {data}: {response.status}")
    assert not wrong, "\n".join(wrong)
    assert not await AuditEvent.exclude(action="login").exists()


async def test_role_ranks_are_ordered() -> None:
    assert RANK["officer"] < RANK["supervisor"] < RANK["admin"]
