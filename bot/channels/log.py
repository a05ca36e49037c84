"""The `log` provider: nothing leaves the machine; each outbound text is printed (and recorded by the outbox)."""

from __future__ import annotations

import sys
import uuid
from typing import TextIO

from bot.channels.base import BaseChannel, SendResult
from bot.phones import mask_phone


class LogSender:
    provider = "log"

    def __init__(self, channel: str, stream: TextIO | None = None) -> None:
        self.channel = channel
        self._stream = stream

    async def send(self, address: str, text: str, *, kind: str = "") -> SendResult:
        who = mask_phone(address) if address.startswith("+") else address
        stream = self._stream or sys.stdout
        print(f"[{self.channel} → {who}] {text}", file=stream, flush=True)
        return SendResult(status="sent", provider_id=f"log-{uuid.uuid4().hex}")


class LogChannel(BaseChannel):
    """sms.provider = "log". Its sender is every channel's default (bot/channels/registry.py): nothing to start."""

    name = "log"


CHANNEL = LogChannel()
