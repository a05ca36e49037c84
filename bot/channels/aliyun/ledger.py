"""The template_send ledger: each number of each template send written down before the provider sees it,
which the provider's per-number daily limit is counted on."""

from __future__ import annotations

import hashlib
import re
from datetime import UTC, datetime, timedelta

from bot.channels.base import SendResult
from bot.channels.smsroute import DOMESTIC_PREFIX
from bot.channels.templates import Template
from bot.models import TemplateSend
from bot.phones import mask_phone

from .settings import PROVIDER

MAINLAND_MOBILE = re.compile(r"^\+861[3-9]\d{9}$")
KEEP = timedelta(days=3)  # rows are kept three days: the provider's per-number limit is a rolling 24 hours


def provider_id(out_id: str, phone: str) -> str:
    """What Message and Delivery rows hold: our OutId and the number, both echoed in every receipt and
    send log, so a receipt finds its row even when the send's answer (the BizId) never came back."""
    return f"{out_id}/{phone[-11:]}"


def digits(phone: str) -> str:
    return phone[len(DOMESTIC_PREFIX):] if phone.startswith(DOMESTIC_PREFIX) else phone


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


async def reserve(address: str, template: Template, out_id: str, text: str,
                  daily_limit: int) -> TemplateSend | SendResult:
    """Write the send down before the provider sees it; refuse when the number had its daily
    share of this template (the provider counts at submission, whatever the receipt)."""
    if not MAINLAND_MOBILE.match(address):
        return SendResult("failed", error_code="isv.MOBILE_NUMBER_ILLEGAL",
                          error=f"not a mainland China mobile number: {mask_phone(address)}")
    row = await TemplateSend.create(provider=PROVIDER, phone=address, template=template.code, out_id=out_id,
                                    text_hash=text_hash(text), provider_id=provider_id(out_id, address))
    since = datetime.now(UTC) - timedelta(hours=24)
    used = await TemplateSend.filter(phone=address, template=template.code, created_at__gte=since,
                                     state__not="rejected").count()
    if used > daily_limit:  # counted after inserting: two racing sends both see it
        await row.delete()
        return SendResult("failed", error_code="daily_limit", retryable=True,
                          error=f"{mask_phone(address)} had {daily_limit} texts of template "
                                f"{template.code} in 24 hours (aliyun.daily_limit); try later")
    return row


async def reserve_all(addresses: list[str], template: Template, out_id: str, texts: list[str],
                      daily_limit: int) -> tuple[list[TemplateSend], dict[str, SendResult]]:
    """reserve() for each number once: the rows to send, and the refusals by number."""
    rows: list[TemplateSend] = []
    refused: dict[str, SendResult] = {}
    seen: set[str] = set()
    for address, text in zip(addresses, texts, strict=True):
        if address in seen:
            continue
        seen.add(address)
        got = await reserve(address, template, out_id, text, daily_limit)
        if isinstance(got, SendResult):
            refused[address] = got
        else:
            rows.append(got)
    return rows, refused


async def prune() -> int:
    """Forget sends older than KEEP."""
    return await TemplateSend.filter(created_at__lt=datetime.now(UTC) - KEEP).delete()
