"""The small interface every outbound provider implements, and the registry that picks them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True)
class SendResult:
    status: str  # queued | sent | failed
    provider_id: str | None = None
    error_code: str | None = None
    error: str | None = None
    retryable: bool = False  # a failed send that may succeed later (outage, rate limit)
    # The provider may have taken it (a 5xx, no answer, a reset after the request went out): look it
    # up with the sender's find_sent before sending it again.
    in_doubt: bool = False


class Sender(Protocol):
    channel: str  # "sms" | "wechat"
    provider: str  # "log" | "twilio" | "wechat" …

    async def send(self, address: str, text: str, *, kind: str = "") -> SendResult:
        """kind: what the text is (tip, price, labour, notice; "" for a reply), for providers whose
        templates differ by kind (WeChat template messages, domestic SMS templates)."""


async def reconcile(sender: Any, address: str, body: str, since: datetime) -> SendResult | None:
    """Before a send left in doubt goes again: its result if the provider's log has it (`body` as the
    provider got it, SMS signature included); None when it is not there, or the provider keeps no log."""
    find = getattr(sender, "find_sent", None)
    if find is None:
        return None
    found = await find(address, body, since)
    return SendResult(found[1], provider_id=found[0]) if found is not None else None
