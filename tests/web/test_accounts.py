"""Accounts: a new account and a reset password are the admin's, so the officer picks their own at the next
login (nothing else opens until then); an admin changes a role, disables and enables; the system's own
account is never listed; every act is in the audit trail, in Chinese."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus

import pytest

from bot.models import AuditEvent, ConsoleSession, Officer
from bot.web import auth
from broadcasts.pushes import SYSTEM_OFFICER, system_officer
from tests.helpers import OFFICER_NAMES, OFFICER_PASSWORD, Console

pytestmark = pytest.mark.db
TEMPORARY = "linshi-mima-8"
OWN = "wo-ziji-de-mima-2026"


async def log_in(console: Console, name: str, password: str) -> Any:
    """Through the login form; returns the answer (303 on success), the session's CSRF kept."""
    console.client.session.cookie_jar.clear()
    form = await (await console.client.get("/admin/login")).text()
    token = re.search(r'name="_csrf" value="([^"]+)"', form)
    assert token is not None
    response = await console.client.post("/admin/login", allow_redirects=False, data={
        "_csrf": token.group(1), "name": name, "password": password})
    session = await ConsoleSession.filter(officer__name=name).order_by("-id").first()
    console.csrf = session.csrf_token if session else ""
    return response


def told(response: Any) -> str:
    return unquote_plus(response.headers.get("Location", ""))


async def test_a_new_account_chooses_its_own_password_before_anything_else(console: Console) -> None:
    await console.login("admin")
    made = await console.post_form("/admin/officers", {"name": "新来的小赵", "role": "officer", "password": TEMPORARY})
    assert made.status == 303 and "第一次登录时要改成自己的密码" in told(made)
    zhao = await Officer.get(name="新来的小赵")
    assert zhao.must_change_password

    assert (await log_in(console, "新来的小赵", TEMPORARY)).status == 303
    for path in ("/admin/", "/admin/articles", "/admin/articles/new"):
        response = await console.client.get(path, allow_redirects=False)
        assert response.status == 303 and response.headers["Location"] == "/admin/password", path
    page = await console.client.get("/admin/password")
    text = await page.text()
    assert page.status == 200 and "临时密码" in text and f"/admin/officers/{zhao.id}/new-password" in text
    refused = await console.post_form("/admin/articles", {"title": "x"})
    assert refused.status == 403 and "请先修改密码" in await refused.text()
    api = await console.api("POST", "/api/v1/articles/preview", json={"body": "x"})
    assert api.status == 403 and "修改密码" in (await api.json())["error"]

    change = f"/admin/officers/{zhao.id}/new-password"
    for data, problem in (({"current": "wrong-one-1", "password": OWN, "again": OWN}, "现在的密码不对"),
                          ({"current": TEMPORARY, "password": "short", "again": "short"}, "至少 8 位"),
                          ({"current": TEMPORARY, "password": OWN, "again": OWN + "x"}, "两次输入"),
                          ({"current": TEMPORARY, "password": TEMPORARY, "again": TEMPORARY}, "不能和现在的一样")):
        response = await console.post_form(change, data)
        assert response.status == 400 and problem in await response.text(), problem
    assert (await Officer.get(id=zhao.id)).must_change_password
    others = await console.post_form(f"/admin/officers/{console.officers['officer'].id}/new-password",
                                     {"current": TEMPORARY, "password": OWN, "again": OWN})
    assert others.status == 403

    done = await console.post_form(change, {"current": TEMPORARY, "password": OWN, "again": OWN})
    assert done.status == 303 and done.headers["Location"].startswith("/admin/?ok=")
    assert not (await Officer.get(id=zhao.id)).must_change_password
    assert (await console.client.get("/admin/articles")).status == 200
    assert (await log_in(console, "新来的小赵", TEMPORARY)).status == 401  # the temporary one is gone
    assert (await log_in(console, "新来的小赵", OWN)).status == 303
    assert (await console.client.get("/admin/", allow_redirects=False)).status == 200
    # one row: the refused tries changed nothing and are not acts
    assert await AuditEvent.filter(officer_name="新来的小赵", action__endswith="/new-password").count() == 1
    assert await AuditEvent.filter(action="POST /admin/officers/{id}/role").count() == 0

    await console.login("supervisor")
    audit = await (await console.client.get("/admin/audit")).text()
    assert "新来的小赵 修改了自己的密码" in audit and OWN not in audit and TEMPORARY not in audit


