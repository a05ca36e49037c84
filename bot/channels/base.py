"""What a channel plug-in is: the Channel protocol, the sender it provides and its optional capabilities."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from aiohttp import web

if TYPE_CHECKING:
    from bot.config import Config

# An aiohttp cleanup context: set up before `yield`, torn down after.
CleanupCtx = Callable[[web.Application], AsyncIterator[None]]


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


@runtime_checkable
class BulkSender(Protocol):
    """A sender that takes one text for many numbers in one provider request."""

    def batchable(self, address: str) -> bool:
        """Whether send_many takes this address in its one request."""

    async def send_many(self, addresses: list[str], text: str, *, kind: str = "") -> dict[str, SendResult]:
        """A result for every address."""


class LookupFailed(Exception):
    """The provider's log did not answer: whether the send went out is unknown (never read it as "not sent":
    sending again could double it)."""


@runtime_checkable
class Reconciler(Protocol):
    """A sender whose provider keeps a log of what it sent, so a send left in doubt can be looked up."""

    async def find_sent(self, address: str, body: str, since: datetime) -> tuple[str, str] | None:
        """(provider id, status) of a send of `body` to `address` since `since`, or None when the log has
        none; raises LookupFailed when the log could not be read."""


@runtime_checkable
class Routing(Protocol):
    """A sender standing for several providers, picked per address."""

    def provider_for(self, address: str) -> str:
        """The name of the provider that sends to this address."""


def provider_of(sender: Sender, address: str) -> str:
    """The provider an outbound row to `address` is recorded with."""
    return sender.provider_for(address) if isinstance(sender, Routing) else sender.provider


async def reconcile(sender: Sender, address: str, body: str, since: datetime) -> SendResult | None:
    """Before a send left in doubt goes again: its result if the provider's log has it (`body` as the
    provider got it, SMS signature included); None when it is not there, or the provider keeps no log.
    Raises LookupFailed when the log did not answer: the caller must not send again then."""
    if not isinstance(sender, Reconciler):
        return None
    found = await sender.find_sent(address, body, since)
    return SendResult(found[1], provider_id=found[0]) if found is not None else None


class Channel(Protocol):
    """A provider plug-in, listed once in bot/channels/registry.py.

    `section` names its config section ([twilio]) and `settings` is that section's frozen dataclass:
    bot/config.py parses the section's keys by the dataclass's field types (fields with repr=False are
    secrets, read from the environment only) and calls `check` when the channel is enabled."""

    name: str  # the provider: "twilio", also its sms.provider value when `medium` is "sms"
    medium: str  # the channel it serves: "sms" | "wechat"
    section: str | None
    settings: type[Any] | None

    def enabled(self, config: Config) -> bool:
        """Whether this config uses the provider (for "sms": as sms.provider, or next to it)."""

    def check(self, config: Config) -> None:
        """Raise ConfigError naming the key at fault (called for every registered channel, enabled or
        not: some keys must be sane either way)."""

    def setup(self, app: web.Application) -> None:
        """Mount the receive routes (webhooks); called only in processes that serve the web."""

    def contexts(self, app: web.Application) -> Sequence[CleanupCtx]:
        """Cleanup contexts of every process: the one that puts the sender in app[SENDERS]."""

    def setup_worker(self, app: web.Application) -> None:
        """Register upkeep (bot.extend.add_periodic) in processes that run background work."""


class BaseChannel:
    """Defaults for a Channel: no config section, no routes, no contexts, no upkeep."""

    name = ""
    medium = "sms"
    section: str | None = None
    settings: type[Any] | None = None

    def enabled(self, config: Config) -> bool:
        return self.medium == "sms" and config.sms.provider == self.name

    def check(self, config: Config) -> None:
        return None

    def setup(self, app: web.Application) -> None:
        return None

    def contexts(self, app: web.Application) -> Sequence[CleanupCtx]:
        return ()

    def setup_worker(self, app: web.Application) -> None:
        return None
