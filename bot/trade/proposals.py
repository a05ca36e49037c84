"""Proposals and consent: each side of a match is told of the other without a phone; phones go to both
only after both reply 同意 (with the scam warning); 不要 or lapsing shares nothing. Three days after the
exchange each side is asked whether they dealt, and at what price (the 成交价 series). Every text goes
out through the broadcasts push API: quiet hours, opt-outs and the delivery engine apply."""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.phones import mask_phone
from bot.trade.listings import price_text
from bot.trade.matching import Pair
from bot.trade.models import TradeBuyer, TradeListing, TradeMatch, TradeOutcome
from bot.trade.parse import MAX_PRICE, amount
from broadcasts.pushes import push, system_officer

log = logging.getLogger("nongbot.trade")
KIND = "trade"
WARNING = "先验货后付款，不要先转定金。"
BATCH = 50


def _place(listing: TradeListing | dict[str, object]) -> str:
    get = listing.get if isinstance(listing, dict) else listing.__dict__.get
    return f"{get('township') or ''}{get('village') or ''}" or "本县"


def _qty(row: dict[str, Any]) -> str:
    return f"{amount(float(row['quantity']))}{row['unit']}" if row["quantity"] else "（数量不限）"


def proposal_texts(number: int, pair: Pair, buyer_name: str = "") -> tuple[str, str]:
    """(to the seller, to the buyer): what the other side offers and where, never who or their phone."""
    s, b = pair.sell, pair.buy
    reply = f"回复“同意 {number}”交换电话，“不要 {number}”不用。"
    who = f"{buyer_name}（认证收购商）" if buyer_name else "有人"
    offer = price_text(b["price"], str(b["price_unit"]))
    ask = price_text(s["price"], str(s["price_unit"]))
    to_seller = (f"供求{number}号：{who}收{b['commodity']}{_qty(b)}，"
                 f"{'出价' + offer if b['price'] is not None else offer}，在{_place(b)}。{reply}")
    to_buyer = (f"供求{number}号：有人卖{s['commodity']}{_qty(s)}，"
                f"{'要价' + ask if s['price'] is not None else ask}，在{_place(s)}。{reply}")
    return to_seller, to_buyer


async def propose(pairs: list[Pair], today: date) -> list[TradeMatch]:
    """One match row per pair (a pair is never proposed twice), and a proposal to each side."""
    names = {b.id: b.name for b in await TradeBuyer.filter(
        id__in={p.buy["buyer_id"] for p in pairs if p.buy["buyer_id"]}, verified=True)}
    made: list[TradeMatch] = []
    officer = await system_officer() if pairs else None
    for start in range(0, len(pairs), BATCH):
        async with in_transaction():  # one commit per batch, not three per proposal
            for pair in pairs[start:start + BATCH]:
                try:
                    async with in_transaction():  # a savepoint: a duplicate undoes only itself
                        match = await TradeMatch.create(
                            sell_id=pair.sell["id"], buy_id=pair.buy["id"], score=pair.score, reasons=pair.reasons,
                            market_price=pair.market, proposed_on=today)
                except IntegrityError:
                    continue  # another process proposed it first
                to_seller, to_buyer = proposal_texts(match.id, pair, names.get(pair.buy["buyer_id"] or 0, ""))
                await push(KIND, to_seller, [pair.sell["subscriber_id"]], officer=officer)
                await push(KIND, to_buyer, [pair.buy["subscriber_id"]], officer=officer)
                made.append(match)
    if made:
        log.info("trade proposals", extra={"matches": len(made)})
    return made


def _phone(e164: str) -> str:
    return e164[3:] if e164.startswith("+86") else e164


def exchange_text(number: int, other: TradeListing, mine: TradeListing) -> str:
    return (f"供求{number}号双方都同意了。对方电话{_phone(other.contact)}，在{_place(other)}，"
            f"{mine.commodity}{amount(other.quantity)}{other.unit}，{price_text(other.price, other.price_unit)}。"
            f"{WARNING}")


@dataclass(frozen=True)
class Answered:
    text: str  # the reply to the one who answered


async def _mine(subscriber_id: int, number: int) -> tuple[TradeMatch, str] | None:
    match = await TradeMatch.filter(Q(sell__subscriber_id=subscriber_id) | Q(buy__subscriber_id=subscriber_id),
                                    id=number).prefetch_related("sell", "buy").first()
    if match is None:
        return None
    return match, "sell" if match.sell.subscriber_id == subscriber_id else "buy"


