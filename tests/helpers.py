"""Small helpers shared by tests."""

from __future__ import annotations

import uuid

from aiohttp import web

from bot import inbox
from bot.messages import InboundMessage

PHONE = "+8613800138000"


async def say(
    app: web.Application, text: str, *, address: str = PHONE, channel: str = "sms",
    provider_id: str | None = None,
) -> inbox.Outcome:
    msg = InboundMessage(
        channel=channel, provider="test", address=address, text=text,
        provider_id=provider_id or f"test-{uuid.uuid4().hex}",
    )
    return await inbox.process(app, msg)


async def reply_text(app: web.Application, text: str, **kw: str) -> str:
    outcome = await say(app, text, **kw)
    return outcome.reply.text if outcome.reply else ""
