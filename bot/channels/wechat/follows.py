"""Follows and unfollows (consent on WeChat), and the delivery state of our template messages."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from tortoise.exceptions import IntegrityError

from bot import consent
from bot.channels import status as reports
from bot.models import MessageEvent, Subscriber

log = logging.getLogger("nongbot.wechat")
# A job's end is final either way: delivered and failed rank the same, above every earlier state.
STATUS_RANK = {"queued": 1, "sending": 2, "sent": 3, "failed": 6, "delivered": 6}

async def followed(openid: str, scene: str) -> None:
    """A follow (re)activates the person with consent from the follow, or from the QR code's scene."""
    source = f"wechat:qrscene:{scene}" if scene else "wechat:subscribe"
    subscriber = await Subscriber.get_or_none(wechat_openid=openid)
    if subscriber is None:
        try:
            subscriber = await Subscriber.create(
                wechat_openid=openid, preferred_channel="wechat", consent_source=source[:64],
                opted_in_at=datetime.now(UTC), wechat_followed=True)
        except IntegrityError:  # WeChat's retry raced the first delivery of this event
            return
        await consent.record(subscriber, "opt_in", "wechat", source)
        return
    if subscriber.wechat_followed and subscriber.active:
        return  # a retry, or a follow we already knew about
    await Subscriber.filter(id=subscriber.id).update(wechat_followed=True)
    subscriber.wechat_followed = True
    if not await consent.opt_in(subscriber, "wechat", source):
        await consent.record(subscriber, "opt_in", "wechat", source)  # active by SMS, now also here


async def unfollowed(openid: str) -> None:
    """Unfollowing stops WeChat pushes only: SMS consent was given by SMS and stays. Someone we can
    reach only on WeChat is opted out altogether."""
    subscriber = await Subscriber.get_or_none(wechat_openid=openid)
    if subscriber is None or (not subscriber.wechat_followed and (subscriber.phone or not subscriber.active)):
        return  # unknown, or a retry
    await Subscriber.filter(id=subscriber.id).update(wechat_followed=False)
    subscriber.wechat_followed = False
    if subscriber.phone or not await consent.opt_out(subscriber, "wechat", "wechat:unsubscribe"):
        await consent.record(subscriber, "opt_out", "wechat", "wechat:unsubscribe")


async def job_finished(app: web.Application, event: Any) -> None:
    """TEMPLATESENDJOBFINISH: the delivery state of a template message we sent."""
    provider_id = f"tmpl:{event.id}"
    raw = (event.status or "").strip()
    status = "delivered" if raw == "success" else "failed"
    # "failed:user block" (the person refused template messages), "failed: system failed", …
    code = None if raw == "success" else (raw.partition(":")[2].strip().replace(" ", "_") or raw)[:32]
    message = await reports.outbound(app, "wechat", provider_id, status, code, wait=1.0)
    if message is False:
        log.warning("job finished for an unknown template message", extra={"msgid": event.id})
    if isinstance(message, bool):
        return
    if await MessageEvent.filter(message_id=message.id, status=status).exists():
        return  # WeChat's retry of the same event
    await reports.advance(app, message, status, code, STATUS_RANK)
