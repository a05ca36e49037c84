"""Plaintext requests accepted once: each (timestamp, nonce) kept in a table every web process shares."""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import AsyncIterator

from aiohttp import web
from tortoise.exceptions import IntegrityError

from bot import background
from bot.extend import Periodic, repeat
from bot.keys import CONFIG
from bot.models import SeenNonce

from .settings import settings

log = logging.getLogger("nongbot.wechat")

PRUNE_SECONDS = 60.0  # how often each web process forgets (timestamp, nonce) pairs too old to pass

# A plaintext request's signature covers the token, timestamp and nonce, not the body (WeChat's
# protocol), so a captured query string replayed within max_clock_skew could carry any body (another
# FromUserName, "TD"). Each (timestamp, nonce) is accepted once, in a table every web process shares.
# Encrypted requests need no such record: msg_signature covers the ciphertext, so a replay is the
# same message again, which the MsgId (or event) dedupe answers once.

def _nonce_key(nonce: str) -> str:
    return nonce if len(nonce) <= 64 else "sha1:" + hashlib.sha1(nonce.encode()).hexdigest()


async def first_use(timestamp: str, nonce: str) -> bool:
    """Record the pair; False when some process already accepted it."""
    try:
        await SeenNonce.create(channel="wechat", timestamp=int(timestamp), nonce=_nonce_key(nonce))
    except IntegrityError:
        return False
    return True


async def forget_nonce(timestamp: str, nonce: str) -> None:
    """Forget a pair whose request was answered 503: WeChat may retry it with the same query."""
    await SeenNonce.filter(channel="wechat", timestamp=int(timestamp), nonce=_nonce_key(nonce)).delete()


async def prune_nonces(max_clock_skew: int) -> int:
    """Forget pairs whose timestamp a request can no longer carry (refused as stale before this check)."""
    return await SeenNonce.filter(channel="wechat", timestamp__lt=int(time.time()) - max_clock_skew - 1).delete()


async def replay_ctx(app: web.Application) -> AsyncIterator[None]:
    """Each web process prunes (it is where the pairs are written), every PRUNE_SECONDS."""
    skew = settings(app[CONFIG]).max_clock_skew

    async def prune(_: web.Application) -> None:
        await prune_nonces(skew)

    async with background.running(repeat(app, Periodic("wechat nonce prune", PRUNE_SECONDS, prune))):
        yield
