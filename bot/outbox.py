"""Send one text to one subscriber now: record it, hand it to the channel's provider, record the result."""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from aiohttp import web

from bot import sandbox
from bot.channels.base import LookupFailed, SendResult, provider_of, reconcile
from bot.keys import CONFIG, METRICS, SENDERS
from bot.models import Message, Subscriber
from bot.phones import mask_phone

log = logging.getLogger("nongbot.outbox")


class NoAddress(Exception):
    """The subscriber cannot be reached on that channel."""


def address_for(subscriber: Subscriber, channel: str) -> str:
    address = subscriber.phone if channel == "sms" else subscriber.wechat_openid
    if not address or sandbox.is_address(address):  # the simulator's sandbox villager is no one to send to
        raise NoAddress(f"subscriber {subscriber.id} has no {channel} address")
    return address


async def send_text(
    app: web.Application, subscriber: Subscriber, text: str, *, channel: str | None = None,
    handler: str = "", attempts: int = 3, backoff: float = 1.0,
) -> Message:
    """The row is written before the provider is called, so a crash leaves a trace, not a ghost.
    Retryable failures (rate limits, outages, no answer) are tried again `attempts` times in all,
    waiting backoff, 4×backoff, …; providers check an unanswered send before it is repeated."""
    channel = channel or subscriber.preferred_channel
    sender = app[SENDERS][channel]
    address = address_for(subscriber, channel)
    provider = provider_of(sender, address)  # a router of several providers picks one by number
    row = await Message.create(
        direction="out", channel=channel, provider=provider, address=address,
        subscriber=subscriber, body=text, status="sending", handler=handler,
    )
    return await deliver(app, row, attempts=attempts, backoff=backoff)


async def deliver(app: web.Application, row: Message, *, attempts: int = 3, backoff: float = 1.0) -> Message:
    """Send an outbound row already recorded (by send_text, or a reply that missed its channel's
    reply window) through its channel's provider, with send_text's retries, and record the result."""
    channel, address, text = row.channel, row.address, row.body
    sender = app[SENDERS][channel]
    sent_as = app[CONFIG].sms.signature + text if channel == "sms" else text  # what the provider logs
    since = datetime.now(UTC)
    result: SendResult | None = None
    for attempt in range(attempts):
        if result is not None and result.in_doubt:  # the last try may have gone through: look first
            try:
                found = await reconcile(sender, address, sent_as, since)
            except LookupFailed:  # unknown: sending again could double it; look again later
                log.warning("send in doubt and the provider's log did not answer", extra={"message_id": row.id})
                if attempt == attempts - 1:
                    break
                await asyncio.sleep(backoff * 4**attempt)
                continue
            if found is not None:
                log.warning("send in doubt found at the provider, not resent", extra={"message_id": row.id})
                result = found
                break
        try:
            result = await sender.send(address, text)
        except Exception as exc:  # a provider bug must not lose the record of the attempt
            log.exception("send raised", extra={"message_id": row.id})
            result = SendResult(status="failed", error=str(exc)[:500], retryable=False)
        row.attempts = attempt + 1
        if not (result.status == "failed" and result.retryable) or attempt == attempts - 1:
            break
        log.warning("send failed, will retry", extra={"message_id": row.id, "error": result.error})
        await asyncio.sleep(backoff * 4**attempt)
    assert result is not None
    row.status = result.status
    row.provider_id = result.provider_id
    row.error_code = result.error_code
    row.error = result.error
    await row.save(update_fields=["status", "provider_id", "error_code", "error", "attempts", "updated_at"])
    app[METRICS].outbound.labels(channel, result.status).inc()
    log.info("outbound", extra={"message_id": row.id, "channel": channel, "status": result.status,
                                "to": mask_phone(address) if channel == "sms" else address[:6] + "…"})
    return row
