"""供求 end to end over the inbound pipeline (SMS and WeChat texts through bot.inbox, proposals through the
broadcasts push API and the delivery engine to in-memory senders), with the fake clock for the days."""

from __future__ import annotations

import logging
import random
from datetime import date, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

import handlers.trade
from bot.extend import DEAL_PRICES, MARKET_PRICE, provide
from bot.keys import CONFIG, SENDERS
from bot.messages import InboundMessage
from bot.models import Message, Subscriber
from bot.prices import quotes
from bot.prices.models import Commodity, Market, PriceRecord
from bot.trade import jobs, proposals
from bot.trade.matching import fast_score, score
from bot.trade.models import TradeListing, TradeMatch, TradeOutcome
from bot.trade.parse import cn_number, parse
from broadcasts import service
from broadcasts.dispatcher import Dispatcher
from broadcasts.models import Broadcast
from tests.conftest import make_config
from tests.fakes.clock import FakeClock
from tests.fakes.sender import InMemorySender
from tests.helpers import reply_text, say

SELLER = "+8613800138000"
SELLER_DIGITS = "13800138000"
BUYER_OPENID = "oBuyer0001"
BUYER_PHONE = "13900139000"


# --- reading texts -----------------------------------------------------------------------------------

@pytest.mark.parametrize(("text", "expected"), [
    ("卖 柑橘 2000斤 2.5元", {"side": "sell", "commodity": "柑橘", "quantity": 2000, "unit": "斤", "price": 2.5}),
    ("收 核桃 500斤", {"side": "buy", "commodity": "核桃", "quantity": 500, "unit": "斤", "price": None}),
    ("买 猪崽 10头", {"side": "buy", "commodity": "仔猪", "quantity": 10, "unit": "头"}),
    ("我有两千多斤橘子要卖", {"side": "sell", "commodity": "柑橘", "quantity": 2000}),
    ("哪里收魔芋", {"side": "sell", "commodity": "魔芋", "quantity": None}),
    ("想买点脱毒洋芋种", {"side": "buy", "commodity": "马铃薯种薯", "quantity": None}),
    ("收购洋芋2万斤 每斤1块2", {"side": "buy", "commodity": "马铃薯", "quantity": 20000, "price": 1.2}),
    ("卖 柑橘 1吨 5元一公斤", {"quantity": 2000, "unit": "斤", "price": 2.5}),
    ("卖 柑橘 10箱", {"quantity": 10, "unit": "箱"}),
    ("卖 柑橘 很多", {"quantity": None, "vague": True}),
    ("卖柑橘2000斤0元", {"quantity": 2000, "price": None, "bad_price": "0元"}),
])
def test_texts_are_read_as_listings(text: str, expected: dict[str, Any]) -> None:
    draft = parse(text)
    for key, value in expected.items():
        assert getattr(draft, key) == value, (key, draft)


def test_chinese_numbers() -> None:
    assert [cn_number(t) for t in ("两千", "两千五", "1.5万", "十", "二十三", "一百零五", "2千", "很多")] == [
        2000, 2500, 15000, 10, 23, 105, 2000, None]


# --- the pipeline ------------------------------------------------------------------------------------

@pytest.fixture
async def market(quick_app: web.Application) -> None:
    """柑橘 at 十堰批发 today, given to the trade feature the way the prices feature does."""
    provide(quick_app, MARKET_PRICE, quotes.market_price)
    commodity = await Commodity.create(name="柑橘", unit="元/斤", group="水果", aliases=",橘子,")
    wholesale = await Market.create(name="十堰批发", kind="批发")
    today = datetime.now(quick_app[CONFIG].tz).date()
    await PriceRecord.create(date=today, market=wholesale, commodity=commodity, price=2.41, raw_price=2.41,
                             raw_unit="元/斤")


