"""Wage-arrears warnings: the county labour bureau's notices about employers that owe wages,
checked, published, updated and listed."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from bot.labour.fields import JobError, date_field, text_field
from bot.labour.models import WageArrearsNotice

MAX_ARREARS = 100_000_000.0
ARREARS_FIELDS = ("employer", "amount", "case_status", "published_by", "published_on", "active")
KEEP: Any = object()  # update_arrears: leave this field as it is


def parse_arrears(values: Mapping[str, Any], today: date) -> dict[str, Any]:
    """One JSON object or console form -> warning fields; raises JobError naming the first bad field."""
    if not isinstance(values, Mapping):
        raise JobError("expected an object with the warning's fields")
    unknown = sorted(k for k in values if k not in ARREARS_FIELDS)
    if unknown:
        raise JobError(f"unknown field {', '.join(unknown)} (expected {', '.join(ARREARS_FIELDS)})")
    employer = text_field(values, "employer", 100)
    if not employer:
        raise JobError("employer: missing")
    amount = values.get("amount", 0)
    if isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
        raise JobError("amount: expected a number of yuan")
    try:
        amount = float(str(amount).strip() or 0)
    except ValueError:
        raise JobError(f"amount: expected a number of yuan, got {values.get('amount')!r}") from None
    if not 0 <= amount <= MAX_ARREARS or amount != amount:
        raise JobError(f"amount: expected 0 to {MAX_ARREARS:.0f} yuan, got {amount}")
    out: dict[str, Any] = {"employer": employer, "amount": amount}
    for name in ("case_status", "published_by"):
        out[name] = text_field(values, name, 50)
    published = date_field(values, "published_on") or today
    if published > today:
        raise JobError(f"published_on: {published.isoformat()} is in the future")
    out["published_on"] = published
    active = values.get("active", True)
    if not isinstance(active, bool):
        raise JobError("active: expected true or false")
    out["active"] = active
    return out


async def publish(parsed: list[dict[str, Any]]) -> list[WageArrearsNotice]:
    """Store warnings parse_arrears has checked."""
    return [await WageArrearsNotice.create(**values) for values in parsed]


async def active_arrears(limit: int = 20) -> list[WageArrearsNotice]:
    return await WageArrearsNotice.filter(active=True).order_by("-published_on", "-id").limit(limit)


async def update_arrears(notice_id: int, *, case_status: Any = KEEP, active: Any = KEEP) -> WageArrearsNotice:
    """Change a warning's case status and/or whether it is shown. Raises LookupError or JobError."""
    notice = await WageArrearsNotice.get_or_none(id=notice_id)
    if notice is None:
        raise LookupError("no such warning")
    if active is not KEEP:
        if not isinstance(active, bool):
            raise JobError("active: expected true or false")
        notice.active = active
    if case_status is not KEEP:
        if not isinstance(case_status, str) or len(case_status.strip()) > 50:
            raise JobError("case_status: expected text of at most 50 characters")
        notice.case_status = case_status.strip()
    await notice.save()
    return notice
