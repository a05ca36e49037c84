"""The channel registry: every provider plug-in by module name, and the wiring of the enabled ones into an app.

Adding a provider: its module (or package) exposing CHANNEL, one line in PROVIDERS, its config section
(the dataclass CHANNEL.settings names), one test file with a fake provider server."""

from __future__ import annotations

import functools
import importlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from aiohttp import web

from bot.channels.base import Channel, Sender
from bot.channels.log import LogSender
from bot.keys import CONFIG, ROLE, SENDERS
from bot.models import CHANNELS

if TYPE_CHECKING:
    from bot.config import Config

log = logging.getLogger("nongbot.channels")

# Module names, not imports: bot/config.py reads the channels' sections through this registry, and the
# channels' modules import bot/config.py. Order matters: a provider's sender context may wrap one
# started before it (Alibaba Cloud routes numbers abroad to Twilio).
PROVIDERS = (
    "bot.channels.log",
    "bot.channels.twilio",
    "bot.channels.aliyun",
    "bot.channels.wechat",
)


@functools.cache
def channels() -> tuple[Channel, ...]:
    """Every registered channel, in PROVIDERS order."""
    return tuple(importlib.import_module(name).CHANNEL for name in PROVIDERS)


def sections() -> dict[str, type[Any]]:
    """Config section name → the dataclass its channel parses it into."""
    return {c.section: c.settings for c in channels() if c.section is not None and c.settings is not None}


def sms_providers() -> tuple[str, ...]:
    """The values sms.provider may take."""
    return tuple(c.name for c in channels() if c.medium == "sms")


def enabled(config: Config) -> list[Channel]:
    return [c for c in channels() if c.enabled(config)]


def install(app: web.Application) -> None:
    """Put the senders in place (the log provider for every channel, then each enabled provider's over
    it) and mount each enabled provider's routes and upkeep as the process's role asks."""
    role = app[ROLE]
    app.cleanup_ctx.append(senders_ctx)
    for channel in enabled(app[CONFIG]):
        app.cleanup_ctx.extend(channel.contexts(app))
        if role in ("all", "web"):
            channel.setup(app)
        if role in ("all", "worker"):
            channel.setup_worker(app)


async def senders_ctx(app: web.Application) -> AsyncIterator[None]:
    senders: dict[str, Sender] = {channel: LogSender(channel) for channel in CHANNELS}
    if app[CONFIG].sms.provider == "log":
        log.info("sms provider is 'log': outbound SMS are printed, not sent")
    app[SENDERS] = senders
    yield
