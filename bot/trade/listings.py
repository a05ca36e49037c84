"""Listings: post one (with the limits, the block list and moderation), a villager's own list, withdraw,
extend, and what officers do (approve, reject, close). Plain async functions over values."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date, timedelta

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.config import TradeConfig
from bot.models import Subscriber
from bot.phones import mask_phone
from bot.trade.models import TradeBlock, TradeListing
from bot.trade.parse import Draft, amount

log = logging.getLogger("nongbot.trade")
ACTIVE = ("pending", "open")
SIDES = {"sell": "卖", "buy": "收"}
STATES = {"pending": "待审核", "open": "在挂", "closed": "已关闭", "cancelled": "已撤下", "expired": "已到期",
          "rejected": "未通过"}


class Refused(Exception):
    """Why a listing is not taken, in words for the villager."""


@dataclass(frozen=True)
class Posted:
    listing: TradeListing
    moderated: bool  # waits for an officer


def describe(listing: TradeListing, *, with_price: bool = True) -> str:
    """'卖柑橘2000斤，2.5元/斤' (what, how much, at what price)."""
    how_much = f"{amount(listing.quantity)}{listing.unit}" if listing.quantity else "（数量不限）"
    text = f"{SIDES[listing.side]}{listing.commodity}{how_much}"
    if with_price:
        text += f"，{price_text(listing.price, listing.price_unit)}"
    return text


def price_text(price: float | None, unit: str) -> str:
    return f"{amount(price)}元/{unit}" if price is not None else "价格面议"


async def active_count(subscriber_id: int) -> int:
    return await TradeListing.filter(subscriber_id=subscriber_id, state__in=ACTIVE).count()


async def check_limits(subscriber: Subscriber, config: TradeConfig, today: date) -> None:
    """Raise Refused when this villager may not post now (blocked, too many up, too many today)."""
    if await TradeBlock.exists(subscriber_id=subscriber.id):
        raise Refused("您的供求信息暂时不能发布，请联系县农技站。")
    if await active_count(subscriber.id) >= config.max_active_listings:
        raise Refused(f"您已有{config.max_active_listings}条供求在挂。先发“我的供求”看看，"
                      "撤下一条（如“取消 1”）再发新的。")
    if await TradeListing.filter(subscriber_id=subscriber.id, created_on=today).count() >= config.max_posts_per_day:
        raise Refused(f"今天已发{config.max_posts_per_day}条供求，明天再发吧。")


async def _needs_review(subscriber: Subscriber, config: TradeConfig, verified_buyer: bool | None) -> bool:
    """With moderation on: a first-time poster, or an unverified buyer, waits for an officer."""
    if not config.moderation or verified_buyer:
        return False
    if verified_buyer is False:
        return True
    return not await TradeListing.filter(subscriber_id=subscriber.id, state__in=("open", "closed", "expired")).exists()


async def post(subscriber: Subscriber, draft: Draft, *, township: str, village: str, contact: str, text: str,
               config: TradeConfig, today: date, buyer_id: int | None = None,
               verified_buyer: bool | None = None, check: bool = True) -> Posted:
    """Store a complete draft as the poster's next numbered listing."""
    assert draft.side and draft.commodity and draft.quantity is not None and draft.unit
    if check:
        await check_limits(subscriber, config, today)
    moderated = await _needs_review(subscriber, config, verified_buyer)
    async with in_transaction():
        last = await TradeListing.filter(subscriber_id=subscriber.id).order_by("-number").first()
        number = last.number + 1 if last is not None else 1
        listing = await TradeListing.create(
            subscriber_id=subscriber.id, buyer_id=buyer_id, number=number, side=draft.side,
            commodity=draft.commodity, quantity=draft.quantity, unit=draft.unit, price=draft.price,
            price_unit=(draft.price_unit or draft.unit) if draft.price is not None else "",
            township=township[:50], village=village[:50], grade=draft.grade[:30], available=draft.available[:30],
            contact=contact, text=text[:200], state="pending" if moderated else "open",
            expires_on=today + timedelta(days=config.expiry_days), created_on=today,
        )
    log.info("listing posted", extra={"listing": listing.id, "side": listing.side, "commodity": listing.commodity,
                                      "contact": mask_phone(contact), "moderated": moderated})
    return Posted(listing, moderated)


async def mine(subscriber_id: int, today: date) -> list[TradeListing]:
    """Up now (or waiting for an officer), then ended in the last week, by number."""
    recent = Q(state__in=ACTIVE) | Q(updated_at__gte=today - timedelta(days=7), state__in=("expired", "rejected"))
    return await TradeListing.filter(recent, subscriber_id=subscriber_id).order_by("number").limit(20)


async def withdraw(subscriber_id: int, number: int) -> TradeListing | None:
    listing = await TradeListing.get_or_none(subscriber_id=subscriber_id, number=number, state__in=ACTIVE)
    if listing is not None:
        listing.state = "cancelled"
        await listing.save(update_fields=["state", "updated_at"])
    return listing


async def extend(subscriber_id: int, number: int | None, config: TradeConfig, today: date) -> list[TradeListing]:
    """Another expiry_days from today for one listing (or all that are up or ended in the last week)."""
    query = TradeListing.filter(subscriber_id=subscriber_id, state__in=(*ACTIVE, "expired"),
                                expires_on__gte=today - timedelta(days=7))
    if number is not None:
        query = query.filter(number=number)
    found = await query.order_by("number")
    for listing in found:
        listing.expires_on = today + timedelta(days=config.expiry_days)
        listing.expiry_told = False
        if listing.state == "expired":
            listing.state = "open"
        await listing.save(update_fields=["expires_on", "expiry_told", "state", "updated_at"])
    return found


async def set_state(listing_id: int, state: str, *, from_states: tuple[str, ...]) -> TradeListing:
    """An officer's approve (open), reject or close; LookupError if there is no such listing in those states."""
    listing = await TradeListing.get_or_none(id=listing_id)
    if listing is None or listing.state not in from_states:
        raise LookupError(listing_id)
    listing.state = state
    await listing.save(update_fields=["state", "updated_at"])
    return listing


async def expire(today: date) -> list[TradeListing]:
    """Listings past their day end; the ones not told yet are returned (to be told once)."""
    await TradeListing.filter(state__in=ACTIVE, expires_on__lt=today).update(state="expired")
    told = await TradeListing.filter(state="expired", expiry_told=False, buyer_id__isnull=True).order_by("id")
    if told:
        await TradeListing.filter(id__in=[t.id for t in told]).update(expiry_told=True)
    return told
