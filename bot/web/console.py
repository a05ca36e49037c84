"""The officer console's frame: templates, static files, login and logout, security headers, audit."""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlencode

import aiohttp_jinja2
import jinja2
from aiohttp import web

from bot import labels
from bot.extend import MenuEntry, add_menu, extensions
from bot.keys import CONFIG, OFFICER
from bot.models import AuditEvent, Officer
from bot.web import assets, auth, fields, limits, openapi, params
from bot.web.view import render, see_other

log = logging.getLogger("nongbot.console")
HERE = Path(__file__).parent
LOGIN_CSRF_COOKIE = "nongbot_login_csrf"
# Handlers may say more about what they did; the middleware writes it into the audit row.
AUDIT_DETAIL = web.RequestKey("audit_detail", str)
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}
UNSAFE = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def setup(app: web.Application) -> None:
    env = aiohttp_jinja2.setup(
        app, loader=Templates(app), autoescape=True,
        trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined,
    )
    env.filters["local"] = lambda dt, fmt="%Y-%m-%d %H:%M": (
        dt.astimezone(app[CONFIG].tz).strftime(fmt) if dt else "")
    env.globals["labels"] = labels  # every template names channels, roles and states the same way
    app[limits.LIMITS] = limits.Limits.for_console(app[CONFIG].console)
    assets.setup(app, "/admin/static", HERE / "static", name="static")
    app.router.add_get("/admin/login", login_form)
    app.router.add_post("/admin/login", login)
    app.router.add_post("/admin/logout", logout)
    app.router.add_get("/admin", to_dashboard)
    add_menu(app, MenuEntry("/admin/", "首页", order=0))
    app.router.add_get("/api/v1/openapi.json", openapi.spec)
    app.middlewares.append(console_middleware)


