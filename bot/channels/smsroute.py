"""Per-number SMS routing: mainland numbers go through the domestic provider, the rest through Twilio."""

from __future__ import annotations

from datetime import datetime

from bot.channels.base import BulkSender, Reconciler, Sender, SendResult

DOMESTIC_PREFIX = "+86"


class SmsRouter:
    """Registered as app[SENDERS]["sms"] when a domestic provider is configured; it looks like one
    provider to the outbox and the dispatcher and hands each number to the provider that can reach it.
    It is a Routing, BulkSender and Reconciler sender (bot/channels/base.py)."""

    channel = "sms"

    def __init__(self, domestic: Sender, other: Sender | None = None) -> None:
        self.domestic = domestic
        self.other = other
        self.provider = domestic.provider

    def pick(self, address: str) -> Sender | None:
        return self.domestic if address.startswith(DOMESTIC_PREFIX) else self.other

    def provider_for(self, address: str) -> str:
        sender = self.pick(address)
        return sender.provider if sender is not None else self.domestic.provider

    async def send(self, address: str, text: str, *, kind: str = "") -> SendResult:
        sender = self.pick(address)
        if sender is None:
            return SendResult("failed", error_code="no_route",
                              error=f"no SMS provider for numbers outside mainland China ({address[:4]}…): "
                                    "configure [twilio] as well")
        return await sender.send(address, text, kind=kind)

    def batchable(self, address: str) -> bool:
        """Numbers that send_many takes in one provider request."""
        return address.startswith(DOMESTIC_PREFIX) and isinstance(self.domestic, BulkSender)

    async def send_many(self, addresses: list[str], text: str, *, kind: str = "") -> dict[str, SendResult]:
        results: dict[str, SendResult] = {}
        bulk = [a for a in addresses if self.batchable(a)]
        if bulk and isinstance(self.domestic, BulkSender):
            results.update(await self.domestic.send_many(bulk, text, kind=kind))
        for address in addresses:
            if address not in results:
                results[address] = await self.send(address, text, kind=kind)
        return results

    async def find_sent(self, address: str, body: str, since: datetime) -> tuple[str, str] | None:
        sender = self.pick(address)
        return await sender.find_sent(address, body, since) if isinstance(sender, Reconciler) else None
