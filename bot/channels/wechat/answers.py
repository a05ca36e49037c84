"""Messages and clicks answered through the inbox: passively within the reply budget, else later."""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from wechatpy import events as wx_events
from wechatpy import messages as wx_messages

from bot import inbox, intake, outbox
from bot.keys import CONFIG, METRICS
from bot.messages import InboundMessage
from bot.models import Message, PushItem, Subscriber

from .follows import followed, job_finished, unfollowed
from .menu import MENU_KEYWORDS
from .settings import settings
from .slots import PENDING

log = logging.getLogger("nongbot.wechat")

# A message whose answer cannot start this share of the reply budget (0.5 of 4 s) before its deadline
# is deferred at once.
MIN_WORK = 0.125

ASK_IN_TEXT = "请用文字发问题，如“苞谷叶子发黄咋办”；回复“帮助”查看菜单。"
UNSUPPORTED = {
    wx_messages.ImageMessage: "收到您的图片。目前还看不懂图片，",
    wx_messages.VoiceMessage: "收到您的语音。目前还听不懂语音，",
    wx_messages.VideoMessage: "收到您的视频。目前还看不懂视频，",
    wx_messages.ShortVideoMessage: "收到您的视频。目前还看不懂视频，",
    wx_messages.LocationMessage: "收到您的位置。目前还不能按位置查询，",
    wx_messages.LinkMessage: "收到您分享的链接。目前还打不开链接，",
}
OTHER_KIND = "目前只能看懂文字消息，"


async def respond(app: web.Application, message: Any, openid: str, deadline: float) -> str | None:
    """The passive reply's text, or None to answer "success"."""
    if isinstance(message, wx_messages.TextMessage):
        return await _ask(app, openid, message.content or "", str(message.id), deadline, opens_window=True)
    if isinstance(message, wx_messages.VoiceMessage) and message.recognition:
        return await _ask(app, openid, message.recognition, str(message.id), deadline, opens_window=True)
    event_key = f"{openid}:{message.time}:{getattr(message, 'event', '')}"
    if len(event_key) > 64:  # Message.provider_id is 64 characters
        event_key = "ev:" + hashlib.sha1(event_key.encode()).hexdigest()
    if isinstance(message, (wx_events.SubscribeEvent, wx_events.SubscribeScanEvent)):
        scene = message.scene_id if isinstance(message, wx_events.SubscribeScanEvent) else ""
        await followed(openid, scene)
        return await _ask(app, openid, "帮助", event_key, deadline)  # the welcome is the help menu
    if isinstance(message, wx_events.UnsubscribeEvent):
        await unfollowed(openid)
        return None
    if isinstance(message, wx_events.ClickEvent):
        keyword = MENU_KEYWORDS.get(message.key or "")
        if keyword is None:
            log.warning("click on an unknown menu key", extra={"key": (message.key or "")[:64]})
            return None
        return await _ask(app, openid, keyword, event_key, deadline)
    if isinstance(message, wx_events.TemplateSendJobFinishEvent):
        await job_finished(app, message)
        return None
    # wechatpy gives unknown events an UnknownMessage; the raw MsgType tells them from messages.
    if isinstance(message, wx_events.BaseEvent) or str(message._data.get("MsgType", "")).lower() == "event":
        return None  # VIEW, LOCATION, SCAN, …: nothing to say
    app[METRICS].inbound.labels("wechat", "unsupported").inc()
    await Subscriber.filter(wechat_openid=openid).update(
        last_inbound_at=datetime.now(UTC), wechat_cs_sent=0, wechat_followed=True)
    return UNSUPPORTED.get(type(message), OTHER_KIND) + ASK_IN_TEXT


async def _ask(app: web.Application, openid: str, text: str, key: str, deadline: float, *,
               opens_window: bool = False) -> str | None:
    """Run `text` through the inbox; the answer if it is ready by `deadline`, else None (it is sent
    as a customer-service message when ready). The answer waits its turn for a slot; when none comes
    by MIN_WORK before the deadline (overload), the message is stored and answered "success" at once,
    and worked out when a slot is free (bot/intake.py keeps it through a crash)."""
    pending = app[PENDING]
    if pending.deferred(key):
        return None  # WeChat's retry of a message already deferred: its answer goes out by itself
    msg = InboundMessage(channel="wechat", provider="wechat", address=openid, text=text, provider_id=key)
    start_by = deadline - MIN_WORK * settings(app[CONFIG]).reply_budget
    if not pending.slots.try_acquire():
        try:
            await asyncio.wait_for(pending.slots.acquire(urgent=True), start_by - time.monotonic())
        except TimeoutError:
            await _defer_stored(app, msg, opens_window)
            return None
    task = asyncio.create_task(_answer_in_slot(app, msg, opens_window))
    try:
        outcome = await asyncio.wait_for(asyncio.shield(task), max(deadline - time.monotonic(), 0.0))
    except TimeoutError:
        pending.defer(key, _deliver_later(app, task))
        return None
    if outcome.duplicate and pending.deferred(key):
        return None  # the original's answer goes out as a customer-service message
    return outcome.reply.text if outcome.reply else None


