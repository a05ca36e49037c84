"""An in-memory sender: the Sender interface of bot/channels, recording every send, failing when told to."""

from __future__ import annotations

import asyncio
import itertools
from dataclasses import dataclass

from bot.channels import SendResult


@dataclass(frozen=True)
class Sent:
    """One text the sender took."""

    address: str
    text: str
    kind: str
    provider_id: str


class InMemorySender:
    """Put it in app[SENDERS][channel]: each send is recorded in `sent` and answered "sent" unless
    `fail` or `raise_on_send` said otherwise; `wait_for(n)` returns once n texts were taken."""

    def __init__(self, channel: str = "sms", provider: str = "memory") -> None:
        self.channel = channel
        self.provider = provider
        self.sent: list[Sent] = []
        self.attempts = 0  # every call of send, failed ones included
        self._failures: list[SendResult] = []
        self._failing: SendResult | None = None
        self._raise: Exception | None = None
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()

    def fail(self, times: int | None = 1, *, retryable: bool = True, in_doubt: bool = False,
             error_code: str = "fake", error: str = "told to fail") -> None:
        """The next `times` sends fail with this result (times=None: every send until `recover`)."""
        result = SendResult("failed", error_code=error_code, error=error, retryable=retryable, in_doubt=in_doubt)
        if times is None:
            self._failing = result
        else:
            self._failures.extend([result] * times)

    def raise_on_send(self, exc: Exception | None) -> None:
        """Every send raises `exc` (a provider bug) until called with None."""
        self._raise = exc

    def recover(self) -> None:
        self._failures.clear()
        self._failing = None
        self._raise = None

    async def send(self, address: str, text: str, *, kind: str = "") -> SendResult:
        self.attempts += 1
        self._changed.set()
        if self._raise is not None:
            raise self._raise
        if self._failures:
            return self._failures.pop(0)
        if self._failing is not None:
            return self._failing
        sent = Sent(address, text, kind, f"mem-{next(self._ids)}")
        self.sent.append(sent)
        return SendResult("sent", provider_id=sent.provider_id)

    def texts_to(self, address: str) -> list[str]:
        return [s.text for s in self.sent if s.address == address]

    async def wait_for(self, count: int, seconds: float = 5.0) -> list[Sent]:
        """The first `count` texts taken, waiting for the code under test to send them."""
        async with asyncio.timeout(seconds):
            while len(self.sent) < count:
                self._changed.clear()
                await self._changed.wait()
        return self.sent[:count]
