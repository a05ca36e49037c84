"""Pushes the system makes on its own (price alerts, matching jobs): auto-approved one-off broadcasts
to listed subscribers, so they go through the delivery engine with its quiet hours and retries."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

from bot import sandbox
from bot.models import Officer, Subscriber
from broadcasts.models import Broadcast

SYSTEM_OFFICER = "系统"


async def system_officer() -> Officer:
    officer, _ = await Officer.get_or_create(
        name=SYSTEM_OFFICER, defaults={"role": "officer", "password_hash": "!", "active": False, "internal": True})
    return officer


async def push(kind: str, text: str, subscriber_ids: list[int], *, officer: Officer | None = None) -> Broadcast | None:
    """Send `text` to these subscribers as soon as the engine allows (not in quiet hours). The
    simulator's sandbox villagers are dropped: they never receive a push. `officer`: who wrote it
    (an officer's message to one villager), else the system."""
    if subscriber_ids:
        # values_list(flat=True) gives the ids themselves; Tortoise's stubs only know the tuple form.
        subscriber_ids = cast(list[int], await Subscriber.filter(
            sandbox.real(), id__in=sorted(set(subscriber_ids))).values_list("id", flat=True))
    if not subscriber_ids:
        return None
    officer = officer or await system_officer()
    return await Broadcast.create(
        kind=kind, text=text, audience={"subscriber_ids": sorted(set(subscriber_ids))}, schedule=None,
        state="scheduled", created_by=officer, approved_by=officer,
        approved_at=datetime.now(UTC).replace(microsecond=0),
    )