async def _answer_in_slot(app: web.Application, msg: InboundMessage, opens_window: bool) -> inbox.Outcome:
    try:
        return await _answer(app, msg, opens_window)
    finally:
        app[PENDING].slots.release()


async def _defer_stored(app: web.Application, msg: InboundMessage, opens_window: bool) -> None:
    """Keep the message (one insert) before WeChat hears "success", then answer it in a slot when one
    is free; a database error propagates (503: WeChat sends it again)."""
    row = await intake.store_one("wechat", intake.Item("ask", msg.provider_id or "", {
        "openid": msg.address, "text": msg.text, "opens_window": opens_window}))
    app[PENDING].mark(msg.provider_id or "")
    app[METRICS].inbound.labels("wechat", "deferred").inc()
    if row is not None:  # None: stored before (a retry), and answered from there
        app[PENDING].spawn(intake.process(app, [row]))


@intake.handler("wechat")
async def process_items(app: web.Application, rows: list[PushItem]) -> None:
    """Deferred messages: each worked out in a slot (after every message still inside its budget),
    then sent as a customer-service message; each row marked done when its answer went out.
    A row processed again after a crash does not record the message twice, and sends the answer
    unless it may have been given (a passive reply to a retry of the message)."""
    await asyncio.gather(*(_answer_stored(app, row) for row in rows))


async def _answer_stored(app: web.Application, row: PushItem) -> None:
    data = row.payload
    msg = InboundMessage(channel="wechat", provider="wechat", address=str(data["openid"]), text=str(data["text"]),
                         provider_id=row.key)
    try:
        async with app[PENDING].slots.held(urgent=False):
            if not await intake.still_held(row):
                return  # waited so long that a sweep took it: the sweep answers it
            outcome = await _answer(app, msg, bool(data.get("opens_window")), duplicate_wait=0.0)
        answer = None
        if outcome.message_id is not None:
            answer = await Message.filter(reply_to_id=outcome.message_id, direction="out").order_by("id").first()
        if answer is not None and answer.attempts == 0 and not answer.provider_id and (
                answer.status == "sending" if outcome.duplicate else answer.status == "sent"):
            # Fresh, or a crash came while it was going out (WeChat keeps no log to ask): send it.
            answer.status = "sending"
            await answer.save(update_fields=["status", "updated_at"])
            await outbox.deliver(app, answer)
        await intake.done(row)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # nobody awaits this: log here; the sweep tries again
        log.exception("deferred wechat answer not delivered", extra={"item": row.id})
        await intake.failed(row, f"{type(exc).__name__}: {exc}")


async def _answer(app: web.Application, msg: InboundMessage, opens_window: bool,
                  duplicate_wait: float = 3.0) -> inbox.Outcome:
    # Only a follower can write to us; a message (not a click) opens a new 48-hour window of 5 texts.
    # Written with the inbox's read of the villager's row (one statement), and not by a retry of a message.
    touch = {"wechat_followed": True, "wechat_cs_sent": 0} if opens_window else {"wechat_followed": True}
    return await inbox.process(app, msg, duplicate_wait=duplicate_wait, touch=touch)


async def _deliver_later(app: web.Application, task: asyncio.Task[inbox.Outcome]) -> None:
    try:
        outcome = await task
        if outcome.duplicate or outcome.reply is None or outcome.message_id is None:
            return  # a retry: the original request delivers (or has delivered) the answer
        row = await Message.filter(reply_to_id=outcome.message_id, direction="out").order_by("id").first()
        if row is None:
            return  # the inbox could not record the reply and has logged why
        row.status = "sending"
        await row.save(update_fields=["status", "updated_at"])
        await outbox.deliver(app, row)
    except asyncio.CancelledError:
        raise
    except Exception:  # nobody awaits this task: log here or never know
        log.exception("late wechat answer not delivered")
