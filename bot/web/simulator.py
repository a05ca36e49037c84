"""模拟手机: an officer texts the bot through the real inbound pipeline as their own sandbox villager
(bot/sandbox.py), never as a real one, and sees the reply."""

from __future__ import annotations

import uuid

from aiohttp import web

from bot import inbox, sandbox
from bot.extend import Event, MenuEntry, add_menu, emit
from bot.keys import OFFICER
from bot.messages import InboundMessage
from bot.models import CHANNELS, Subscriber
from bot.web import auth, console
from bot.web.auth import error, json_body, requires
from bot.web.fields import Obj, Text
from bot.web.params import accepts
from bot.web.view import render

SIMULATOR = sandbox.PROVIDER  # Message.provider of everything said here; the 首页 leaves it out of its counts
MAX_TEXT = 500
# With an inbound message's id: True from the feature that handed that text to an officer.
HANDED_TO_OFFICER: Event[[int]] = Event("simulator.handed_to_officer")
FIELDS = {"channel", "text"}
# No phone: the sandbox villager is the only one the simulator speaks as (a body naming one is refused).
SIMULATE = Obj(channel=Text(16, choices=CHANNELS, default="sms", label="渠道"),
               text=Text(MAX_TEXT, label="要发给机器人的话"),
               example={"channel": "sms", "text": "苞谷叶子发黄咋办"})
STATUS_NAMES = {"active": "接收推送", "opted_out": "已退订（TD）"}
QUICK = ("苞谷叶子发黄咋办", "洋芋叶子有黑斑", "价格 柑橘", "找工作", "更多", "我的", "帮助")


def setup(app: web.Application) -> None:
    add_menu(app, MenuEntry("/admin/simulator", "模拟手机", order=70))
    app.router.add_get("/admin/simulator", simulator_page)
    app.router.add_post("/api/v1/simulate", simulate_api)
    app.router.add_post("/api/v1/simulate/reset", reset_api)


def _state(person: Subscriber) -> dict[str, str]:
    return {"address": person.wechat_openid or "", "status": person.status}


@auth.page("officer")
async def simulator_page(request: web.Request) -> web.Response:
    address = sandbox.address_for(request[OFFICER].id)
    person = await Subscriber.get_or_none(wechat_openid=address)
    status = STATUS_NAMES.get(person.status, person.status) if person else "新农户（还没发过消息）"
    return render(request, "simulator.html", {"quick": QUICK, "address": address, "status_name": status})


@requires("officer")
@accepts(body=SIMULATE)
async def simulate_api(request: web.Request) -> web.Response:
    """Text the bot as your own sandbox villager and get its reply (the real pipeline; nothing is sent).

    Body: {"channel": "sms" or "wechat", "text": "苞谷叶子发黄咋办"}. Each officer has one sandbox
    villager (address "sim:<officer id>"): its registration, subscriptions, consent and conversation
    are its own, it never acts as a real villager (there is no phone field: a body naming one is
    refused), it receives no broadcast or push, and it is not counted on the 首页 or listed among
    villagers. Its opt-outs and opt-ins change only the sandbox and are not written to the consent log.
    Returns {"reply", "handler", "answered", "handed_to_officer", "sandbox": {"address", "status"}}:
    answered is false when nothing was said or the question was handed to an officer (it then waits
    in the questions inbox, marked as from the simulator)."""
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    if "phone" in body:
        return error(400, "模拟手机不能以手机号发送：每位农技员只用自己的沙盒身份，不会碰到真实农户。请去掉 phone。")
    if unknown := sorted(set(body) - FIELDS):
        return error(400, f"不认识的字段：{', '.join(unknown)[:100]}（只有 channel 和 text）")
    channel, text = body.get("channel", "sms"), body.get("text")
    if channel not in CHANNELS:
        return error(400, "渠道只能是 sms（短信）或 wechat（微信）")
    if not isinstance(text, str) or not text.strip():
        return error(400, "请输入要发给机器人的话")
    if len(text) > MAX_TEXT:
        return error(400, f"一条最多 {MAX_TEXT} 个字")
    officer = request[OFFICER]
    address = sandbox.address_for(officer.id)
    request[console.AUDIT_DETAIL] = f"{channel} 沙盒 {address}: {text[:60]}"
    try:
        await sandbox.identity(officer.id, channel)
        outcome = await inbox.process(request.app, InboundMessage(
            channel=channel, provider=SIMULATOR, address=address, text=text, provider_id=f"sim-{uuid.uuid4().hex}",
        ))
    except inbox.InboxUnavailable:
        return error(503, "数据库暂时不可用，请稍后再试")
    handed = outcome.message_id is not None and any(await emit(request.app, HANDED_TO_OFFICER, outcome.message_id))
    reply = outcome.reply.text if outcome.reply else ""
    person = await Subscriber.get(wechat_openid=address)
    return web.json_response({
        "reply": reply, "handler": outcome.handler,
        "answered": bool(reply) and outcome.handler != "error" and not handed, "handed_to_officer": handed,
        "sandbox": _state(person),
    })


@requires("officer")
async def reset_api(request: web.Request) -> web.Response:
    """Start your sandbox villager afresh: registration, subscriptions, alerts, job profile and dialog cleared.

    No body. Affects only the calling officer's sandbox (never a real villager); its past messages stay
    in the log. Returns {"sandbox": {"address", "status"}}."""
    officer = request[OFFICER]
    person = await sandbox.identity(officer.id, "sms")
    request[console.AUDIT_DETAIL] = f"沙盒 {person.wechat_openid} 重新开始"
    await emit(request.app, sandbox.RESET, person.id)  # alerts, job wishes, answers ("不对" must not rate an old one)
    await Subscriber.filter(id=person.id).update(
        name="", township="", village="", crops="", topics="", status="active", opted_out_at=None,
        consent_source=sandbox.CONSENT_SOURCE, dialog={}, wechat_cs_sent=0)
    person = await Subscriber.get(id=person.id)
    return web.json_response({"sandbox": _state(person)})
