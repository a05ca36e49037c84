"""Officer accounts and API bearer tokens: hashing, creation, and the request guard."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from argon2 import PasswordHasher

from bot.models import ApiToken, Officer

ROLES = ("officer", "supervisor", "admin")
RANK = {"officer": 0, "supervisor": 1, "admin": 2}
OFFICER = web.RequestKey("officer", Officer)
_hasher = PasswordHasher()


def hash_password(password: str) -> str:
    return _hasher.hash(password)


async def add_officer(name: str, role: str, password: str) -> Officer:
    if role not in ROLES:
        raise ValueError(f"role must be one of {', '.join(ROLES)}")
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    return await Officer.create(name=name, role=role, password_hash=hash_password(password))


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
    return row.officer  # type: ignore[no-any-return]


def error(status: int, message: str) -> web.Response:
    return web.json_response({"error": message}, status=status)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def requires(role: str) -> Callable[[Handler], Handler]:
    """Bearer-token guard: 401 without a valid token, 403 below `role`."""

    def wrap(handler: Handler) -> Handler:
        async def guarded(request: web.Request) -> web.StreamResponse:
            header = request.headers.get("Authorization", "")
            scheme, _, token = header.partition(" ")
            if scheme.lower() != "bearer" or not token:
                return error(401, "missing bearer token")
            officer = await officer_for_token(token.strip())
            if officer is None:
                return error(401, "invalid or revoked token")
            if RANK[officer.role] < RANK[role]:
                return error(403, f"needs role {role}")
            request[OFFICER] = officer
            return await handler(request)

        guarded.__name__ = handler.__name__
        guarded.__doc__ = handler.__doc__
        return guarded

    return wrap


async def json_body(request: web.Request) -> dict[str, Any] | web.Response:
    try:
        body = await request.json()
    except ValueError:
        return error(400, "body must be JSON")
    if not isinstance(body, dict):
        return error(400, "body must be a JSON object")
    return body
