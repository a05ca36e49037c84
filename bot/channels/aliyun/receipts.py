"""Alibaba Cloud delivery receipts, pushed (SmsReport) or pulled (QuerySendDetails), applied to the ledger
and to the message or broadcast delivery they are about."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

from aiohttp import web

from bot.channels import status as reports
from bot.channels.smsroute import SmsRouter
from bot.keys import METRICS, SENDERS
from bot.models import TemplateSend
from bot.phones import mask_phone

from .ledger import provider_id
from .sender import CHINA, AliyunSender
from .settings import PROVIDER

log = logging.getLogger("nongbot.aliyun")

PULL_WINDOW = timedelta(days=2)  # receipts are pulled for two days, then the row is left alone
STATUS_RANK = {"sending": 2, "sent": 3, "undelivered": 5, "failed": 5, "delivered": 6}


async def apply_receipt(app: web.Application, out_id: str, phone: str, delivered: bool, code: str | None,
                        wait: float = 2.0) -> str:
    """A delivery report (pushed SmsReport or pulled send log): 'applied', 'duplicate' or 'unknown'."""
    status = "delivered" if delivered else "undelivered"
    code = None if delivered else (code or "unknown")[:32]
    updated = await TemplateSend.filter(provider=PROVIDER, out_id=out_id, phone=phone,
                                        state__in=("reserved", "accepted")).update(
        state=status, error_code=code, reported_at=datetime.now(UTC))
    if not updated:
        if await TemplateSend.filter(provider=PROVIDER, out_id=out_id, phone=phone).exists():
            return "duplicate"  # the provider pushes again until it hears us; once is enough
        wait = 0.0  # not one of ours (a console test send, or older than KEEP): do not linger
    message = await reports.outbound(app, "sms", provider_id(out_id, phone), status, code, wait)
    if message is False:
        log.warning("receipt for an unknown message", extra={"to": mask_phone(phone), "status": status})
        return "unknown"
    if message is True:  # a broadcast delivery's
        app[METRICS].outbound.labels("sms", f"callback_{status}").inc()
    else:
        await reports.advance(app, message, status, code, STATUS_RANK)
    log.info("delivery status", extra={"to": mask_phone(phone), "status": status, "error_code": code})
    return "applied"


async def pull_receipts(app: web.Application, limit: int = 200) -> int:
    """Ask QuerySendDetails about accepted sends without a receipt yet; returns receipts applied."""
    sender = _aliyun(app)
    now = datetime.now(UTC)
    rows = await (TemplateSend.filter(provider=PROVIDER, state="accepted", created_at__gte=now - PULL_WINDOW)
                  .order_by("id").limit(limit))
    groups: dict[tuple[str, str, str | None], list[TemplateSend]] = {}
    for row in rows:
        day = row.created_at.astimezone(CHINA).strftime("%Y%m%d")
        groups.setdefault((row.phone, day, row.biz_id), []).append(row)
    applied = 0
    for (phone, day, biz_id), members in groups.items():
        log_rows = {item.get("OutId"): item for item in await sender.query_details(phone, day, biz_id)}
        for row in members:
            item = log_rows.get(row.out_id)
            if item is None or int(item.get("SendStatus") or 1) == 1:  # 1: still waiting for the carrier
                continue
            delivered = int(item["SendStatus"]) == 3
            if await apply_receipt(app, row.out_id, row.phone, delivered, item.get("ErrCode"), wait=0) == "applied":
                applied += 1
    return applied


def _aliyun(app: web.Application) -> AliyunSender:
    sender = app[SENDERS]["sms"]
    if isinstance(sender, SmsRouter):
        sender = sender.domestic
    assert isinstance(sender, AliyunSender), "sms.provider is aliyun"
    return sender
