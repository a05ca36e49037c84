"""Console accounts: officers list (admin), create, unlock, (de)activate, reset a password, change a role;
every officer's own password (forced at first login and after a reset). The audit trail is bot/web/audit.py.

Internal accounts (the system's own, which sends pushes) are no person's: never listed, never changed."""

from __future__ import annotations

from aiohttp import web

from bot.extend import MenuEntry, add_menu
from bot.keys import OFFICER, SESSION
from bot.labels import ROLE_NAMES
from bot.models import ConsoleSession, Officer
from bot.web import auth, limits
from bot.web.auth import MIN_PASSWORD, PASSWORD_PAGE, ROLES, requires
from bot.web.console import AUDIT_DETAIL
from bot.web.view import render, see_other

BACK = "/admin/officers"
ACTIONS = ("unlock", "disable", "enable", "reset-password", "role")


def setup(app: web.Application) -> None:
    add_menu(app, MenuEntry("/admin/officers", "账号", role="admin", order=90))
    add_menu(app, MenuEntry(PASSWORD_PAGE, "修改密码", order=95))
    app.router.add_get("/admin/officers", officers_page)
    app.router.add_post("/admin/officers", officer_create)
    app.router.add_get("/admin/officers/{id:\\d+}", officer_page)
    for action in ACTIONS:
        app.router.add_post(f"/admin/officers/{{id:\\d+}}/{action}", officer_action)
    app.router.add_get(PASSWORD_PAGE, password_page)
    app.router.add_post("/admin/officers/{id:\\d+}/new-password", password_change)
    app.router.add_get("/api/v1/officers", officers_api)


@auth.page("admin")
async def officers_page(request: web.Request) -> web.Response:
    return await _officers(request)


async def _officers(request: web.Request, refused: str = "") -> web.Response:
    """The list; with `refused`, the reason an act was not done (400: nothing changed, nothing audited)."""
    officers = await Officer.filter(internal=False).order_by("name")
    return render(request, "officers.html", {"officers": officers, "roles": ROLES, "min_password": MIN_PASSWORD,
                                             **({"flash_error": refused, "flash": ""} if refused else {})},
                  status=400 if refused else 200)


async def _person(request: web.Request) -> Officer:
    person = await Officer.get_or_none(id=int(request.match_info["id"]), internal=False)
    if person is None:
        raise web.HTTPNotFound(reason="没有这个账号")
    return person


@auth.page("admin")
async def officer_page(request: web.Request) -> web.Response:
    return _one(request, await _person(request))


def _one(request: web.Request, person: Officer, refused: str = "") -> web.Response:
    """One account's page; with `refused`, why an act on it was not done (400, nothing audited)."""
    return render(request, "officer.html", {"person": person, "roles": ROLES, "min_password": MIN_PASSWORD,
                                            **({"flash_error": refused, "flash": ""} if refused else {})},
                  status=400 if refused else 200)


@auth.page("admin")
async def officer_create(request: web.Request) -> web.Response:
    form = await request.post()
    name, role = str(form.get("name", "")).strip(), str(form.get("role", ""))
    if not name or len(name) > 50:
        return await _officers(request, "请填写用户名（最多 50 个字）")
    if await Officer.exists(name=name):
        return await _officers(request, f"用户名 {name} 已经存在")
    try:
        await auth.add_officer(name, role, str(form.get("password", "")), must_change=True)
    except ValueError:
        return await _officers(request, f"请选择角色，密码至少 {MIN_PASSWORD} 位")
    request[AUDIT_DETAIL] = f"开设了{ROLE_NAMES[role]}账号 {name}（首次登录须改密码）"
    return see_other(BACK, ok=f"已开设账号 {name}。请把初始密码告诉本人：第一次登录时要改成自己的密码。")


