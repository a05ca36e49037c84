"""Value types every channel and handler shares: InboundMessage in, Reply out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime


@dataclass(frozen=True)
class InboundMessage:
    channel: str  # "sms" | "wechat": how the person reaches us
    provider: str  # "twilio" | "wechat" | "chat" …: who delivered it
    address: str  # E.164 phone for SMS, openid for WeChat
    text: str
    provider_id: str | None = None  # the provider's message id; retries repeat it
    received_at: datetime = field(default_factory=lambda: datetime.now(UTC))


@dataclass(frozen=True)
class Reply:
    text: str

    def __bool__(self) -> bool:
        return bool(self.text)
