"""Console accounts: officers list (admin), create, unlock, (de)activate. The audit trail is bot/web/audit.py."""

from __future__ import annotations

from aiohttp import web

from bot.extend import MenuEntry, add_menu
from bot.keys import OFFICER
from bot.models import ConsoleSession, Officer
from bot.web import auth, limits
from bot.web.auth import ROLES, requires
from bot.web.view import render, see_other


def setup(app: web.Application) -> None:
    add_menu(app, MenuEntry("/admin/officers", "账号", role="admin", order=90))
    app.router.add_get("/admin/officers", officers_page)
    app.router.add_post("/admin/officers", officer_create)
    for action in ("unlock", "disable", "enable"):
        app.router.add_post(f"/admin/officers/{{id:\\d+}}/{action}", officer_action)
    app.router.add_get("/api/v1/officers", officers_api)


@auth.page("admin")
async def officers_page(request: web.Request) -> web.Response:
    return render(request, "officers.html", {"officers": await Officer.all().order_by("name"), "roles": ROLES})


@auth.page("admin")
async def officer_create(request: web.Request) -> web.Response:
    form = await request.post()
    name, role = str(form.get("name", "")).strip(), str(form.get("role", ""))
    if not name or len(name) > 50:
        return see_other("/admin/officers", err="请填写用户名（最多 50 个字）")
    if await Officer.exists(name=name):
        return see_other("/admin/officers", err=f"用户名 {name} 已经存在")
    try:
        await auth.add_officer(name, role, str(form.get("password", "")))
    except ValueError:
        return see_other("/admin/officers", err="请选择角色，密码至少 8 位")
    return see_other("/admin/officers", ok=f"已开设账号 {name}")


@auth.page("admin")
async def officer_action(request: web.Request) -> web.Response:
    officer = await Officer.get_or_none(id=int(request.match_info["id"]))
    if officer is None:
        raise web.HTTPNotFound(reason="没有这个账号")
    action = request.path.rsplit("/", 1)[1]
    if action == "unlock":
        officer.locked_until, officer.failed_logins = None, 0
        request.app[limits.LIMITS].login_name.clear(officer.name[:50])  # and the name's attempts
    elif action == "disable":
        if officer.id == request[OFFICER].id:
            return see_other("/admin/officers", err="不能停用自己的账号")
        officer.active = False
        await ConsoleSession.filter(officer_id=officer.id).delete()  # logged out everywhere at once
    else:
        officer.active = True
    await officer.save(update_fields=["locked_until", "failed_logins", "active"])
    done = {"unlock": "已解锁", "disable": "已停用", "enable": "已启用"}[action]
    return see_other("/admin/officers", ok=f"{done}：{officer.name}")


@requires("admin")
async def officers_api(request: web.Request) -> web.Response:
    """Console accounts with role, state and lockout."""
    rows = await Officer.all().order_by("name")
    return web.json_response({"officers": [
        {"id": o.id, "name": o.name, "role": o.role, "active": o.active,
         "locked_until": o.locked_until.isoformat() if o.locked_until else None} for o in rows]})

