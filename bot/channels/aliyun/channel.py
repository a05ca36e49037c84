"""Alibaba Cloud SMS as a channel plug-in: its config section, push URL, sender router and upkeep."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from aiohttp import web

from bot.channels.base import BaseChannel, CleanupCtx
from bot.channels.smsroute import SmsRouter
from bot.channels.webhooks import drain
from bot.config import Config
from bot.extend import Periodic, add_periodic
from bot.keys import CONFIG, SENDERS

from . import ledger, push, receipts
from .sender import AliyunSender, make_client
from .settings import PROVIDER, AliyunConfig, check, settings

DRAIN = 10.0  # s that shutdown waits for pushed work still running
PRUNE_SECONDS = 3600.0


class AliyunChannel(BaseChannel):
    name = PROVIDER
    section = "aliyun"
    settings = AliyunConfig

    def check(self, config: Config) -> None:
        check(config)

    def setup(self, app: web.Application) -> None:
        push.setup(app)

    def contexts(self, app: web.Application) -> Sequence[CleanupCtx]:
        return (sender_ctx,)  # after Twilio's (registry order): it routes numbers abroad there

    def setup_worker(self, app: web.Application) -> None:
        a = settings(app[CONFIG])
        if a.pull_receipts:
            add_periodic(app, Periodic("aliyun receipts", a.pull_seconds, receipts.pull_receipts))
        add_periodic(app, Periodic("aliyun ledger prune", PRUNE_SECONDS, lambda _app: ledger.prune()))


async def sender_ctx(app: web.Application) -> AsyncIterator[None]:
    """Put the router in place: +86 numbers to Alibaba Cloud, the rest to Twilio when it is configured."""
    config = app[CONFIG]
    domestic = AliyunSender(config, make_client(config))
    current = app[SENDERS]["sms"]  # Twilio's when it is enabled next to us, else the log provider
    other = current if current.provider != "log" else None
    app[SENDERS]["sms"] = SmsRouter(domestic, other)
    tasks: set[asyncio.Task[None]] = set()
    app[push.TASKS] = tasks
    try:
        yield
    finally:
        await drain(tasks, DRAIN)


CHANNEL = AliyunChannel()