class Templates(jinja2.BaseLoader):
    """The console's own templates, then each feature's folder (bot/extend.add_templates), looked up
    when a page is first rendered, so features may register theirs before or after the console."""

    def __init__(self, app: web.Application) -> None:
        self.app = app

    def get_source(
        self, environment: jinja2.Environment, template: str
    ) -> tuple[str, str | None, Callable[[], bool] | None]:
        for folder in (HERE / "templates", *extensions(self.app).templates):
            with contextlib.suppress(jinja2.TemplateNotFound):
                return jinja2.FileSystemLoader(folder).get_source(environment, template)
        raise jinja2.TemplateNotFound(template)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def console_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Security headers on console pages, refusals shown as a page, and one audit row for every
    change an officer made successfully (console form or API call)."""
    path = request.path
    is_console = path == "/admin" or path.startswith("/admin/")
    if not is_console and not path.startswith("/api/v1/"):
        return await handler(request)
    try:
        params.check_path(request)
        if is_console and request.method in UNSAFE:
            await params.check_form(request)
        response = await handler(request)
    except fields.Invalid as bad:
        response = _refused_input(request, bad, is_console)
    except auth.PageRefused as refused:
        response = render(request, "forbidden.html", {"reason": str(refused)}, status=403)
    except web.HTTPException as exc:
        if exc.status >= 400 and is_console:
            response = _error_page(request, exc.status, exc.reason)
        else:
            raise
    except Exception:  # a bug: logged with a reference; the officer sees Chinese, never a traceback
        ref = secrets.token_hex(4)
        log.exception("console request failed", extra={"ref": ref, "path": path})
        if not is_console:
            return auth.error(500, f"服务器出了问题，这次操作没有完成。请稍后再试；仍不行请告诉管理员编号 {ref}。")
        response = _error_page(request, 500, "", ref=ref)
    if is_console:
        versioned = response.headers.get("Cache-Control") == assets.CACHED
        response.headers.update(SECURITY_HEADERS)
        if versioned:  # a static file asked for by its hash (bot/web/assets.py) may be kept
            response.headers["Cache-Control"] = assets.CACHED
    officer = request.get(OFFICER)
    if request.method in UNSAFE and officer is not None and response.status < 400:
        await _audit(request, officer)
    return response


# What an officer reads for an HTTP error that carries no Chinese reason of its own.
ERROR_PAGES = {
    400: ("请求有误", "这个请求里有看不懂的地方。请回到上一页重新操作。"),
    403: ("无法完成这个操作", "您没有权限做这件事。"),
    404: ("没有找到这个页面", "地址可能写错了，或者这条内容已被删除。"),
    405: ("无法完成这个操作", "这个地址不能这样打开。请从菜单进入。"),
    413: ("内容太大", "上传或提交的内容太大，请分成几次。"),
    429: ("操作太频繁", "操作太频繁，请稍等一会儿再试。"),
    500: ("出了点问题", "服务器出了问题，这次操作没有完成。请返回上一页再试一次；仍不行请把下面的编号告诉管理员。"),
}


def _error_page(request: web.Request, status: int, reason: str, *, ref: str = "") -> web.Response:
    """The console's page for an error: the handler's Chinese reason, else a plain Chinese one."""
    heading, default = ERROR_PAGES.get(status, ERROR_PAGES[500 if status >= 500 else 400])
    chinese = reason and not reason.isascii()
    try:
        return render(request, "error.html", {
            "heading": heading, "reason": reason if chinese else default, "status": status, "ref": ref,
        }, status=status)
    except Exception:  # the page itself failed (e.g. the database is down): plain text, still Chinese
        log.exception("error page failed", extra={"ref": ref})
        return web.Response(status=status, text=f"{heading}：{default}", content_type="text/plain", charset="utf-8")


def _refused_input(request: web.Request, bad: fields.Invalid, is_console: bool) -> web.Response:
    """Input the route does not accept (bot/web/params.py): 400 {"error"} on the API; on a console page
    the page again without the bad parameter and the reason on top, or a page saying what was wrong."""
    if not is_console:
        return auth.error(bad.status, bad.message)
    if request.method == "GET" and bad.status == 400 and bad.param in request.query:
        kept = [(k, v) for k, v in request.query.items() if k not in (bad.param, "ok", "err")]
        return see_other(request.path + (f"?{urlencode(kept)}" if kept else ""), err=bad.message)
    return render(request, "refused_input.html", {"reason": bad.message, "back": request.path}, status=bad.status)


async def _audit(request: web.Request, officer: Officer) -> None:
    info = request.match_info
    route = info.route.resource.canonical if info.route.resource is not None else request.path
    target = ",".join(f"{k}={v}" for k, v in info.items())
    await AuditEvent.create(
        officer=officer, officer_name=officer.name, action=f"{request.method} {route}"[:40],
        target=target[:100], detail=request.get(AUDIT_DETAIL, "")[:2000], ip=auth.client_ip(request),
    )


async def record(request: web.Request, action: str, *, officer: Officer | None = None,
                 name: str = "", detail: str = "") -> None:
    """An audit row for what the middleware cannot see (logins, failed logins, logouts)."""
    await AuditEvent.create(officer=officer, officer_name=(officer.name if officer else name)[:50],
                            action=action, detail=detail[:2000], ip=auth.client_ip(request))


def _safe_next(value: str) -> str:
    # Only paths inside the console: never an open redirect to another site.
    return value if value.startswith("/admin/") and not value.startswith("//") else "/admin/"


async def login_form(request: web.Request, *, message: str = "", status: int = 200, name: str = "") -> web.Response:
    token = secrets.token_urlsafe(24)
    response = render(request, "login.html", {
        "login_csrf": token, "message": message, "next": _safe_next(request.query.get("next", "")),
        "name": name,
    }, status=status)
    response.set_cookie(LOGIN_CSRF_COOKIE, token, path="/admin/login", httponly=True, samesite="Strict",
                        secure=auth.secure_cookies(request), max_age=3600)
    response.headers.update(SECURITY_HEADERS)
    return response


async def login(request: web.Request) -> web.Response:
    form = await request.post()
    name = str(form.get("name", "")).strip()
    password = str(form.get("password", ""))
    sent = str(form.get(auth.CSRF_FIELD, ""))
    if not sent or not auth.same(sent, request.cookies.get(LOGIN_CSRF_COOKIE, "")):
        return await login_form(request, message="登录页面已过期，请重新输入。", status=403)
    config = request.app[CONFIG].console
    threshold, lockout = config.max_failed_logins, timedelta(minutes=config.lockout_minutes)
    address = auth.client_ip(request)
    # Slowed per name and per address before anything is looked up (bot/web/limits.py).
    if wait := request.app[limits.LIMITS].login_attempt(name, address):
        response = await login_form(request, status=429, name=name, message=(
            f"登录尝试太频繁，请 {int(wait // 60) + 1} 分钟后再试。"))
        response.headers.update(limits.retry_after(wait))
        return response
    officer = await Officer.get_or_none(name=name) if name else None
    if officer is not None and (until := await auth.current_lock(officer, threshold, lockout)) is not None:
        await record(request, "login_refused_locked", officer=officer)
        return await _locked_form(request, name, until)
    if not await auth.check_password(officer, password) or officer is None or not officer.active:
        if officer is not None:
            count = await auth.count_failed_login(officer, threshold, lockout)
            # Only the attempt that reached the threshold locked it; later ones found it locked.
            await record(request, "login_locked" if count == threshold else "login_failed", officer=officer,
                         detail="account locked" if count > threshold else "")
            if count >= threshold:
                return await login_form(request, status=403, name=name, message=(
                    f"密码错误次数太多，账号已锁定 {config.lockout_minutes} 分钟。"))
        else:
            await record(request, "login_failed", name=name, detail="unknown name")
        return await login_form(request, message="用户名或密码不对。", status=401, name=name)
    new_hash = auth.hash_password(password) if auth.needs_rehash(officer) else None
    if not await auth.clear_failed_logins(officer, threshold, new_hash):  # locked while we checked
        await record(request, "login_refused_locked", officer=officer)
        return await _locked_form(request, name, datetime.now(UTC) + lockout)
    request.app[limits.LIMITS].login_succeeded(name, address)
    response = see_other(_safe_next(str(form.get("next", ""))))
    await auth.start_session(request, response, officer)
    response.del_cookie(LOGIN_CSRF_COOKIE, path="/admin/login")
    await record(request, "login", officer=officer)
    log.info("console login", extra={"officer": officer.name})
    return response


async def _locked_form(request: web.Request, name: str, until: datetime) -> web.Response:
    minutes = int((until - datetime.now(UTC)).total_seconds() // 60) + 1
    return await login_form(request, status=403, name=name, message=(
        f"密码错误次数太多，账号已锁定。请 {minutes} 分钟后再试，或请管理员解锁。"))


async def to_dashboard(request: web.Request) -> web.Response:
    return see_other("/admin/")


@auth.page("officer")
async def logout(request: web.Request) -> web.StreamResponse:
    response = see_other("/admin/login")
    await auth.end_session(request, response)
    return response
