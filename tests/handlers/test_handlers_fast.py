"""Handlers and sends without a server or the app's start-up: bot.inbox.process on `quick_app`
(the pipeline with in-memory senders), bot.outbox over tests/fakes' InMemorySender."""

from __future__ import annotations

import pytest
from aiohttp import web

from bot import outbox
from bot.keys import ROUTER, SENDERS
from bot.messages import InboundMessage, Reply
from bot.models import ConsentEvent, Message, Subscriber
from bot.routing import Context, Router
from tests.fakes.sender import InMemorySender
from tests.helpers import PHONE, reply_text, say

pytestmark = pytest.mark.db


def sms(app: web.Application) -> InMemorySender:
    sender = app[SENDERS]["sms"]
    assert isinstance(sender, InMemorySender)
    return sender


async def test_help_lists_what_can_be_texted(quick_app: web.Application) -> None:
    outcome = await say(quick_app, "帮助")
    assert outcome.reply is not None and "订阅" in outcome.reply.text
    assert outcome.handler  # the route that answered is recorded
    assert await Message.filter(direction="in", address=PHONE).count() == 1


async def test_opt_out_then_back_in(quick_app: web.Application) -> None:
    assert "已退订" in await reply_text(quick_app, "TD")
    assert (await Subscriber.get(phone=PHONE)).status == "opted_out"
    assert "恢复" in await reply_text(quick_app, "START")
    sub = await Subscriber.get(phone=PHONE)
    assert sub.status == "active"
    assert await ConsentEvent.filter(subscriber=sub).count() == 3  # first contact, opt out, opt in


async def test_registration_and_profile(quick_app: web.Application) -> None:
    await reply_text(quick_app, "登记 张三 关防乡")
    sub = await Subscriber.get(phone=PHONE)
    assert sub.name == "张三"
    assert "张三" in await reply_text(quick_app, "我的")


async def test_subscribe_by_topic(quick_app: web.Application) -> None:
    text = await reply_text(quick_app, "订阅 价格 柑橘")
    assert "柑橘" in text
    assert "价格" in (await Subscriber.get(phone=PHONE)).topics


async def test_subscribe_to_the_daily_forecast_and_leave_it(quick_app: web.Application) -> None:
    await reply_text(quick_app, "订阅 天气预报")
    assert ",天气," in (await Subscriber.get(phone=PHONE)).topics
    await reply_text(quick_app, "退订 天气")
    assert ",天气," not in (await Subscriber.get(phone=PHONE)).topics


async def test_a_duplicate_runs_no_handler_twice(quick_app: web.Application) -> None:
    first = await say(quick_app, "帮助", provider_id="SM-1")
    again = await say(quick_app, "帮助", provider_id="SM-1")
    assert again.duplicate and again.reply == first.reply
    assert await Message.filter(direction="in").count() == 1


async def test_a_router_of_our_own(quick_app: web.Application) -> None:
    """bot.routing on its own: a keyword route, a prefix route and the fallback."""
    router = Router("test")
    seen: list[str] = []

    @router.keyword("你好")
    async def hello(msg: InboundMessage, ctx: Context) -> Reply:
        return Reply("你好！")

    @router.keyword(prefix=("查",))
    async def look_up(msg: InboundMessage, ctx: Context) -> Reply:
        seen.append(ctx.args)
        return Reply(f"查{ctx.args}")

    @router.fallback()
    async def other(msg: InboundMessage, ctx: Context) -> Reply:
        return Reply("不懂")

    quick_app[ROUTER] = router
    assert await reply_text(quick_app, "你好") == "你好！"
    assert await reply_text(quick_app, "查柑橘") == "查柑橘" and seen == ["柑橘"]
    assert await reply_text(quick_app, "天气") == "不懂"


async def test_send_text_records_what_the_sender_took(quick_app: web.Application) -> None:
    sub = await Subscriber.create(phone=PHONE, preferred_channel="sms")
    row = await outbox.send_text(quick_app, sub, "您的问题农技员已回复：剪掉病叶。", handler="test")
    assert row.status == "sent" and row.provider == "memory"
    assert sms(quick_app).texts_to(PHONE) == ["您的问题农技员已回复：剪掉病叶。"]
    assert row.provider_id == sms(quick_app).sent[0].provider_id


async def test_send_text_retries_a_retryable_failure(quick_app: web.Application) -> None:
    sub = await Subscriber.create(phone=PHONE, preferred_channel="sms")
    sms(quick_app).fail(times=2)
    row = await outbox.send_text(quick_app, sub, "明早有霜冻。", backoff=0)
    assert row.status == "sent" and row.attempts == 3
    assert sms(quick_app).attempts == 3 and len(sms(quick_app).sent) == 1


async def test_send_text_gives_up_on_a_final_failure_and_keeps_the_record(quick_app: web.Application) -> None:
    sub = await Subscriber.create(phone=PHONE, preferred_channel="sms")
    sms(quick_app).fail(times=None, retryable=False, error_code="21610", error="unsubscribed at the carrier")
    row = await outbox.send_text(quick_app, sub, "明早有霜冻。", backoff=0)
    assert (row.status, row.error_code, row.attempts) == ("failed", "21610", 1)
    assert sms(quick_app).sent == []
    assert await Message.filter(direction="out", status="failed").count() == 1


async def test_a_sender_that_raises_is_recorded_as_failed(quick_app: web.Application) -> None:
    sub = await Subscriber.create(phone=PHONE, preferred_channel="sms")
    sms(quick_app).raise_on_send(RuntimeError("provider bug"))
    row = await outbox.send_text(quick_app, sub, "明早有霜冻。", backoff=0)
    assert row.status == "failed" and "provider bug" in (row.error or "")
