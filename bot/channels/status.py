"""Delivery reports: find the outbound row a provider reports on, and move its state forward only."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime

from aiohttp import web

from bot.extend import Event, emit
from bot.keys import METRICS
from bot.models import Message, MessageEvent
from bot.waits import until

# A report about an id that matches no logged message, with (channel, provider id, status, error
# code): listeners return True when it matched something of theirs (broadcast deliveries listen).
DELIVERY_STATUS: Event[[str, str, str, str | None]] = Event("delivery_status")


async def outbound(app: web.Application, channel: str, provider_id: str, status: str, code: str | None,
                   wait: float) -> Message | bool:
    """The logged message a report is about; True when a DELIVERY_STATUS listener took the report
    instead; False when nothing matched within `wait` seconds (a report can beat the save of the id)."""

    async def attempt() -> Message | bool | None:
        message = await Message.get_or_none(channel=channel, direction="out", provider_id=provider_id)
        if message is not None:
            return message
        return True if any(await emit(app, DELIVERY_STATUS, channel, provider_id, status, code)) else None

    found: Message | bool | None = await until(wait, attempt)
    return False if found is None else found


async def advance(app: web.Application, message: Message, status: str, code: str | None,
                  rank: Mapping[str, int]) -> None:
    """Record the report and move the message to `status` if that is further along by `rank`: one
    conditional UPDATE, so concurrent or out-of-order reports never step back (a late "sent" never
    overwrites "delivered")."""
    await MessageEvent.create(message=message, status=status[:24], error_code=code)
    lower = [s for s, r in rank.items() if r < rank.get(status, -1)]
    await Message.filter(id=message.id, status__in=lower).update(
        status=status, error_code=code or message.error_code, updated_at=datetime.now(UTC))
    app[METRICS].outbound.labels(message.channel, f"callback_{status}").inc()
