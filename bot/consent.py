"""Opt-in and opt-out: change a subscriber's status and write the audit row, together.

A sandbox villager (the console's 模拟手机) changes status like anyone, so the officer sees what a
villager would, but nothing is written to the consent log: no villager did it."""

from __future__ import annotations

from datetime import UTC, datetime

from tortoise.transactions import in_transaction

from bot import sandbox
from bot.models import ConsentEvent, Subscriber


async def record(subscriber: Subscriber, action: str, channel: str, source: str, text: str = "") -> None:
    if sandbox.is_sandbox(subscriber):
        return
    await ConsentEvent.create(
        subscriber=subscriber, action=action, channel=channel, source=source[:64], text=text[:200]
    )


async def opt_out(subscriber: Subscriber, channel: str, source: str, text: str = "") -> bool:
    """Stop every push on every channel. Returns False when they were already opted out."""
    if subscriber.status == "opted_out":
        return False
    async with in_transaction():
        subscriber.status = "opted_out"
        subscriber.opted_out_at = datetime.now(UTC)
        await subscriber.save(update_fields=["status", "opted_out_at", "updated_at"])
        await record(subscriber, "opt_out", channel, source, text)
    return True


async def opt_in(subscriber: Subscriber, channel: str, source: str, text: str = "") -> bool:
    """Resume pushes. Returns False when they were already active."""
    if subscriber.status == "active":
        return False
    async with in_transaction():
        subscriber.status = "active"
        subscriber.opted_in_at = datetime.now(UTC)
        subscriber.consent_source = sandbox.CONSENT_SOURCE if sandbox.is_sandbox(subscriber) else source[:64]
        await subscriber.save(update_fields=["status", "opted_in_at", "consent_source", "updated_at"])
        await record(subscriber, "opt_in", channel, source, text)
    return True