async def answer(subscriber_id: int, number: int, yes: bool, now: datetime) -> Answered:
    """同意 N / 不要 N from one side of match N."""
    found = await _mine(subscriber_id, number)
    if found is None:
        return Answered(f"没有找到供求{number}号推荐。请核对编号，或发“我的供求”。")
    match, side = found
    other_side = "buy" if side == "sell" else "sell"
    mine, other = (match.sell, match.buy) if side == "sell" else (match.buy, match.sell)
    if match.state == "exchanged":
        return Answered(exchange_text(number, other, mine) if yes else f"供求{number}号电话已交换过了。")
    if match.state != "proposed":
        return Answered(f"供求{number}号推荐已经结束，电话没有交换。有新的合适信息会再告诉您。")
    field = f"{side}_answer"
    if not yes:
        await TradeMatch.filter(id=match.id, state="proposed").update(**{field: "no", "state": "declined"})
        if getattr(match, f"{other_side}_answer") == "yes":
            await push(KIND, f"供求{number}号对方这次没有同意，电话没有交换。有新的合适信息会再告诉您。",
                       [other.subscriber_id])
        log.info("trade proposal declined", extra={"match": match.id, "side": side})
        return Answered(f"好的，供求{number}号不再推荐，您的电话不会给对方。")
    await TradeMatch.filter(id=match.id, state="proposed").update(**{field: "yes"})
    await match.refresh_from_db(fields=["sell_answer", "buy_answer", "state"])
    if match.state != "proposed" or getattr(match, f"{other_side}_answer") != "yes":
        return Answered(f"好的，已记下您同意。对方也同意后，会把双方电话发给你们。{WARNING}")
    # Both agreed: whoever moves the row to "exchanged" sends the numbers (once).
    if not await TradeMatch.filter(id=match.id, state="proposed").update(state="exchanged", exchanged_at=now):
        return Answered(exchange_text(number, other, mine))
    await push(KIND, exchange_text(number, mine, other), [other.subscriber_id])
    log.info("trade phones exchanged", extra={"match": match.id, "sell": mask_phone(match.sell.contact),
                                              "buy": mask_phone(match.buy.contact)})
    return Answered(exchange_text(number, other, mine))


async def lapse(today: date, days: int) -> int:
    """Proposals nobody finished answering within `days` end; nothing is shared."""
    return await TradeMatch.filter(state="proposed", proposed_on__lte=today - timedelta(days=days)).update(
        state="expired")


def outcome_question(number: int, commodity: str) -> str:
    return f"供求{number}号（{commodity}）成交了吗？回复“成交 价格”（如“成交 {number} 2.3”）或“没成 {number}”。"


async def ask_outcomes(now: datetime, days: int) -> int:
    """`days` after the phones were exchanged, each side is asked once whether they dealt."""
    due = await TradeMatch.filter(state="exchanged", outcome_asked_at__isnull=True,
                                  exchanged_at__lte=(now - timedelta(days=days)).astimezone(UTC)).prefetch_related("sell", "buy")
    asked = 0
    for match in due:
        if not await TradeMatch.filter(id=match.id, outcome_asked_at__isnull=True).update(
                outcome_asked_at=now.astimezone(UTC)):
            continue
        text = outcome_question(match.id, match.sell.commodity)
        await push(KIND, text, [match.sell.subscriber_id, match.buy.subscriber_id])
        asked += 1
    return asked


async def record_outcome(subscriber_id: int, number: int | None, dealt: bool, price: float | None,
                         today: date) -> str:
    """成交 [N] 价格 / 没成 [N]: one answer per side and match; returns the reply."""
    query = TradeMatch.filter(Q(sell__subscriber_id=subscriber_id) | Q(buy__subscriber_id=subscriber_id),
                              state="exchanged")
    if number is not None:
        query = query.filter(id=number)
    candidates = await query.order_by("-exchanged_at").prefetch_related("sell", "buy")
    answered = {(row["match_id"], row["side"]) for row in await TradeOutcome.filter(
        match_id__in=[m.id for m in candidates]).values("match_id", "side")}
    open_ones = []
    for match in candidates:
        side = "sell" if match.sell.subscriber_id == subscriber_id else "buy"
        if (match.id, side) not in answered:
            open_ones.append((match, side))
    if not open_ones:
        if number is not None and candidates:
            return f"供求{number}号的成交情况已经记下了，谢谢！"
        if number is not None:
            return f"没有找到要回复的供求{number}号。"
        return "您没有等回复的供求成交情况。"
    if len(open_ones) > 1 and number is None:
        numbers = "、".join(str(m.id) for m, _ in open_ones[:5])
        return f"您有几笔供求（{numbers}号），请带上编号回复，如“成交 {open_ones[0][0].id} 2.3”或“没成 {open_ones[0][0].id}”。"
    match, side = open_ones[0]
    if dealt and (price is None or not 0 < price <= MAX_PRICE):
        unit = match.sell.price_unit or match.sell.unit
        return f"请写成交价（每{unit}多少元），如“成交 {match.id} 2.3”。"
    try:
        await TradeOutcome.create(match_id=match.id, side=side, dealt=dealt, price=price if dealt else None,
                                  commodity=match.sell.commodity, unit=match.sell.price_unit or match.sell.unit,
                                  township=match.sell.township, reported_on=today)
    except IntegrityError:
        return f"供求{match.id}号的成交情况已经记下了。"
    if not dealt:
        return f"好的，记下供求{match.id}号没成交。您的信息还在挂，有合适的会再告诉您。"
    return f"好的，记下供求{match.id}号成交价{amount(price or 0)}元/{match.sell.price_unit or match.sell.unit}，谢谢！"


async def deal_prices(commodity: str, today: date, days: int = 30) -> str:
    """'城关镇2.3元/斤（2笔）' from the last `days` of reported deals, or ''."""
    rows = await TradeOutcome.filter(commodity=commodity, dealt=True, price__isnull=False,
                                     reported_on__gte=today - timedelta(days=days)).values(
        "match_id", "township", "price", "unit")
    deals: dict[tuple[int, str, str], list[float]] = defaultdict(list)  # both sides may report one deal
    for row in rows:
        deals[(row["match_id"], row["township"] or "本县", row["unit"])].append(row["price"])
    by_place: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (_, town, unit), prices in deals.items():
        by_place[(town, unit)].append(sum(prices) / len(prices))
    parts = [f"{town}{amount(sum(p) / len(p))}元/{unit}（{len(p)}笔）"
             for (town, unit), p in sorted(by_place.items(), key=lambda kv: -len(kv[1]))[:3]]
    return "；".join(parts)
