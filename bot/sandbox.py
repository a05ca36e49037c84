"""The console's 模拟手机 sandbox: one made-up villager per officer, kept apart from real ones.

A sandbox villager is a Subscriber row whose WeChat address is the reserved form "sim:<officer id>"
(real openids never contain ":"), with no phone and not following the account, so no provider can
reach it. Only the simulator (Message.provider "simulator") may text as it, and the simulator may
text as nothing else. Its consent changes are not written to the consent log (they are no
villager's act; the officer's is in the audit log), and it is left out of the 首页's numbers,
broadcast audiences, system pushes and the 农户 lists, searches and exports.
"""

from __future__ import annotations

from typing import Any

from tortoise.expressions import Q

from bot.extend import Event
from bot.models import Subscriber

PROVIDER = "simulator"  # Message.provider of everything said in the simulator
PREFIX = "sim:"
CONSENT_SOURCE = "simulator"
# The simulator's 重新开始, with the sandbox villager's id: each feature forgets what it keeps about them.
RESET: Event[[int]] = Event("sandbox.reset")


def address_for(officer_id: int) -> str:
    return f"{PREFIX}{officer_id}"


def is_address(address: str | None) -> bool:
    return bool(address and address.startswith(PREFIX))


def is_sandbox(subscriber: Subscriber | None) -> bool:
    return subscriber is not None and is_address(subscriber.wechat_openid)


def real(via: str = "") -> Q:
    """Real villagers only, as a filter on Subscriber (or on a relation to it: via="subscriber__").
    NULL-safe: a villager without a WeChat address is real (NOT LIKE alone would drop them)."""
    field = f"{via}wechat_openid"
    missing: dict[str, Any] = {f"{field}__isnull": True}
    simulated: dict[str, Any] = {f"{field}__startswith": PREFIX}
    return Q(**missing) | ~Q(**simulated)


def not_from_sandbox(via: str = "subscriber__") -> Q:
    """For rows that may belong to a villager (questions …): no villager at all, or a real one."""
    nobody: dict[str, Any] = {f"{via[:-2]}_id__isnull": True}
    return Q(**nobody) | real(via)


async def identity(officer_id: int, channel: str) -> Subscriber:
    """That officer's sandbox villager, created on first use (never a real villager's row)."""
    subscriber, _ = await Subscriber.get_or_create(
        wechat_openid=address_for(officer_id),
        defaults={"preferred_channel": channel, "consent_source": CONSENT_SOURCE, "wechat_followed": False},
    )
    return subscriber
