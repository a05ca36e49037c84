"""The inbound pipeline: dedupe, opt-out first, conversation basics, bad input, DB faults."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web
from tortoise import connections

from bot import inbox
from bot.keys import ROUTER
from bot.messages import InboundMessage, Reply
from bot.models import ConsentEvent, Message, Subscriber
from bot.routing import Context, Router
from tests.helpers import PHONE, reply_text, say

pytestmark = pytest.mark.db

OPT_OUT = ["退订", "TD", "td", "Ｔ Ｄ", "ｔｄ", "T", "t", "取消", "退订！", "STOP", "stop", "Stop.", "UNSUBSCRIBE",
           "unsubscribe", "STOPALL", "CANCEL", "END", "QUIT", "REVOKE", "OPTOUT", "ＳＴＯＰ", "拒收", " 退 订 "]


@pytest.mark.parametrize("word", OPT_OUT)
async def test_opt_out_words_stop_everything(app: web.Application, word: str) -> None:
    await reply_text(app, "订阅 价格 柑橘")
    text = await reply_text(app, word)
    assert "已退订" in text and "订阅" in text
    sub = await Subscriber.get(phone=PHONE)
    assert sub.status == "opted_out" and sub.opted_out_at is not None
    event = await ConsentEvent.filter(subscriber=sub, action="opt_out").get()
    assert event.text == word.strip() and event.channel == "sms"


@pytest.mark.parametrize("word", ["START", "start", "订阅", "ＹＥＳ", "unstop"])
async def test_opt_in_words_resume(app: web.Application, word: str) -> None:
    await reply_text(app, "TD")
    assert "恢复" in await reply_text(app, word)
    sub = await Subscriber.get(phone=PHONE)
    assert sub.status == "active"
    assert await ConsentEvent.filter(subscriber=sub, action="opt_in").count() == 2  # first contact + resume


async def test_opt_out_is_checked_before_other_handlers(app: web.Application) -> None:
    # Even in the middle of registration, TD stops pushes instead of becoming a name.
    await reply_text(app, "登记")
    assert "已退订" in await reply_text(app, "TD")
    sub = await Subscriber.get(phone=PHONE)
    assert sub.status == "opted_out" and sub.name == ""


async def test_opt_out_applies_to_every_channel(app: web.Application) -> None:
    await reply_text(app, "退订")
    sub = await Subscriber.get(phone=PHONE)
    assert sub.status == "opted_out"  # one status for the person, not per channel


@pytest.mark.parametrize("word", ["帮助", "菜单", "?", "？", "HELP", "help", "Ｈｅｌｐ"])
async def test_help(app: web.Application, word: str) -> None:
    text = await reply_text(app, word)
    assert "订阅" in text and "TD" in text and "登记" in text


async def test_subscribe_by_topic_and_crop(app: web.Application) -> None:
    text = await reply_text(app, "订阅 价格 柑橘")
    assert "已订阅：价格（柑橘）" in text
    await reply_text(app, "订阅务工")
    await reply_text(app, "订阅 洋芋")  # dialect crop alone: tips for it
    sub = await Subscriber.get(phone=PHONE)
    assert sub.topic_list == sorted(["价格", "务工", "技术"])
    assert sub.crop_list == sorted(["柑橘", "马铃薯"])
    assert "已退订：价格" in await reply_text(app, "退订 价格")
    await reply_text(app, "取消，务工")
    sub = await Subscriber.get(phone=PHONE)
    assert sub.topic_list == ["技术"] and sub.status == "active"
    assert "没认出" in await reply_text(app, "订阅 股票行情")  # not a topic villagers can subscribe to


async def test_registration_in_one_line_and_profile(app: web.Application) -> None:
    text = await reply_text(app, "登记 张三 关防乡 东川村 苞谷")
    assert "张三" in text and "关防乡" in text and "东川村" in text and "玉米" in text
    text = await reply_text(app, "我的")
    assert "姓名：张三" in text and "作物：玉米" in text


async def test_registration_unspaced(app: web.Application) -> None:
    await reply_text(app, "登记李四关防乡东川村")
    sub = await Subscriber.get(phone=PHONE)
    assert (sub.name, sub.township, sub.village) == ("李四", "关防乡", "东川村")


async def test_registration_step_by_step(app: web.Application) -> None:
    assert "姓名" in await reply_text(app, "登记")
    assert "乡镇" in await reply_text(app, "王五")
    assert "村" in await reply_text(app, "上津镇")
    assert "作物" in await reply_text(app, "跳过")
    text = await reply_text(app, "洋芋 红苕 猪")
    assert "登记完成" in text
    sub = await Subscriber.get(phone=PHONE)
    assert (sub.name, sub.township, sub.village) == ("王五", "上津镇", "")
    assert sub.crop_list == sorted(["马铃薯", "甘薯", "生猪"])
    assert sub.dialog == {}


async def test_duplicate_returns_same_reply_and_runs_handlers_once(app: web.Application) -> None:
    first = await say(app, "订阅 价格 柑橘", provider_id="SM-dup-1")
    again = await say(app, "订阅 价格 柑橘", provider_id="SM-dup-1")
    assert again.duplicate and not first.duplicate
    assert again.reply == first.reply and again.message_id == first.message_id
    assert await Message.filter(direction="in", provider_id="SM-dup-1").count() == 1
    assert await Message.filter(direction="out", reply_to_id=first.message_id).count() == 1


async def test_same_provider_id_on_other_channel_is_not_a_duplicate(app: web.Application) -> None:
    await say(app, "帮助", provider_id="X1")
    other = await say(app, "帮助", provider_id="X1", channel="wechat", address="oUser123")
    assert not other.duplicate


async def test_retry_during_slow_handler_waits_for_the_first_answer(app: web.Application) -> None:
    calls = 0
    slow = Router("slow")

    @slow.keyword("慢")
    async def slow_handler(msg: InboundMessage, ctx: Context) -> Reply:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.3)
        return Reply("慢慢来")

    app[ROUTER].include(slow)
    first, again = await asyncio.gather(
        say(app, "慢", provider_id="SM-slow"), _later(say(app, "慢", provider_id="SM-slow"))
    )
    assert calls == 1
    assert first.reply == again.reply == Reply("慢慢来") and again.duplicate


async def _later(coro):  # type: ignore[no-untyped-def]
    await asyncio.sleep(0.05)
    return await coro


@pytest.mark.parametrize("text", ["", "   ", "\x00\x00", "😀" * 5000, "a\x00b", "'; DROP TABLE message; --",
                                  "[[[((*+?", "退订" * 3000, "Ｈｅｌｌｏ 你好 🌽 مرحبا"])
async def test_bad_input_gets_a_polite_reply(app: web.Application, text: str) -> None:
    outcome = await say(app, text)
    assert outcome.reply and outcome.reply.text
    row = await Message.get(id=outcome.message_id)
    assert "\x00" not in row.body and len(row.body) <= 1600


@pytest.mark.parametrize("address", ["12345", "not-a-phone", "", "+999"])
async def test_unknown_phone_format_gets_polite_reply(app: web.Application, address: str) -> None:
    outcome = await say(app, "帮助", address=address)
    assert outcome.reply and "手机号码" in outcome.reply.text
    assert await Subscriber.all().count() == 0


async def test_handler_crash_gives_apology_and_is_recorded(app: web.Application) -> None:
    broken = Router("broken")

    @broken.keyword("坏")
    async def crash(msg: InboundMessage, ctx: Context) -> Reply:
        raise RuntimeError("boom")

    app[ROUTER].include(broken)
    outcome = await say(app, "坏")
    assert outcome.reply == Reply(inbox.SORRY)
    row = await Message.get(id=outcome.message_id)
    assert row.status == "failed"


async def test_database_error_is_raised_not_swallowed(app: web.Application) -> None:
    await say(app, "帮助")
    conn = connections.get("default")
    await conn.execute_script("ALTER TABLE message RENAME TO message_gone")  # the table is "lost"
    try:
        with pytest.raises(inbox.InboxUnavailable):
            await say(app, "帮助")
    finally:
        await conn.execute_script("ALTER TABLE message_gone RENAME TO message")


async def test_the_rows_a_text_leaves(app: web.Application) -> None:
    """What the inbox writes, whichever way it writes it: the text (kept as it came), its reply, and
    the villager stamped; a second text from the same number finds the same villager."""
    first = await say(app, "帮助", provider_id="SM-rows-1")
    row = await Message.get(id=first.message_id)
    assert (row.direction, row.channel, row.provider, row.provider_id, row.address, row.body) == (
        "in", "sms", "test", "SM-rows-1", PHONE, "帮助")
    assert (row.status, row.handler) == ("answered", first.handler) and first.handler.startswith("help.")
    assert row.created_at <= row.updated_at
    out = await Message.get(reply_to_id=row.id)
    assert (out.direction, out.status, out.handler, out.address, out.subscriber_id, out.provider_id) == (
        "out", "sent", first.handler, PHONE, row.subscriber_id, None)
    assert first.reply is not None and out.body == first.reply.text
    sub = await Subscriber.get(phone=PHONE)
    assert row.subscriber_id == sub.id and sub.last_inbound_at is not None
    assert (sub.status, sub.preferred_channel, sub.consent_source, sub.dialog) == (
        "active", "sms", "first_message:sms", {})
    stamped = sub.last_inbound_at
    second = await say(app, "帮助", provider_id="SM-rows-2")
    again = await Subscriber.get(phone=PHONE)
    assert again.last_inbound_at is not None and again.last_inbound_at >= stamped
    assert (await Message.get(id=second.message_id)).subscriber_id == sub.id
    assert await Subscriber.all().count() == 1 and await Message.all().count() == 4
    assert await ConsentEvent.filter(subscriber=sub, action="opt_in").count() == 1


async def test_a_text_without_an_answer_is_marked_and_leaves_no_reply(app: web.Application) -> None:
    quiet = Router("quiet")

    @quiet.keyword("嘘")
    async def nothing(msg: InboundMessage, ctx: Context) -> Reply:
        return Reply("")

    app[ROUTER].include(quiet)
    outcome = await say(app, "嘘")
    assert outcome.reply is None
    row = await Message.get(id=outcome.message_id)
    assert (row.status, row.handler) == ("answered", "test_inbox.nothing")
    assert not await Message.filter(reply_to_id=row.id).exists()


async def test_a_villager_is_found_whether_or_not_this_process_saw_them(app: web.Application) -> None:
    """The inbox guesses from the addresses it has seen whether to stamp or create the villager's row
    first; a wrong guess costs a statement, never a second villager or a lost one."""
    await say(app, "帮助")
    inbox._SEEN.clear()  # as after a restart: known to the database, not to this process
    await say(app, "帮助")
    assert await Subscriber.all().count() == 1 and await ConsentEvent.all().count() == 1
    await Subscriber.filter(phone=PHONE).delete()  # removed, while this process remembers the number
    outcome = await say(app, "帮助")
    sub = await Subscriber.get(phone=PHONE)
    assert (await Message.get(id=outcome.message_id)).subscriber_id == sub.id
    assert await ConsentEvent.filter(subscriber=sub, action="opt_in").count() == 1


async def test_two_first_texts_at_once_make_one_villager(app: web.Application) -> None:
    first, second = await asyncio.gather(say(app, "帮助"), say(app, "我的"))
    assert first.reply and second.reply
    assert await Subscriber.all().count() == 1 and await ConsentEvent.all().count() == 1
    assert {m.subscriber_id for m in await Message.all()} == {(await Subscriber.get(phone=PHONE)).id}


async def test_a_handlers_writes_land_with_its_reply(app: web.Application) -> None:
    """What a handler writes through inbox.write is kept with the reply, in one transaction, once the
    handler is done; a write made after (by a task it started) or off the inbound path goes at once."""
    seen: list[bool] = []
    later: list[asyncio.Task[None]] = []
    writes = Router("writes")

    @writes.keyword("记")
    async def remember(msg: InboundMessage, ctx: Context) -> Reply:
        assert ctx.subscriber is not None
        await inbox.save_dialog(ctx.subscriber, {"flow": "test", "step": 1})
        seen.append((await Subscriber.get(id=ctx.subscriber.id)).dialog == {})  # not written yet

        async def afterwards() -> None:
            await asyncio.sleep(0.05)
            await inbox.write("UPDATE subscriber SET name = ? WHERE id = ?", ["后来", ctx.subscriber.id])

        later.append(asyncio.create_task(afterwards()))
        return Reply("记下了")

    app[ROUTER].include(writes)
    outcome = await say(app, "记")
    assert outcome.reply == Reply("记下了") and seen == [True]
    sub = await Subscriber.get(phone=PHONE)
    assert sub.dialog == {"flow": "test", "step": 1}
    assert (await Message.get(id=outcome.message_id)).status == "answered"
    await later[0]
    assert (await Subscriber.get(phone=PHONE)).name == "后来"
    await inbox.write("UPDATE subscriber SET name = ? WHERE id = ?", ["此刻", sub.id])  # no text: at once
    assert (await Subscriber.get(phone=PHONE)).name == "此刻"


async def test_a_handlers_writes_are_lost_with_its_reply_never_apart(app: web.Application) -> None:
    """When the reply cannot be recorded, the handler's writes are not kept either: the text stays
    "processing" with nothing of its answer written."""
    conn = connections.get("default")
    broken = Router("broken_store")

    @broken.keyword("丢")
    async def lose(msg: InboundMessage, ctx: Context) -> Reply:
        assert ctx.subscriber is not None
        await inbox.save_dialog(ctx.subscriber, {"flow": "test"})
        await conn.execute_script("ALTER TABLE message RENAME TO message_gone")
        return Reply("丢了")

    app[ROUTER].include(broken)
    try:
        outcome = await say(app, "丢")
    finally:
        await conn.execute_script("ALTER TABLE message_gone RENAME TO message")
    assert outcome.reply == Reply("丢了")  # the villager still gets the answer
    assert (await Subscriber.get(phone=PHONE)).dialog == {}
    assert (await Message.get(id=outcome.message_id)).status == "processing"
    assert not await Message.filter(direction="out").exists()


async def test_a_retry_leaves_the_villager_as_it_was(app: web.Application) -> None:
    """A provider's retry of a kept text stamps nothing: its arrival is one transaction that the
    duplicate text undoes."""
    first = await say(app, "帮助", provider_id="SM-stamp")
    stamped = (await Subscriber.get(phone=PHONE)).last_inbound_at
    await asyncio.sleep(0.01)
    again = await say(app, "帮助", provider_id="SM-stamp")
    assert again.duplicate and again.message_id == first.message_id
    assert (await Subscriber.get(phone=PHONE)).last_inbound_at == stamped
