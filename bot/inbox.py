"""The one inbound path for every channel: dedupe → log → route → reply → log."""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from tortoise.exceptions import BaseORMException, IntegrityError, OperationalError

from bot import consent, sandbox
from bot.keys import CONFIG, METRICS, ROUTER
from bot.messages import InboundMessage, Reply
from bot.models import Message, Subscriber
from bot.phones import mask_phone, normalise_phone
from bot.routing import Context
from bot.textnorm import clean_text
from bot.waits import until

log = logging.getLogger("nongbot.inbox")
T = TypeVar("T")

# A villager texts again and again from one number: parse it once (phonenumbers takes ~0.1 ms).
_phone = functools.lru_cache(maxsize=65536)(normalise_phone)

SORRY = "抱歉，系统出了点问题，请稍后再发一次。"
BAD_NUMBER = "抱歉，无法识别您的手机号码，请用手机直接发短信给我们。"


class InboxUnavailable(Exception):
    """The message could not be recorded; the channel must answer 5xx so the provider retries."""


@dataclass(frozen=True)
class Outcome:
    reply: Reply | None
    duplicate: bool = False
    message_id: int | None = None
    handler: str = ""


async def process(app: web.Application, msg: InboundMessage, *, duplicate_wait: float = 3.0) -> Outcome:
    config = app[CONFIG]
    metrics = app[METRICS]
    msg = replace(msg, text=clean_text(msg.text, config.bot.max_inbound_chars))
    address = msg.address
    sandboxed = sandbox.is_address(address)
    if sandboxed != (msg.provider == sandbox.PROVIDER):
        # Only the console's simulator texts as a sandbox villager, and it texts as no one else.
        metrics.inbound.labels(msg.channel, "bad_address").inc()
        log.warning("inbound from an address reserved for another provider",
                    extra={"channel": msg.channel, "provider": msg.provider})
        return Outcome(Reply(BAD_NUMBER))
    if msg.channel == "sms" and not sandboxed:
        phone = _phone(msg.address)
        if phone is None:
            metrics.inbound.labels(msg.channel, "bad_address").inc()
            log.warning("inbound from an unusable address", extra={"channel": msg.channel})
            return Outcome(Reply(BAD_NUMBER))
        address = phone
        msg = replace(msg, address=phone)
    try:
        subscriber = await _retry(lambda: _subscriber_for(msg))
        inbound = await _retry(
            lambda: Message.create(
                direction="in", channel=msg.channel, provider=msg.provider,
                provider_id=msg.provider_id, address=address, subscriber=subscriber,
                body=msg.text, status="processing",
            )
        )
    except IntegrityError:
        metrics.inbound.labels(msg.channel, "duplicate").inc()
        return await _earlier_outcome(msg, duplicate_wait)
    except BaseORMException as exc:
        metrics.inbound.labels(msg.channel, "unrecorded").inc()
        log.error("inbound message not recorded: %s", exc, extra={"channel": msg.channel})
        raise InboxUnavailable(str(exc)) from exc

    log.info(
        "inbound", extra={"channel": msg.channel, "from": _show(address), "message_id": inbound.id,
                          "chars": len(msg.text)},
    )
    ctx = Context(app=app, config=config, subscriber=subscriber, inbound=inbound)
    started = time.perf_counter()
    status = "answered"
    try:
        handler, reply = await app[ROUTER].dispatch(msg, ctx)
    except Exception:
        log.exception("handler failed", extra={"message_id": inbound.id})
        handler, reply, status = "error", Reply(SORRY), "failed"
    metrics.handler_seconds.labels(handler or "none").observe(time.perf_counter() - started)
    metrics.inbound.labels(msg.channel, status).inc()
    try:
        await _retry(lambda: _record_reply(inbound, reply, handler, status))
    except BaseORMException as exc:
        # The villager still gets the answer; only our log of it is missing.
        log.error("reply not recorded: %s", exc, extra={"message_id": inbound.id})
    log.info("reply", extra={"message_id": inbound.id, "handler": handler,
                             "chars": len(reply.text) if reply else 0})
    return Outcome(reply if reply else None, message_id=inbound.id, handler=handler)


async def _subscriber_for(msg: InboundMessage) -> Subscriber:
    """The sender's subscriber row, created on first contact (a sandbox villager by its reserved address)."""
    sandboxed = sandbox.is_address(msg.address)
    field = "phone" if msg.channel == "sms" and not sandboxed else "wechat_openid"
    now = datetime.now(UTC)
    address: dict[str, Any] = {field: msg.address}
    subscriber = await Subscriber.get_or_none(**address)
    if subscriber is None:
        try:
            subscriber = await Subscriber.create(
                **address, preferred_channel=msg.channel,
                consent_source=sandbox.CONSENT_SOURCE if sandboxed else f"first_message:{msg.channel}",
                opted_in_at=now, last_inbound_at=now,
            )
        except IntegrityError:  # two first messages at once; the other one created it
            return await Subscriber.get(**address)
        await consent.record(subscriber, "opt_in", msg.channel, f"first_message:{msg.provider}", msg.text)
        return subscriber
    await Subscriber.filter(id=subscriber.id).update(last_inbound_at=now)
    subscriber.last_inbound_at = now
    return subscriber


async def _record_reply(inbound: Message, reply: Reply | None, handler: str, status: str) -> None:
    if reply:
        await Message.create(
            direction="out", channel=inbound.channel, provider=inbound.provider,
            address=inbound.address, subscriber_id=inbound.subscriber_id, reply_to=inbound,
            body=reply.text, status="sent", handler=handler,
        )
    inbound.status = status
    inbound.handler = handler
    await inbound.save(update_fields=["status", "handler", "updated_at"])


async def _earlier_outcome(msg: InboundMessage, wait: float) -> Outcome:
    """A provider retry: give back the reply we already made, waiting a little if still busy."""

    async def answered() -> Message | None:
        first = await Message.get(channel=msg.channel, provider_id=msg.provider_id)
        return None if first.status == "processing" else first

    first = await until(wait, answered, step=0.05)
    if first is None:
        first = await Message.get(channel=msg.channel, provider_id=msg.provider_id)
        log.info("duplicate inbound still being answered", extra={"message_id": first.id})
        return Outcome(None, duplicate=True, message_id=first.id)
    answer = await Message.filter(reply_to_id=first.id, direction="out").order_by("id").first()
    log.info("duplicate inbound", extra={"message_id": first.id})
    return Outcome(Reply(answer.body) if answer else None, duplicate=True, message_id=first.id, handler=first.handler)


async def _retry(call: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """Retry transient database errors (locked SQLite file, dropped connection) with backoff."""
    for attempt in range(attempts):
        try:
            return await call()
        except IntegrityError:
            raise
        except (OperationalError, OSError, ConnectionError) as exc:
            if attempt == attempts - 1:
                raise BaseORMException(str(exc)) from exc
            await asyncio.sleep(0.1 * 3**attempt)
    raise AssertionError("unreachable")


def _show(address: str) -> str:
    return mask_phone(address) if address.startswith("+") else address[:6] + "…"
