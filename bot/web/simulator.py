"""模拟手机: an officer texts the bot as a villager through the real inbound pipeline and sees the reply."""

from __future__ import annotations

import re
import uuid

from aiohttp import web

from bot import inbox
from bot.messages import InboundMessage
from bot.models import CHANNELS, Question
from bot.phones import mask_phone, normalise_phone
from bot.web import auth, console
from bot.web.auth import error, json_body, requires
from bot.web.view import render

SIMULATOR = "simulator"  # Message.provider of everything said here; the 首页 leaves it out of its counts
DEFAULT_PHONE = "13800000000"
MAX_TEXT = 500
QUICK = ("苞谷叶子发黄咋办", "洋芋叶子有黑斑", "价格 柑橘", "找工作", "更多", "我的", "帮助")


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/simulator", simulator_page)
    app.router.add_post("/api/v1/simulate", simulate_api)


def address_for(channel: str, phone: str) -> str:
    """SMS comes from the phone itself; WeChat from a made-up openid tied to that phone."""
    return phone if channel == "sms" else "simulator-" + re.sub(r"\D", "", phone)


@auth.page("officer")
async def simulator_page(request: web.Request) -> web.Response:
    return render(request, "simulator.html", {"default_phone": DEFAULT_PHONE, "quick": QUICK})


@requires("officer")
async def simulate_api(request: web.Request) -> web.Response:
    """Text the bot as a villager and get its reply (the real pipeline; nothing is sent to a phone).

    Body: {"phone": "13800000000", "channel": "sms" or "wechat", "text": "苞谷叶子发黄咋办"}.
    The number is kept as a test subscriber (WeChat uses the openid "simulator-<digits>").
    Returns {"reply", "handler", "answered", "handed_to_officer"}: answered is false when nothing
    was said or the question was handed to an officer (it then waits in the questions inbox)."""
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    channel, phone, text = body.get("channel", "sms"), body.get("phone", DEFAULT_PHONE), body.get("text")
    if channel not in CHANNELS:
        return error(400, "渠道只能是 sms（短信）或 wechat（微信）")
    e164 = normalise_phone(phone) if isinstance(phone, str) else None
    if e164 is None:
        return error(400, "请填写有效的手机号码，如 13800000000")
    if not isinstance(text, str) or not text.strip():
        return error(400, "请输入要发给机器人的话")
    if len(text) > MAX_TEXT:
        return error(400, f"一条最多 {MAX_TEXT} 个字")
    request[console.AUDIT_DETAIL] = f"{channel} {mask_phone(e164)}: {text[:60]}"
    try:
        outcome = await inbox.process(request.app, InboundMessage(
            channel=channel, provider=SIMULATOR, address=address_for(channel, e164), text=text,
            provider_id=f"sim-{uuid.uuid4().hex}",
        ))
    except inbox.InboxUnavailable:
        return error(503, "数据库暂时不可用，请稍后再试")
    handed = outcome.message_id is not None and await Question.exists(message_id=outcome.message_id)
    reply = outcome.reply.text if outcome.reply else ""
    return web.json_response({
        "reply": reply, "handler": outcome.handler,
        "answered": bool(reply) and outcome.handler != "error" and not handed, "handed_to_officer": handed,
    })