async def test_an_admin_resets_a_password_and_the_officer_must_change_it(console: Console) -> None:
    wang = console.officers["officer"]
    assert (await log_in(console, OFFICER_NAMES["officer"], OFFICER_PASSWORD)).status == 303
    assert await ConsoleSession.filter(officer_id=wang.id).exists()

    await console.login("admin")
    short = await console.post_form(f"/admin/officers/{wang.id}/reset-password", {"password": "short"})
    assert short.status == 400 and "至少 8 位" in await short.text()
    assert not (await Officer.get(id=wang.id)).must_change_password
    own = await console.post_form(f"/admin/officers/{console.officers['admin'].id}/reset-password",
                                  {"password": TEMPORARY})
    assert own.status == 400 and "修改密码" in await own.text()
    reset = await console.post_form(f"/admin/officers/{wang.id}/reset-password", {"password": TEMPORARY})
    assert reset.status == 303 and "已重置" in told(reset)
    assert not await ConsoleSession.filter(officer_id=wang.id).exists()  # logged out everywhere
    listed = await (await console.client.get("/admin/officers")).text()
    assert "待本人改密码" in listed
    event = await AuditEvent.get(action="POST /admin/officers/{id}/reset-password")  # the refused ones: none
    assert event.officer_name == OFFICER_NAMES["admin"] and TEMPORARY not in event.detail

    assert (await log_in(console, OFFICER_NAMES["officer"], OFFICER_PASSWORD)).status == 401
    assert (await log_in(console, OFFICER_NAMES["officer"], TEMPORARY)).status == 303
    assert (await console.client.get("/admin/", allow_redirects=False)).headers["Location"] == "/admin/password"
    done = await console.post_form(f"/admin/officers/{wang.id}/new-password",
                                   {"current": TEMPORARY, "password": OWN, "again": OWN})
    assert done.status == 303 and not (await Officer.get(id=wang.id)).must_change_password

    await console.login("supervisor")
    audit = await (await console.client.get("/admin/audit")).text()
    assert f"{OFFICER_NAMES['admin']}" in audit and "重置了密码" in audit


async def test_an_admin_changes_a_role_but_not_their_own(console: Console) -> None:
    wang = console.officers["officer"]
    await console.login("admin")
    changed = await console.post_form(f"/admin/officers/{wang.id}/role", {"role": "supervisor"})
    assert changed.status == 303 and "审核员" in told(changed)
    assert (await Officer.get(id=wang.id)).role == "supervisor"
    event = await AuditEvent.filter(action="POST /admin/officers/{id}/role").get()
    assert event.detail == f"{OFFICER_NAMES['officer']}：农技员 → 审核员"
    assert "请选择角色" in await (await console.post_form(f"/admin/officers/{wang.id}/role", {"role": "boss"})).text()
    mine = await console.post_form(f"/admin/officers/{console.officers['admin'].id}/role", {"role": "officer"})
    assert mine.status == 400 and "不能更改自己的角色" in await mine.text()
    assert (await Officer.get(id=console.officers["admin"].id)).role == "admin"

    await console.login("supervisor")  # only admins manage accounts
    for action, data in (("role", {"role": "admin"}), ("reset-password", {"password": TEMPORARY}),
                         ("disable", {}), ("enable", {})):
        refused = await console.post_form(f"/admin/officers/{wang.id}/{action}", data)
        assert refused.status == 403, action
    assert (await Officer.get(id=wang.id)).role == "supervisor"


async def test_disable_then_enable(console: Console) -> None:
    wang = console.officers["officer"]
    headers = await console.token("officer")
    await console.login("admin")
    assert (await console.post_form(f"/admin/officers/{wang.id}/disable")).status == 303
    assert (await log_in(console, OFFICER_NAMES["officer"], OFFICER_PASSWORD)).status == 401
    assert (await console.client.get("/api/v1/articles", headers=headers)).status == 401
    await console.login("admin")
    assert (await console.post_form(f"/admin/officers/{wang.id}/enable")).status == 303
    assert (await console.client.get("/api/v1/articles", headers=headers)).status == 200
    assert (await log_in(console, OFFICER_NAMES["officer"], OFFICER_PASSWORD)).status == 303
    kinds = [e.action.rsplit("/", 1)[1] for e in await AuditEvent.filter(action__startswith="POST /admin/officers/")
             .order_by("id")]
    assert kinds == ["disable", "enable"]


async def test_the_systems_own_account_is_never_listed_or_changed(console: Console) -> None:
    system = await system_officer()  # what price alerts and job pushes are sent as
    assert system.internal and not system.active
    await console.login("admin")
    page = await (await console.client.get("/admin/officers")).text()
    assert SYSTEM_OFFICER not in page and OFFICER_NAMES["officer"] in page
    api = await (await console.client.get("/api/v1/officers", headers=await console.token("admin"))).json()
    assert SYSTEM_OFFICER not in [o["name"] for o in api["officers"]] and len(api["officers"]) == 3
    for action, data in (("enable", {}), ("reset-password", {"password": TEMPORARY}), ("role", {"role": "admin"})):
        response = await console.post_form(f"/admin/officers/{system.id}/{action}", data)
        assert response.status == 404, action
    after = await Officer.get(id=system.id)
    assert not after.active and after.password_hash == "!" and after.role == "officer"
    assert not auth.verify_password(after, TEMPORARY)
