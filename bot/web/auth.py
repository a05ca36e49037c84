"""Who is asking: officer accounts, API bearer tokens, console sessions, CSRF, and the route guards."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import quote

from aiohttp import web
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from tortoise.expressions import Q

from bot.keys import CONFIG, OFFICER, SESSION
from bot.labels import ROLE_NAMES
from bot.models import ApiToken, ConsoleSession, Officer
from bot.web import fields, params

ROLES = ("officer", "supervisor", "admin")
RANK = {"officer": 0, "supervisor": 1, "admin": 2}
SESSION_COOKIE = "nongbot_session"
CSRF_FIELD = "_csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the name is unknown, so a wrong name costs as long as a wrong password; made
    at the first login, not at start (0.25 s)."""
    return _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


PASSWORD_PAGE = "/admin/password"
LOGOUT = "/admin/logout"
MIN_PASSWORD = 8


async def add_officer(name: str, role: str, password: str, *, must_change: bool = False) -> Officer:
    """A console account. `must_change`: the password is one an admin chose; the officer sets their own at
    first login (bot/web/accounts.py)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"password must have at least {MIN_PASSWORD} characters")
    return await Officer.create(name=name, role=role, password_hash=hash_password(password),
                                must_change_password=must_change)


def may_publish_articles(officer: Officer, self_publish: bool) -> bool:
    """Who may make an article live: supervisors and admins, or every officer where the county set
    console.self_publish; anyone else's article is a draft until a supervisor publishes it."""
    return RANK[officer.role] >= RANK["supervisor"] or self_publish


def verify_password(officer: Officer | None, password: str) -> bool:
    try:
        return _hasher.verify(officer.password_hash if officer else _dummy_hash(), password) and officer is not None
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(officer: Officer) -> bool:
    return _hasher.check_needs_rehash(officer.password_hash)


async def check_password(officer: Officer | None, password: str) -> bool:
    """verify_password in a worker thread: argon2 is slow on purpose, and a burst of logins must
    not stall the event loop."""
    return await asyncio.to_thread(verify_password, officer, password)


# --- lockout: counted in the database, so parallel attempts and several processes all count -----

_COUNT_FAILED = "UPDATE officer SET failed_logins = failed_logins + 1 WHERE id = ? RETURNING failed_logins"


async def count_failed_login(officer: Officer, threshold: int, lockout: timedelta) -> int:
    """One more failed login, added in a single UPDATE … RETURNING (never read, add and save, which
    lets parallel attempts overwrite each other); the account is locked once the count reaches
    `threshold`. The count stays there until the lock ends, so nothing gets through meanwhile.
    Returns the new count."""
    conn = Officer._meta.db
    sql = _COUNT_FAILED.replace("?", "$1") if conn.capabilities.dialect == "postgres" else _COUNT_FAILED
    rows = await conn.execute_query_dict(sql, [officer.id])
    count = int(rows[0]["failed_logins"]) if rows else 0
    if count >= threshold:
        await _lock(officer.id, lockout)
    return count


async def _lock(officer_id: int, lockout: timedelta) -> None:
    # Set by the first request past the threshold; the others find the lock running and leave it.
    now = datetime.now(UTC)
    await Officer.filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now), id=officer_id).update(
        locked_until=now + lockout)


async def current_lock(officer: Officer, threshold: int, lockout: timedelta) -> datetime | None:
    """When the account's lock ends, or None when it is not locked. A lock that has run out is
    lifted with its count (the next wrong passwords count from zero, as before the lock)."""
    now = datetime.now(UTC)
    if officer.locked_until is not None and officer.locked_until > now:
        return officer.locked_until
    if officer.locked_until is not None:
        await Officer.filter(id=officer.id, locked_until__lte=now).update(failed_logins=0, locked_until=None)
        officer.failed_logins, officer.locked_until = 0, None
        return None
    if officer.failed_logins >= threshold:  # just reached by a parallel attempt
        await _lock(officer.id, lockout)
        return now + lockout
    return None


async def clear_failed_logins(officer: Officer, threshold: int, new_hash: str | None = None) -> bool:
    """After the right password: reset the count, but only if the account is still unlocked at this
    moment (one statement). False when parallel wrong attempts reached the threshold meanwhile: the
    right password arriving after the lock is refused like any other."""
    changes: dict[str, Any] = {"failed_logins": 0, "locked_until": None}
    if new_hash is not None:
        changes["password_hash"] = new_hash
    now = datetime.now(UTC)
    done = await Officer.filter(Q(locked_until__isnull=True) | Q(locked_until__lte=now), id=officer.id,
                                failed_logins__lt=threshold).update(**changes)
    return bool(done)


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def create_token(officer: Officer) -> str:
    token = "nb_" + secrets.token_urlsafe(32)
    await ApiToken.create(officer=officer, token_hash=_digest(token))
    return token


async def officer_for_token(token: str) -> Officer | None:
    row = await ApiToken.get_or_none(token_hash=_digest(token), revoked=False).prefetch_related("officer")
    if row is None or not row.officer.active:
        return None
    await ApiToken.filter(id=row.id).update(last_used_at=datetime.now(UTC))
    return row.officer


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


def same(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())


# --- console sessions --------------------------------------------------------------------------


