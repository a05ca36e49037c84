"""The console frame: login, cookies, lockout, CSRF on the login form, logout, expiry, audit, OpenAPI."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.app import create_app
from bot.keys import CONFIG
from bot.models import ApiToken, AuditEvent, ConsoleSession, Officer
from bot.web.auth import SESSION_COOKIE
from bot.web.console import LOGIN_CSRF_COOKIE
from tests.conftest import make_config
from tests.helpers import OFFICER_NAMES, OFFICER_PASSWORD, Console

pytestmark = pytest.mark.db


async def _login_form(console: Console) -> str:
    page = await console.client.get("/admin/login")
    assert page.status == 200
    found = re.search(r'name="_csrf" value="([^"]+)"', await page.text())
    assert found is not None
    return found.group(1)


async def _try(console: Console, password: str, role: str = "officer", **extra: str) -> Any:
    token = await _login_form(console)
    return await console.client.post("/admin/login", allow_redirects=False, data={
        "_csrf": token, "name": OFFICER_NAMES[role], "password": password, **extra})


async def test_login_sets_a_strict_httponly_session_cookie_and_goes_where_asked(console: Console) -> None:
    first = await console.client.get("/admin/officers", allow_redirects=False)
    assert first.status == 303 and first.headers["Location"] == "/admin/login?next=/admin/officers"
    response = await _try(console, OFFICER_PASSWORD, role="admin", next="/admin/officers")
    assert response.status == 303 and response.headers["Location"] == "/admin/officers"
    cookie = response.cookies[SESSION_COOKIE]
    assert cookie["httponly"] and cookie["samesite"] == "Strict" and not cookie["secure"]
    assert cookie.value not in {s.token_hash for s in await ConsoleSession.all()}  # only the hash is kept
    page = await console.client.get("/admin/officers")
    assert page.status == 200 and "后台账号" in await page.text()
    assert page.headers["X-Frame-Options"] == "DENY"
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assert await AuditEvent.filter(action="login", officer_name=OFFICER_NAMES["admin"]).exists()


async def test_cookie_is_secure_behind_https(aiohttp_client: Any, db_url: str, officer_password_hash: str) -> None:
    config = make_config(db_url, server={"public_url": "https://nongbot.example.cn"})
    console = Console(await aiohttp_client(create_app(config, role="web")), {})
    await Officer.create(name=OFFICER_NAMES["officer"], role="officer", password_hash=officer_password_hash)
    form = await console.client.get("/admin/login")
    login_cookie = form.cookies[LOGIN_CSRF_COOKIE]
    assert login_cookie["secure"]
    # The test client speaks plain http, so it would not send a Secure cookie back: a browser would.
    console.client.session.cookie_jar.clear()
    response = await console.client.post("/admin/login", allow_redirects=False, headers={
        "Cookie": f"{LOGIN_CSRF_COOKIE}={login_cookie.value}"}, data={
        "_csrf": login_cookie.value, "name": OFFICER_NAMES["officer"], "password": OFFICER_PASSWORD})
    assert response.status == 303 and response.cookies[SESSION_COOKIE]["secure"]


@pytest.mark.parametrize("next_url", ["https://evil.example/", "//evil.example/x", "/webhooks/twilio/sms"])
async def test_login_never_redirects_outside_the_console(console: Console, next_url: str) -> None:
    response = await _try(console, OFFICER_PASSWORD, next=next_url)
    assert response.headers["Location"] == "/admin/"


async def test_login_form_needs_its_csrf_token(console: Console) -> None:
    await _login_form(console)
    for data in ({}, {"_csrf": "forged"}):
        response = await console.client.post("/admin/login", allow_redirects=False, data={
            **data, "name": OFFICER_NAMES["officer"], "password": OFFICER_PASSWORD})
        assert response.status == 403 and "过期" in await response.text()
    assert not await ConsoleSession.exists()


async def test_wrong_password_and_unknown_name_get_the_same_answer(console: Console) -> None:
    wrong = await _try(console, "not-the-password")
    console.client.session.cookie_jar.clear()
    token = await _login_form(console)
    unknown = await console.client.post("/admin/login", allow_redirects=False, data={
        "_csrf": token, "name": "nobody", "password": "whatever-123"})
    assert wrong.status == unknown.status == 401
    assert "用户名或密码不对" in await wrong.text() and "用户名或密码不对" in await unknown.text()
    assert (await Officer.get(name=OFFICER_NAMES["officer"])).failed_logins == 1
    assert await AuditEvent.filter(action="login_failed").count() == 2


async def test_repeated_failures_lock_the_account_until_time_or_an_admin(console: Console) -> None:
    for _ in range(console.app[CONFIG].console.max_failed_logins - 1):
        assert (await _try(console, "wrong-password")).status == 401
    locked = await _try(console, "wrong-password")
    assert locked.status == 403 and "锁定" in await locked.text()
    right = await _try(console, OFFICER_PASSWORD)  # even the right password waits
    assert right.status == 403 and "锁定" in await right.text()
    assert await AuditEvent.filter(action="login_locked").count() == 1
    assert await AuditEvent.filter(action="login_refused_locked").count() == 1
    officer = await Officer.get(name=OFFICER_NAMES["officer"])
    assert officer.locked_until is not None
    await console.login("admin")
    unlock = await console.post_form(f"/admin/officers/{officer.id}/unlock")
    assert unlock.status == 303 and "ok=" in unlock.headers["Location"]
    assert (await _try(console, OFFICER_PASSWORD)).status == 303


async def test_a_lock_ends_by_itself(console: Console) -> None:
    await Officer.filter(role="officer").update(locked_until=datetime.now(UTC) - timedelta(seconds=1))
    assert (await _try(console, OFFICER_PASSWORD)).status == 303


async def test_logout_ends_the_session_on_the_server(console: Console) -> None:
    await console.login("admin")
    cookie = console.client.session.cookie_jar.filter_cookies(console.client.make_url("/admin/"))[SESSION_COOKIE]
    response = await console.post_form("/admin/logout")
    assert response.status == 303 and response.headers["Location"] == "/admin/login"
    assert not await ConsoleSession.exists()
    console.client.session.cookie_jar.update_cookies({SESSION_COOKIE: cookie.value})  # a stolen copy
    again = await console.client.get("/admin/officers", allow_redirects=False)
    assert again.status == 303 and again.headers["Location"].startswith("/admin/login")


async def test_expired_session_goes_back_to_login(console: Console) -> None:
    await console.login("admin")
    await ConsoleSession.all().update(expires_at=datetime.now(UTC) - timedelta(seconds=1))
    response = await console.client.get("/admin/officers", allow_redirects=False)
    assert response.status == 303


async def test_disabled_officer_loses_sessions_and_tokens_at_once(console: Console) -> None:
    officer = console.officers["officer"]
    headers = await console.token("officer")
    await console.login("officer")
    officer_cookie = dict(console.client.session.cookie_jar.filter_cookies(console.client.make_url("/")))
    await console.login("admin")
    response = await console.post_form(f"/admin/officers/{officer.id}/disable")
    assert response.status == 303
    assert not await ConsoleSession.filter(officer_id=officer.id).exists()
    assert (await console.client.get("/api/v1/prices", headers=headers)).status == 401
    console.client.session.cookie_jar.clear()
    console.client.session.cookie_jar.update_cookies({k: v.value for k, v in officer_cookie.items()})
    assert (await console.client.get("/admin/audit", allow_redirects=False)).status == 303
    assert await ApiToken.filter(officer_id=officer.id).exists()  # kept for the record, refused while disabled


async def test_admin_opens_accounts_and_refuses_bad_ones(console: Console) -> None:
    await console.login("admin")
    made = await console.post_form("/admin/officers", {"name": "新农技员", "role": "officer", "password": "long-enough-1"})
    assert made.status == 303 and "ok=" in made.headers["Location"]
    assert (await Officer.get(name="新农技员")).role == "officer"
    for data in ({"name": "新农技员", "role": "officer", "password": "long-enough-1"},
                 {"name": "短密码", "role": "officer", "password": "short"},
                 {"name": "没角色", "role": "boss", "password": "long-enough-1"}):
        response = await console.post_form("/admin/officers", data)
        assert response.status == 400 and "flash err" in await response.text()  # refused: nothing audited
    assert await Officer.all().count() == 4
    page = await (await console.client.get(made.headers["Location"])).text()
    assert "已开设账号 新农技员" in page


async def test_admin_cannot_disable_themself(console: Console) -> None:
    await console.login("admin")
    response = await console.post_form(f"/admin/officers/{console.officers['admin'].id}/disable")
    assert response.status == 400 and "不能停用自己的账号" in await response.text()
    assert (await Officer.get(id=console.officers["admin"].id)).active


async def test_every_change_is_in_the_audit_trail(console: Console) -> None:
    headers = await console.token("officer")
    response = await console.client.post("/api/v1/markets", json={"name": "上津镇田头"}, headers=headers)
    assert response.status == 201
    refused = await console.client.post("/api/v1/markets", json={"name": ""}, headers=headers)
    assert refused.status == 400
    events = await AuditEvent.all()
    assert [(e.officer_name, e.action) for e in events] == [(OFFICER_NAMES["officer"], "POST /api/v1/markets")]
    await console.login("supervisor")
    page = await console.client.get("/admin/audit")
    assert f"{OFFICER_NAMES['officer']} 添加了市场" in await page.text()
    api = await console.client.get("/api/v1/audit", headers=await console.token("supervisor"))
    assert any(e["action"] == "POST /api/v1/markets" for e in (await api.json())["events"])


async def test_openapi_describes_every_api_route_with_its_role(console: Console) -> None:
    response = await console.client.get("/api/v1/openapi.json")
    assert response.status == 200
    spec = await response.json()
    assert spec["openapi"].startswith("3.")
    operations = {(method.upper(), path): op for path, item in spec["paths"].items() for method, op in item.items()}
    for route in console.app.router.routes():
        canonical = route.resource.canonical if route.resource else ""
        if canonical.startswith("/api/v1/") and route.method != "HEAD":
            path = re.sub(r"\{(\w+)(?::[^}]*)?\}", r"{\1}", canonical)
            assert (route.method, path) in operations, f"{route.method} {path} missing"
    broadcasts = operations[("POST", "/api/v1/broadcasts/{id}/approve")]
    assert broadcasts["x-required-role"] == "supervisor" and broadcasts["security"] == [{"bearer": []}]
    assert operations[("GET", "/api/v1/audit")]["x-required-role"] == "supervisor"
    assert len({op["operationId"] for op in operations.values()}) == len(operations)


async def test_api_errors_are_json_with_4xx(console: Console) -> None:
    headers = await console.token("officer")
    missing = await console.client.get("/api/v1/broadcasts/999999", headers=headers)
    assert missing.status == 404 and "error" in await missing.json()
    bad = await console.client.post("/api/v1/broadcasts", data="not json", headers=headers)
    assert bad.status == 400 and "error" in await bad.json()
    scheme = await console.client.get("/api/v1/prices", headers={"Authorization": "Basic abc"})
    assert scheme.status == 401 and "error" in await scheme.json()