@pytest.fixture
def clocked(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    clock.set(datetime.now().astimezone())
    for module in (handlers.trade, jobs):
        clock.install(monkeypatch, module)
    return clock


async def deliver(app: web.Application) -> None:
    """Fire every push made so far and let the delivery engine send it (quiet hours are off in tests)."""
    config = app[CONFIG]
    for broadcast in await Broadcast.filter(state="scheduled", schedule=None):
        await service.fire(broadcast.id, broadcast.approved_at or datetime.now(), config)
    dispatcher = Dispatcher(app)
    while await dispatcher.tick():
        pass


def sent(app: web.Application) -> list[tuple[str, str]]:
    """(address, text) of everything pushed through the engine, both channels."""
    out = []
    for channel in ("sms", "wechat"):
        sender = app[SENDERS][channel]
        assert isinstance(sender, InMemorySender)
        out += [(s.address, s.text) for s in sender.sent]
    return out


async def seller() -> Subscriber:
    return await Subscriber.create(phone=SELLER, name="张三", township="关防乡", village="东川村")


async def all_words(app: web.Application) -> str:
    """Every reply and push so far, as one text."""
    replies = await Message.filter(direction="out").values_list("body", flat=True)
    return "\n".join([*map(str, replies), *(text for _, text in sent(app))])


async def test_sell_and_buy_match_and_phones_only_after_both_agree(
        quick_app: web.Application, market: None, clocked: FakeClock, caplog: pytest.LogCaptureFixture) -> None:
    app = quick_app
    caplog.set_level(logging.INFO, logger="nongbot.trade")
    await seller()
    posted = await reply_text(app, "卖 柑橘 2000斤 2.5元", address=SELLER)
    assert "已登记供求1号" in posted and "卖柑橘2000斤，2.5元/斤" in posted and "关防乡" in posted
    assert "十堰批发今日2.41元/斤" in posted and "同意" in posted

    # A WeChat follower, not registered: asked for the township, then a phone, one question at a time.
    await Subscriber.create(wechat_openid=BUYER_OPENID, wechat_followed=True, preferred_channel="wechat")
    ask = await reply_text(app, "想买柑橘500斤 2.6元", address=BUYER_OPENID, channel="wechat")
    assert "哪个乡镇" in ask and "手机" not in ask
    ask = await reply_text(app, "关防乡", address=BUYER_OPENID, channel="wechat")
    assert "手机号" in ask
    done = await reply_text(app, BUYER_PHONE, address=BUYER_OPENID, channel="wechat")
    assert "已登记供求1号" in done and "收柑橘500斤，2.6元/斤" in done

    await jobs.upkeep(app)
    [match] = await TradeMatch.all()
    assert match.state == "proposed" and match.score >= 70 and "同在关防乡" in match.reasons
    await deliver(app)
    texts = dict(sent(app))
    assert f"有人收柑橘500斤，出价2.6元/斤，在关防乡。回复“同意 {match.id}”" in texts[SELLER]
    assert "有人卖柑橘2000斤，要价2.5元/斤，在关防乡东川村" in texts[BUYER_OPENID]

    first = await reply_text(app, f"同意 {match.id}", address=SELLER)
    assert "对方也同意后" in first and BUYER_PHONE not in first
    words = await all_words(app)
    assert SELLER_DIGITS not in words and BUYER_PHONE not in words  # nobody's phone in any message yet

    second = await reply_text(app, f"同意 {match.id}", address=BUYER_OPENID, channel="wechat")
    assert f"对方电话{SELLER_DIGITS}" in second and "先验货后付款，不要先转定金" in second
    await deliver(app)
    to_seller = [text for address, text in sent(app) if address == SELLER]
    assert f"对方电话{BUYER_PHONE}" in to_seller[-1] and "先验货后付款" in to_seller[-1]

    # Three days later both are asked; the seller's answer is a 成交价.
    await jobs.upkeep(app)
    assert not await Broadcast.filter(text__contains="成交了吗").exists()
    clocked.set(clocked.now() + timedelta(days=3, minutes=1))
    await jobs.upkeep(app)
    await deliver(app)
    asked = [address for address, text in sent(app) if "成交了吗" in text]
    assert sorted(asked) == sorted([SELLER, BUYER_OPENID])
    thanks = await reply_text(app, "成交 2.4", address=SELLER)
    assert "成交价2.4元/斤" in thanks
    outcome = await TradeOutcome.get(match_id=match.id)
    assert outcome.dealt and outcome.price == 2.4 and outcome.township == "关防乡"
    none = await reply_text(app, "没成", address=BUYER_OPENID, channel="wechat")
    assert "没成交" in none
    assert await proposals.deal_prices("柑橘", clocked.now().date()) == "关防乡2.4元/斤（1笔）"
    assert "记下了" in await reply_text(app, f"成交 {match.id} 2.5", address=SELLER)
    # Our log lines name the phones masked, before any redaction of the logging setup.
    logged = [record.__dict__ for record in caplog.records if record.name == "nongbot.trade"]
    assert any("exchanged" in str(r.get("msg")) for r in logged)
    assert not any(SELLER_DIGITS in str(r) or BUYER_PHONE in str(r) for r in logged)
    # The price reply shows the 成交价 next to the market price (the slot the trade feature fills).
    provide(app, DEAL_PRICES, proposals.deal_prices)
    price = await reply_text(app, "柑橘多少钱", address=SELLER)
    assert "十堰批发 2.41" in price and "近30天农户成交：关防乡2.4元/斤（1笔）" in price


async def _pair(app: web.Application, buyer_phone: str = "+8613900139000") -> TradeMatch:
    await seller()
    await Subscriber.create(phone=buyer_phone, township="关防乡")
    await reply_text(app, "卖 柑橘 2000斤 2.5元", address=SELLER)
    await reply_text(app, "收 柑橘 1000斤 2.5元", address=buyer_phone)
    await jobs.upkeep(app)
    return await TradeMatch.get()


async def test_a_decline_shares_nothing(quick_app: web.Application, clocked: FakeClock) -> None:
    match = await _pair(quick_app)
    assert "对方也同意后" in await reply_text(quick_app, f"同意 {match.id}", address="+8613900139000")
    no = await reply_text(quick_app, f"不要 {match.id}", address=SELLER)
    assert "不再推荐" in no
    await deliver(quick_app)
    words = await all_words(quick_app)
    assert "对方电话" not in words and "对方这次没有同意" in words
    late = await reply_text(quick_app, f"同意 {match.id}", address=SELLER)
    assert "已经结束" in late and "13900139000" not in late
    # The pair is never proposed again.
    await jobs.upkeep(quick_app)
    assert await TradeMatch.all().count() == 1


async def test_proposals_and_listings_expire_and_extend(quick_app: web.Application, clocked: FakeClock) -> None:
    match = await _pair(quick_app)
    clocked.set(clocked.now() + timedelta(days=3, hours=1))
    await jobs.upkeep(quick_app)
    await match.refresh_from_db()
    assert match.state == "expired"
    assert "已经结束" in await reply_text(quick_app, f"同意 {match.id}", address=SELLER)
    clocked.set(clocked.now() + timedelta(days=5))
    await jobs.upkeep(quick_app)
    listing = await TradeListing.get(subscriber__phone=SELLER)
    assert listing.state == "expired"
    await deliver(quick_app)
    assert any("已到期下架" in t and "延期 1" in t for a, t in sent(quick_app) if a == SELLER)
    again = await reply_text(quick_app, "延期 1", address=SELLER)
    assert "已延期到" in again
    await listing.refresh_from_db()
    assert listing.state == "open" and listing.expires_on > clocked.now().date()
    assert "在挂" in await reply_text(quick_app, "我的供求", address=SELLER)


async def test_limits_on_listings_posts_and_proposals(db_url: str, quick_app: web.Application) -> None:
    quick_app[CONFIG] = make_config(db_url, trade={"max_active_listings": 2, "max_posts_per_day": 3,
                                                   "max_proposals_per_day": 1})
    await seller()
    assert "已登记供求1号" in await reply_text(quick_app, "卖 柑橘 100斤", address=SELLER)
    assert "已登记供求2号" in await reply_text(quick_app, "卖 核桃 100斤", address=SELLER)
    refused = await reply_text(quick_app, "卖 板栗 100斤", address=SELLER)
    assert "已有2条供求在挂" in refused and await TradeListing.all().count() == 2
    assert "已撤下供求1号" in await reply_text(quick_app, "取消 1", address=SELLER)
    assert "已登记供求3号" in await reply_text(quick_app, "卖 板栗 100斤", address=SELLER)
    await reply_text(quick_app, "取消 3", address=SELLER)
    assert "今天已发3条" in await reply_text(quick_app, "卖 板栗 100斤", address=SELLER)
    assert "没有在挂的供求9号" in await reply_text(quick_app, "取消 9", address=SELLER)
    # Two buyers of walnuts: the seller gets one proposal today.
    for phone in ("+8613900000001", "+8613900000002"):
        await Subscriber.create(phone=phone, township="关防乡")
        await reply_text(quick_app, "收 核桃 100斤", address=phone)
    await jobs.upkeep(quick_app)
    assert await TradeMatch.all().count() == 1


async def test_opted_out_villagers_get_no_proposals(quick_app: web.Application) -> None:
    await seller()
    await Subscriber.create(phone="+8613900139000", township="关防乡")
    await reply_text(quick_app, "卖 柑橘 2000斤", address=SELLER)
    await reply_text(quick_app, "收 柑橘 500斤", address="+8613900139000")
    await reply_text(quick_app, "TD", address="+8613900139000")
    await jobs.upkeep(quick_app)
    assert not await TradeMatch.exists()
    await reply_text(quick_app, "订阅", address="+8613900139000")
    await jobs.upkeep(quick_app)
    assert await TradeMatch.all().count() == 1


async def test_vague_quantities_and_bad_prices_are_asked_one_at_a_time(quick_app: web.Application) -> None:
    await seller()
    ask = await reply_text(quick_app, "卖 柑橘 很多", address=SELLER)
    assert "卖多少斤柑橘" in ask and "2000斤" in ask
    again = await reply_text(quick_app, "好多好多", address=SELLER)
    assert "没看懂" in again and not await TradeListing.exists()
    done = await reply_text(quick_app, "两千斤", address=SELLER)
    assert "已登记供求1号" in done and "卖柑橘2000斤，价格面议" in done
    bad = await reply_text(quick_app, "卖 核桃 300斤 0元", address=SELLER)
    assert "价格“0元”不对" in bad
    done = await reply_text(quick_app, "面议", address=SELLER)
    assert "卖核桃300斤，价格面议" in done
    ask = await reply_text(quick_app, "卖 板栗 500", address=SELLER)
    assert "卖多少斤板栗" in ask
    assert "算了" and "不发了" in await reply_text(quick_app, "算了", address=SELLER)
    assert await TradeListing.all().count() == 2


@pytest.mark.parametrize(("text", "expected"), [
    ("我要找农技员", "农技员"), ("你好", "您好"), ("明天下雨不", "天气"), ("柑橘好多钱一斤", "柑橘"),
])
async def test_a_question_about_a_listing_never_holds_the_villager(quick_app: web.Application, text: str,
                                                                   expected: str) -> None:
    await seller()
    assert "卖多少斤核桃" in await reply_text(quick_app, "有人收核桃吗", address=SELLER)
    other = await reply_text(quick_app, text, address=SELLER)
    assert "卖多少斤" not in other and "没看懂" not in other and expected in other
    assert not (await Subscriber.get(phone=SELLER)).dialog  # the listing's question is dropped


async def test_everyday_words_and_keywords_keep_their_meaning(quick_app: web.Application) -> None:
    await seller()
    ask = await reply_text(quick_app, "哪里收魔芋", address=SELLER)
    assert "卖多少斤魔芋" in ask
    assert "已登记供求1号" in await reply_text(quick_app, "800斤", address=SELLER)
    buy = await reply_text(quick_app, "想买点脱毒洋芋种", address=SELLER)
    assert "买多少斤马铃薯种薯" in buy
    await reply_text(quick_app, "算了", address=SELLER)
    # Price questions and topic opt-outs are not listings.
    assert "供求" not in await reply_text(quick_app, "柑橘卖多少钱", address=SELLER)
    assert "已退订" in await reply_text(quick_app, "取消 价格", address=SELLER)


@pytest.mark.parametrize(("text", "listing"), [
    ("买了20只小鸡 晚上挤在一起 是冷了吧", False), ("买的玉米种子包了衣 还用拌药不", False),
    ("买 猪崽 10头", True), ("卖 柑橘 2000斤 2.5元", True),
])
def test_what_was_bought_is_the_setting_of_a_question_not_a_listing(text: str, listing: bool) -> None:
    msg = InboundMessage(channel="sms", provider="test", address=SELLER, text=text, provider_id="1")
    assert handlers.trade._posts(msg, None) is listing  # type: ignore[arg-type]


def test_the_fast_score_is_the_explained_score() -> None:
    """A pass ranks pairs with fast_score and explains the chosen ones with score: they must agree."""
    config = make_config("sqlite://:memory:").trade
    rng = random.Random(7)
    today = date(2026, 3, 2)

    def row(side: str) -> dict[str, Any]:
        created = today - timedelta(days=rng.randint(0, 9))
        return {"side": side, "quantity": rng.choice((0.0, 50.0, 500.0, 2000.0)), "unit": "斤",
                "price": rng.choice((None, 1.0, 2.3, 2.5, 2.9, 4.0)), "price_unit": rng.choice(("斤", "斤", "箱")),
                "township": rng.choice(("", "关防乡", "城关镇")), "village": rng.choice(("", "东川村")),
                "created_on": created, "day": created.toordinal()}

    for _ in range(2000):
        sell, buy = row("sell"), row("buy")
        market, verified = rng.choice((None, 2.41)), rng.random() < 0.2
        explained = score(sell, buy, market, config, today, verified)
        fast = fast_score(sell, buy, market, config, today.toordinal(), verified)
        assert (explained[0] if explained else None) == fast, (sell, buy, market)


@pytest.mark.parametrize("text", [
    "成交 99999999999999999999 2.5", "同意 99999999999999999999", "不要 ٣", "取消 ¹²", "延期 9999999999",
    "卖 柑橘 " + "9" * 400 + "斤", "卖 柑橘 2000斤 " + "9" * 400 + "元", "成交 " + "9" * 400, "卖 十百千万斤 柑橘",
])
async def test_odd_numbers_get_an_answer_not_an_error(quick_app: web.Application, text: str) -> None:
    await seller()
    outcome = await say(quick_app, text, address=SELLER)
    assert outcome.reply is not None and outcome.reply.text and outcome.handler != "error"


async def test_quiet_hours_hold_proposals(db_url: str, quick_app: web.Application) -> None:
    """Proposals are pushes: the delivery engine keeps them for after the quiet hours."""
    quick_app[CONFIG] = make_config(db_url, sms={"quiet_hours": "00:00-23:59"})
    await _pair(quick_app)
    await deliver(quick_app)
    assert sent(quick_app) == [] and await Broadcast.filter(kind="trade").count() == 2
    quick_app[CONFIG] = make_config(db_url)
    await deliver(quick_app)
    assert sorted(address for address, _ in sent(quick_app)) == sorted([SELLER, "+8613900139000"])