async def start_session(request: web.Request, response: web.StreamResponse, officer: Officer) -> ConsoleSession:
    """A new session for a successful login; its token goes only into an HttpOnly cookie."""
    config = request.app[CONFIG].console
    token = secrets.token_urlsafe(32)
    session = await ConsoleSession.create(
        token_hash=_digest(token), officer=officer, csrf_token=secrets.token_urlsafe(32),
        expires_at=datetime.now(UTC) + timedelta(hours=config.session_hours), ip=client_ip(request),
    )
    response.set_cookie(SESSION_COOKIE, token, path="/", httponly=True, samesite="Strict",
                        secure=secure_cookies(request), max_age=int(config.session_hours * 3600))
    return session


async def end_session(request: web.Request, response: web.StreamResponse) -> None:
    if (token := request.cookies.get(SESSION_COOKIE)) is not None:
        await ConsoleSession.filter(token_hash=_digest(token)).delete()
    response.del_cookie(SESSION_COOKIE, path="/")


async def session_for(request: web.Request) -> ConsoleSession | None:
    """The live session the cookie names, renewed when less than half of its life is left."""
    token = request.cookies.get(SESSION_COOKIE)
    if not token:
        return None
    session = await ConsoleSession.get_or_none(token_hash=_digest(token)).prefetch_related("officer")
    now = datetime.now(UTC)
    if session is None or session.expires_at <= now or not session.officer.active:
        return None
    hours = request.app[CONFIG].console.session_hours
    if session.expires_at - now < timedelta(hours=hours / 2):
        session.expires_at = now + timedelta(hours=hours)
        await ConsoleSession.filter(id=session.id).update(expires_at=session.expires_at)
    return session


def secure_cookies(request: web.Request) -> bool:
    config = request.app[CONFIG]
    mode = config.console.secure_cookies
    if mode != "auto":
        return mode == "always"
    return request.secure or config.server.public_url.startswith("https://")


def client_ip(request: web.Request) -> str:
    return (request.remote or "")[:64]


async def _csrf_sent(request: web.Request) -> str:
    """The CSRF token from the header (scripts) or the hidden form field (forms)."""
    if header := request.headers.get(CSRF_HEADER):
        return header
    if request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()  # cached: the handler reads it again for free
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else ""
    return ""


# --- guards ------------------------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _mark(guarded: Handler, handler: Handler, role: str) -> Handler:
    guarded.__name__ = handler.__name__
    guarded.__doc__ = handler.__doc__
    guarded.required_role = role  # type: ignore[attr-defined]  # read by openapi.py and the tests
    guarded.accepts = getattr(handler, "accepts", None)  # type: ignore[attr-defined]  # bot/web/params.py
    return guarded


def requires(role: str) -> Callable[[Handler], Handler]:
    """JSON API guard: a bearer token, or the console's session cookie plus the CSRF header for
    changes (the console's own scripts call the API). 401 when neither, 403 below `role`."""

    def wrap(handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            header = request.headers.get("Authorization", "")
            if header:
                scheme, _, token = header.partition(" ")
                if scheme.lower() != "bearer" or not token.strip():
                    return error(401, "expected Authorization: Bearer <token>")
                officer = await officer_for_token(token.strip())
                if officer is None:
                    return error(401, "invalid or revoked token")
            else:
                session = await session_for(request)
                if session is None:
                    return error(401, "missing bearer token")
                if request.method not in SAFE_METHODS and not same(await _csrf_sent(request), session.csrf_token):
                    return error(403, "missing or wrong CSRF token")
                officer = session.officer
                request[SESSION] = session
                if officer.must_change_password:
                    return error(403, "请先在后台修改密码（管理员设的临时密码不能再用）")
            if RANK[officer.role] < RANK[role]:
                return error(403, f"needs role {role}")
            request[OFFICER] = officer
            return await handler(request)

        return _mark(guarded, handler, role)

    return wrap


def page(role: str, *, before_password_change: bool = False) -> Callable[[Handler], Handler]:
    """Console page guard: no session → the login page; a form without the session's CSRF
    token → 403; below `role` → 403 with a page that says so. An officer whose password an admin set
    (a new account, a reset) sees only the password page until they chose their own
    (`before_password_change` marks that page)."""

    def wrap(handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            session = await session_for(request)
            if session is None:
                target = request.path_qs if request.method in SAFE_METHODS else "/admin/"
                raise web.HTTPSeeOther(f"/admin/login?next={quote(target)}")
            request[SESSION] = session
            request[OFFICER] = session.officer
            if request.method not in SAFE_METHODS and not same(await _csrf_sent(request), session.csrf_token):
                raise PageRefused("表单已过期或来源不明（缺少安全令牌），请刷新页面后重试。")
            if session.officer.must_change_password and not before_password_change and request.path != LOGOUT:
                if request.method in SAFE_METHODS:
                    raise web.HTTPSeeOther(PASSWORD_PAGE)
                raise PageRefused("请先修改密码：管理员设的临时密码只能用来登录一次。")
            if RANK[session.officer.role] < RANK[role]:
                raise PageRefused(f"这一操作需要{ROLE_NAMES[role]}权限，请找有权限的同事。")
            return await handler(request)

        return _mark(guarded, handler, role)

    return wrap


class PageRefused(Exception):
    """A console request refused (403); the console middleware shows the reason as a page."""


async def json_body(request: web.Request) -> dict[str, Any] | web.Response:
    """The JSON object the request carries (size, depth and numbers checked by bot/web/params.py), or
    the 400 that says what is wrong with it."""
    try:
        return await params.json_object(request)
    except fields.Invalid as bad:
        return error(bad.status, bad.message)
