"""Prices by text: "价格 柑橘", "柑橘多少钱", "猪价"; alerts: "价格提醒 柑橘 高于 2.5", "柑橘 涨跌 10%"."""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from bot.extend import DEAL_PRICES, ask
from bot.messages import InboundMessage, Reply
from bot.prices import alerts, quotes
from bot.prices.commodities import find_commodity, named
from bot.prices.models import Commodity
from bot.prices.rows import MAX_PRICE
from bot.routing import Context, Router
from bot.textnorm import keyword_form
from content.fold import fold

router = Router("prices")
alerts_router = Router("price-alerts")  # before subscriptions: "取消提醒 柑橘" is not "取消 柑橘"

PRICE_WORDS = ("价格", "价钱", "行情", "多少钱", "几块钱", "啥价", "什么价", "卖多少", "价")
ALERT = re.compile(r"^(?:价格)?提醒(?P<name>\D+?)(?P<dir>高于|低于|超过|跌破|涨跌|变动)(?P<value>\d+(?:\.\d+)?)%?$")
MOVE = re.compile(r"^(?P<name>\D+?)(?:涨跌|变动|波动)(?P<value>\d+(?:\.\d+)?)%?$")
CANCEL = re.compile(r"^(?:取消|关闭)(?:价格)?提醒(?P<name>\D*)$")
KINDS = {"高于": "above", "超过": "above", "低于": "below", "跌破": "below", "涨跌": "change", "变动": "change"}


# 价 in a complaint, not a question: 「卖不起价」 (fetches little), 「收洋芋的压价」 (the buyer beats it down).
NOT_ASKED = re.compile("压价|起价|上价|讲价|还价|砍价")


def _asks_price(msg: InboundMessage, ctx: Context) -> bool:
    form = NOT_ASKED.sub("", keyword_form(msg.text))
    return len(form) <= 20 and any(w in form for w in PRICE_WORDS) and "提醒" not in form


async def answer_for(commodity: Commodity, channel: str, ctx: Context) -> str:
    today = datetime.now(ctx.config.tz).date()
    found = await quotes.latest(commodity, today, markets=3)
    if not found:
        newest = await quotes.last_seen(commodity)
        if newest is None:
            return f"还没有{commodity.name}的价格数据。"
        return (f"{commodity.name}近两周没有新价格；最近一次是{newest.day:%m-%d}"
                f"{newest.market}{newest.price:.2f}{commodity.unit}。")
    lines = [f"{commodity.name}（{commodity.unit}）："]
    for q in found:
        change = quotes.arrow(q.change)
        lines.append(f"{q.market} {q.price:.2f}{' ' + change if change else ''}（{q.day:%m-%d}）")
    if channel == "wechat":
        trend = await quotes.week_line(commodity, found[0].market, today)
        if "→" in trend:
            lines.append(f"近7天（{found[0].market}）：{trend}")
    if deals := await ask(ctx.app, DEAL_PRICES, commodity.name, today):
        lines.append(f"近30天农户成交：{deals}")  # 供求 outcomes, when that feature reports some
    lines.append("涨跌对比上周同一市场。")
    return "\n".join(lines)


@router.keyword("价格", "今日价格", "行情", "价格行情")
async def prices_for_my_crops(msg: InboundMessage, ctx: Context) -> Reply:
    """价格 / 今日价格 (prices for what the sender grows)"""
    names = ctx.subscriber.crop_list if ctx.subscriber else []
    commodities = await named(names, 3)
    if not commodities:
        return Reply("请告诉我要查什么，如“价格 柑橘”或“猪价”。登记作物后，发“价格”就能看自家作物的价格。")
    parts = [await answer_for(c, msg.channel, ctx) for c in commodities]
    return Reply("\n".join(p.replace("涨跌对比上周同一市场。", "").strip() for p in parts))


@router.when(_asks_price)
async def price_of(msg: InboundMessage, ctx: Context) -> Reply | None:
    """价格 柑橘 / 柑橘多少钱 / 猪价 / 洋芋啥价"""
    commodity = await find_commodity(keyword_form(msg.text))
    if commodity is None:
        return None  # a price word without a known commodity: let search or an officer take it
    return Reply(await answer_for(commodity, msg.channel, ctx))


@router.intent("price")
async def price_in_other_words(msg: InboundMessage, ctx: Context) -> Reply:
    """洋芋好多钱一斤 / 核桃收几多 / 今天猪啥行情 (price asks in everyday words)"""
    commodity = await find_commodity(fold(keyword_form(msg.text)))
    if commodity is None:
        return Reply("请告诉我要查什么的价格，如“柑橘好多钱一斤”或“价格 核桃”。")
    return Reply(await answer_for(commodity, msg.channel, ctx))


def _compact(text: str) -> str:
    """Like keyword_form, but keeping the decimal point and percent sign of "高于 2.5" / "10%"."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return re.sub(r"[\s,，。！!？?、]+", "", folded).rstrip("。.")


def _sets_alert(msg: InboundMessage, ctx: Context) -> bool:
    form = _compact(msg.text)
    return bool(ALERT.match(form) or MOVE.match(form) or CANCEL.match(form))


@alerts_router.when(_sets_alert)
async def price_alert(msg: InboundMessage, ctx: Context) -> Reply | None:
    """价格提醒 柑橘 高于 2.5 / 柑橘 涨跌 10% / 取消提醒 柑橘"""
    sub = ctx.subscriber
    if sub is None:
        return None
    form = _compact(msg.text)
    if cancel := CANCEL.match(form):
        commodity = await find_commodity(cancel.group("name")) if cancel.group("name") else None
        removed = await alerts.cancel_alerts(sub.id, commodity)
        return Reply(f"已取消{removed}个价格提醒。" if removed else "您没有这样的价格提醒。")
    match = ALERT.match(form) or MOVE.match(form)
    assert match is not None
    commodity = await find_commodity(match.group("name"))
    if commodity is None:
        return Reply(f"不认识“{match.group('name')}”。例：“价格提醒 柑橘 高于 2.5”或“柑橘 涨跌 10%”。")
    kind = KINDS.get(match.groupdict().get("dir") or "涨跌", "change")
    value = float(match.group("value"))
    if kind == "change" and not 1 <= value <= 100:
        return Reply("涨跌幅请在1%到100%之间，如“柑橘 涨跌 10%”。")
    if kind != "change" and not 0 < value <= MAX_PRICE:
        return Reply("价格不对，请写每斤多少元，如“价格提醒 柑橘 高于 2.5”。")
    current = await alerts.set_alert(sub.id, commodity, kind, value)
    what = {"above": f"高于{value:g}元", "below": f"低于{value:g}元", "change": f"涨跌超过{value:g}%"}[kind]
    now = f"，现在是{current:.2f}元" if current is not None else ""
    return Reply(f"好的，{commodity.name}价格（{commodity.unit}）{what}时提醒您{now}。"
                 f"取消请回复“取消提醒 {commodity.name}”。")
