"""The webhook: signed (and replay-checked or decrypted) requests in, passive replies out."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import logging
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any

import wechatpy
from aiohttp import web
from tortoise.exceptions import BaseORMException
from wechatpy import events as wx_events
from wechatpy import messages as wx_messages
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply

from bot import inbox
from bot.channels.webhooks import read_body, reject
from bot.keys import CONFIG

from .answers import respond
from .replay import first_use, forget_nonce
from .sender import MAX_TEXT_BYTES, fit_bytes
from .settings import settings

log = logging.getLogger("nongbot.wechat")

PATH = "/webhooks/wechat"
IDENT = re.compile(r"[A-Za-z0-9_-]{1,64}")  # openids and gh_ account ids

CRYPTO: web.AppKey[WeChatCrypto | None] = web.AppKey("wechat_crypto")
ARRIVED: web.RequestKey[float] = web.RequestKey("wechat_arrived", float)  # time.monotonic() on arrival


@web.middleware
async def arrival(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                  ) -> web.StreamResponse:
    """Stamp when a request came in, before any other middleware or the handler waits: WeChat's 5
    seconds include the time it queued here under load, not only the handler's."""
    if request.path == PATH:
        request[ARRIVED] = time.monotonic()
    return await handler(request)


def _reject(request: web.Request, status: int, why: str) -> web.Response:
    return reject(request, "wechat", status, why, log)


def _signed(request: web.Request) -> tuple[str, str] | web.Response:
    """(timestamp, nonce) of a request signed with our token and sent just now, or the 403."""
    config = settings(request.app[CONFIG])
    query = request.query
    timestamp, nonce, signature = query.get("timestamp", ""), query.get("nonce", ""), query.get("signature", "")
    if not (timestamp and nonce and signature):
        return _reject(request, 403, "missing signature")
    expected = hashlib.sha1("".join(sorted((config.token, timestamp, nonce))).encode()).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return _reject(request, 403, "bad signature")
    # WeChat sends Unix seconds (10 digits): a longer number is no time a request can carry (and one of
    # hundreds of digits is too big to compare with the clock).
    if (not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12)
            or abs(time.time() - int(timestamp)) > config.max_clock_skew):
        return _reject(request, 403, "stale timestamp")  # a replay of an old, validly signed request
    if "\x00" in nonce:  # kept in the replay store: no database stores a NUL
        return _reject(request, 400, "bad nonce")
    return timestamp, nonce


async def verify_url(request: web.Request) -> web.Response:
    signed = _signed(request)
    if isinstance(signed, web.Response):
        return signed
    return web.Response(text=request.query.get("echostr", ""))


def _checked(message: Any) -> str:
    """The sender's openid, once the fields we use have the types WeChat sends (XML can nest anything)."""
    for name in ("source", "target"):
        value = getattr(message, name)
        if not (isinstance(value, str) and IDENT.fullmatch(value)):
            raise TypeError(f"bad {name}")
    if not isinstance(message.time, int):
        raise TypeError("bad CreateTime")
    for name in ("content", "recognition", "key", "scene_id", "status"):
        value = getattr(message, name, None)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"bad {name}")
    if isinstance(message, (wx_messages.TextMessage, wx_messages.VoiceMessage,
                            wx_events.TemplateSendJobFinishEvent)) and message.id <= 0:
        raise ValueError("missing MsgId")
    return str(message.source)


async def inbound(request: web.Request) -> web.Response:
    started = request.get(ARRIVED) or time.monotonic()
    signed = _signed(request)
    if isinstance(signed, web.Response):
        return signed
    timestamp, nonce = signed
    raw = await read_body(request)
    if raw is None:
        return _reject(request, 413, "body too large")
    encrypted = request.query.get("encrypt_type", "raw").lower() == "aes"
    crypto = request.app[CRYPTO] if encrypted else None  # also encrypts the reply
    if encrypted and crypto is None:
        return _reject(request, 400, "encrypted message, but wechat.mode is plain")
    if not encrypted and settings(request.app[CONFIG]).mode == "safe":
        return _reject(request, 400, "plaintext message, but wechat.mode is safe")
    if not encrypted:
        try:
            fresh = await first_use(timestamp, nonce)
        except BaseORMException as exc:
            log.error("replay check unavailable: %s", exc)
            return web.Response(status=503, text="try again")
        if not fresh:
            return _reject(request, 403, "replayed signature (timestamp and nonce seen before)")
    try:
        xml = raw.decode("utf-8")
        if crypto is not None:
            xml = crypto.decrypt_message(xml, request.query.get("msg_signature", ""), timestamp, nonce)
        message = wechatpy.parse_message(xml)
        openid = _checked(message)
    except InvalidSignatureException:
        return _reject(request, 403, "bad msg_signature")
    except InvalidAppIdException:
        return _reject(request, 403, "encrypted for another AppId")
    except Exception as exc:  # wechatpy raises ValueError, KeyError, ExpatError, struct.error… on hostile input
        return _reject(request, 400, f"unreadable message ({type(exc).__name__})")
    deadline = started + settings(request.app[CONFIG]).reply_budget
    try:
        text = await respond(request.app, message, openid, deadline)
    except (inbox.InboxUnavailable, BaseORMException) as exc:
        log.error("wechat message not handled: %s", exc)
        if not encrypted:
            with contextlib.suppress(BaseORMException):
                await forget_nonce(timestamp, nonce)
        return web.Response(status=503, text="try again")  # WeChat retries; nothing was lost
    if not text:
        return web.Response(text="success")  # WeChat's "nothing to say" (an empty body works too)
    return _reply(message, openid, text, crypto)


def _reply(message: Any, openid: str, text: str, crypto: WeChatCrypto | None) -> web.Response:
    # wechatpy puts values raw inside CDATA: a "]]>" typed by the user would end it and inject XML.
    content = fit_bytes(text, MAX_TEXT_BYTES).replace("]]>", "]]]]><![CDATA[>")
    xml = TextReply(source=message.target, target=openid, content=content, time=int(time.time())).render()
    if crypto is not None:  # answer encrypted whenever the request was
        xml = crypto.encrypt_message(xml, secrets.token_hex(8), str(int(time.time())))
    return web.Response(text=xml, content_type="application/xml", charset="utf-8")