@auth.page("admin")
async def officer_action(request: web.Request) -> web.Response:
    officer = await _person(request)
    action = request.path.rsplit("/", 1)[1]
    form = await request.post()
    me = officer.id == request[OFFICER].id
    if action == "unlock":
        officer.locked_until, officer.failed_logins = None, 0
        request.app[limits.LIMITS].login_name.clear(officer.name[:50])  # and the name's attempts
        done = f"已解锁：{officer.name}"
    elif action == "disable":
        if me:
            return _one(request, officer, "不能停用自己的账号")
        officer.active = False
        await ConsoleSession.filter(officer_id=officer.id).delete()  # logged out everywhere at once
        done = f"已停用：{officer.name}。他已退出登录，接口令牌也立即失效。"
    elif action == "enable":
        officer.active = True
        done = f"已启用：{officer.name}"
    elif action == "reset-password":
        if me:
            return _one(request, officer, "自己的密码请在“修改密码”里改")
        password = str(form.get("password", ""))
        if len(password) < MIN_PASSWORD:
            return _one(request, officer, f"临时密码至少 {MIN_PASSWORD} 位")
        officer.password_hash, officer.must_change_password = auth.hash_password(password), True
        officer.locked_until, officer.failed_logins = None, 0
        request.app[limits.LIMITS].login_name.clear(officer.name[:50])
        await ConsoleSession.filter(officer_id=officer.id).delete()  # the old password's logins end too
        done = f"已重置 {officer.name} 的密码。请把临时密码告诉本人：下次登录时要改成自己的密码。"
    else:
        role = str(form.get("role", ""))
        if me:
            return _one(request, officer, "不能更改自己的角色（请另一位管理员来改）")
        if role not in ROLES:
            return _one(request, officer, "请选择角色")
        request[AUDIT_DETAIL] = f"{officer.name}：{ROLE_NAMES[officer.role]} → {ROLE_NAMES[role]}"
        officer.role = role
        done = f"{officer.name} 现在是{ROLE_NAMES[role]}"
    await officer.save(update_fields=["locked_until", "failed_logins", "active", "password_hash",
                                      "must_change_password", "role"])
    return see_other(f"{BACK}/{officer.id}" if action in ("reset-password", "role") else BACK, ok=done)


@auth.page("officer", before_password_change=True)
async def password_page(request: web.Request) -> web.Response:
    return render(request, "password.html", {"forced": request[OFFICER].must_change_password,
                                             "min_password": MIN_PASSWORD})


@auth.page("officer", before_password_change=True)
async def password_change(request: web.Request) -> web.Response:
    """An officer sets their own password (the current one first); their other logins end."""
    officer = request[OFFICER]
    if int(request.match_info["id"]) != officer.id:
        raise auth.PageRefused("只能修改自己的密码；别人的密码请管理员在“账号”里重置。")
    form = await request.post()
    current, new = str(form.get("current", "")), str(form.get("password", ""))
    problem = ""
    if not await auth.check_password(officer, current):
        problem = "现在的密码不对"
    elif len(new) < MIN_PASSWORD:
        problem = f"新密码至少 {MIN_PASSWORD} 位"
    elif new != str(form.get("again", "")):
        problem = "两次输入的新密码不一样"
    elif new == current:
        problem = "新密码不能和现在的一样"
    if problem:  # a page, not a redirect: nothing was done, so nothing goes into the audit trail
        return render(request, "password.html", {"forced": officer.must_change_password, "min_password": MIN_PASSWORD,
                                                 "flash_error": problem + "，密码没有改。"}, status=400)
    await Officer.filter(id=officer.id).update(password_hash=auth.hash_password(new), must_change_password=False)
    await ConsoleSession.filter(officer_id=officer.id).exclude(id=request[SESSION].id).delete()
    request[AUDIT_DETAIL] = "修改了自己的密码"
    return see_other("/admin/", ok="密码已修改。以后请用新密码登录。")


@requires("admin")
async def officers_api(request: web.Request) -> web.Response:
    """Console accounts (people, not the system's own) with role, state, lockout and whether they still
    have to choose their own password."""
    rows = await Officer.filter(internal=False).order_by("name")
    return web.json_response({"officers": [
        {"id": o.id, "name": o.name, "role": o.role, "active": o.active,
         "must_change_password": o.must_change_password,
         "locked_until": o.locked_until.isoformat() if o.locked_until else None} for o in rows]})
