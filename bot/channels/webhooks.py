"""What every provider's webhook shares: a bounded body read, the refusal it answers, and waiting for a row."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from typing import TypeVar

from aiohttp import web

from bot.keys import METRICS

T = TypeVar("T")
MAX_BODY = 64 * 1024  # every provider's push is a few KB


async def read_body(request: web.Request, limit: int = MAX_BODY) -> bytes | None:
    """The raw body, or None when it is over `limit` (read no further than that)."""
    if request.content_length is not None and request.content_length > limit:
        return None
    chunks: list[bytes] = []
    size = 0
    while size <= limit:
        chunk = await request.content.read(limit + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return None if size > limit else b"".join(chunks)


def reject(request: web.Request, medium: str, status: int, why: str, log: logging.Logger, *,
           json: bool = False) -> web.Response:
    """Refuse a webhook request: counted, logged (with why) and answered with `why` (as the provider's
    JSON shape {"code": 1, "msg": why} when `json`)."""
    request.app[METRICS].inbound.labels(medium, f"rejected_{status}").inc()
    resource = request.match_info.route.resource  # its pattern: a secret in the path is never logged
    where = resource.canonical if resource is not None else request.path
    log.warning("webhook rejected: %s", why, extra={"path": where, "status": status})
    if json:
        return web.json_response({"code": 1, "msg": why}, status=status)
    return web.Response(status=status, text=why)


async def drain(tasks: Iterable[asyncio.Task[None]], wait: float) -> int:
    """At shutdown: let work a webhook started finish for up to `wait` seconds, then cancel the rest;
    returns how many were cancelled."""
    pending = list(tasks)
    if not pending:
        return 0
    _, late = await asyncio.wait(pending, timeout=wait)
    for task in late:
        task.cancel()
    await asyncio.gather(*late, return_exceptions=True)
    return len(late)
