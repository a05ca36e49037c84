"""The small interface every outbound provider implements, and the registry that picks them."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class SendResult:
    status: str  # queued | sent | failed
    provider_id: str | None = None
    error_code: str | None = None
    error: str | None = None
    retryable: bool = False  # a failed send that may succeed later (outage, rate limit)


class Sender(Protocol):
    channel: str  # "sms" | "wechat"
    provider: str  # "log" | "twilio" | "wechat" …

    async def send(self, address: str, text: str, *, kind: str = "") -> SendResult:
        """kind: what the text is (tip, price, labour, notice; "" for a reply), for providers whose
        templates differ by kind (WeChat template messages, domestic SMS templates)."""
