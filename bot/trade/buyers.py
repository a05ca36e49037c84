"""Buyers officers register (console form or CSV): cooperatives, traders, processors, with what they buy,
where and how much. Each buyer is reachable as a villager (by phone) and stands behind one buy listing
per commodity; verified ones are marked 认证收购商 and matched at once."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from tortoise.transactions import in_transaction

from bot import consent
from bot.config import TradeConfig
from bot.models import Subscriber, pack_set, unpack_set
from bot.phones import normalise_phone
from bot.trade import listings
from bot.trade.models import TradeBuyer, TradeListing
from bot.trade.parse import MAX_PRICE, MAX_QUANTITY, Draft, goods_named

BUYER_DAYS = 90  # a buyer's listings stay up this long; registering again renews them
# CSV header (Chinese or English) -> field.
COLUMNS = {"名称": "name", "name": "name", "电话": "phone", "phone": "phone", "类型": "kind", "kind": "kind",
           "乡镇": "township", "township": "township", "收购品种": "commodities", "commodities": "commodities",
           "收购区域": "areas", "areas": "areas", "数量": "quantity", "quantity": "quantity",
           "价格": "price", "price": "price", "认证": "verified", "verified": "verified"}
YES = ("1", "是", "true", "yes", "y", "认证", "已认证")
SPLIT = re.compile(r"[\s,，、;；/]+")


class BuyerError(ValueError):
    """A field an officer must fix, in Chinese."""


@dataclass(frozen=True)
class BuyerRow:
    name: str
    phone: str
    kind: str
    township: str
    commodities: tuple[str, ...]
    areas: tuple[str, ...]
    quantity: float
    price: float | None
    verified: bool


def _number(value: str, label: str, top: float) -> float | None:
    value = value.strip().removesuffix("元").removesuffix("斤")
    if not value:
        return None
    try:
        number = float(value)
    except ValueError:
        raise BuyerError(f"{label}应为数字，如 500") from None
    if not 0 <= number <= top:
        raise BuyerError(f"{label}应在 0 到 {top:g} 之间")
    return number


def parse_buyer(values: dict[str, str]) -> BuyerRow:
    name = values.get("name", "").strip()
    if not name:
        raise BuyerError("名称必须填写")
    if len(name) > 100:
        raise BuyerError("名称最多 100 个字")
    phone = normalise_phone(values.get("phone", "").strip())
    if phone is None:
        raise BuyerError("电话不对，应为手机号，如 13800138000")
    names = [w for w in SPLIT.split(values.get("commodities", "")) if w]
    if not names:
        raise BuyerError("收购品种必须填写，如“核桃 板栗”")
    standard = []
    for word in names:
        goods = goods_named(word)
        if goods is None:
            raise BuyerError(f"不认识的品种“{word}”，请用价格页或 trade.toml 里的名称")
        standard.append(goods.name)
    price = _number(values.get("price", ""), "价格", MAX_PRICE)
    if price == 0:
        price = None
    return BuyerRow(
        name=name, phone=phone, kind=values.get("kind", "").strip()[:20],
        township=values.get("township", "").strip()[:50], commodities=tuple(dict.fromkeys(standard)),
        areas=tuple(w for w in SPLIT.split(values.get("areas", "")) if w)[:10],
        quantity=_number(values.get("quantity", ""), "数量", MAX_QUANTITY) or 0.0, price=price,
        verified=values.get("verified", "").strip().lower() in YES,
    )


async def register(row: BuyerRow, officer: str, config: TradeConfig, today: date) -> tuple[TradeBuyer, bool]:
    """Create or update the buyer (by phone) and renew its buy listings, one per commodity."""
    async with in_transaction():
        subscriber = await Subscriber.get_or_none(phone=row.phone)
        if subscriber is None:
            subscriber = await Subscriber.create(phone=row.phone, name=row.name[:50], township=row.township,
                                                 consent_source="trade:buyer")
            await consent.record(subscriber, "opt_in", "sms", "trade:buyer", f"officer {officer}")
        buyer = await TradeBuyer.get_or_none(phone=row.phone)
        created = buyer is None
        values: dict[str, Any] = {
            "name": row.name, "kind": row.kind, "township": row.township, "commodities": pack_set(list(row.commodities)),
            "areas": pack_set(list(row.areas)), "quantity": row.quantity, "price": row.price,
            "verified": row.verified, "active": True, "subscriber_id": subscriber.id}
        if buyer is None:
            buyer = await TradeBuyer.create(phone=row.phone, created_by=officer[:50], **values)
        else:
            await TradeBuyer.filter(id=buyer.id).update(**values)
            await buyer.refresh_from_db()
        await TradeListing.filter(buyer_id=buyer.id, state__in=listings.ACTIVE).update(state="closed")
        for name in row.commodities:
            goods = goods_named(name)
            assert goods is not None
            draft = Draft(side="buy", commodity=name, unit=goods.unit, quantity=row.quantity or 0.0,
                          price=row.price, price_unit=goods.unit if row.price is not None else None)
            await listings.post(subscriber, draft, township=row.township, village="", contact=row.phone,
                                text=f"收购商：{row.name}", config=config, today=today, buyer_id=buyer.id,
                                verified_buyer=row.verified, check=False)
        await TradeListing.filter(buyer_id=buyer.id, state__in=listings.ACTIVE).update(
            expires_on=today + timedelta(days=BUYER_DAYS))
    return buyer, created


@dataclass
class Report:
    created: int = 0
    updated: int = 0
    commodities: set[str] = field(default_factory=set)
    errors: list[tuple[int, str]] = field(default_factory=list)  # (line, why)


async def import_csv(text: str, officer: str, config: TradeConfig, today: date) -> Report:
    """Register every good line; bad lines are reported by line number and skipped."""
    report = Report()
    reader = csv.reader(io.StringIO(text.lstrip("\ufeff")))
    header = next(reader, None)
    if header is None:
        report.errors.append((1, "文件是空的"))
        return report
    keys = [COLUMNS.get(h.strip().lower(), "") for h in header]
    missing = [label for label, key in (("名称", "name"), ("电话", "phone"), ("收购品种", "commodities"))
               if key not in keys]
    if missing:
        report.errors.append((1, f"表头缺少：{'、'.join(missing)}"))
        return report
    for line, cells in enumerate(reader, start=2):
        if not any(c.strip() for c in cells):
            continue
        values = {k: v for k, v in zip(keys, cells, strict=False) if k}
        try:
            row = parse_buyer(values)
        except BuyerError as exc:
            report.errors.append((line, str(exc)))
            continue
        buyer, created = await register(row, officer, config, today)
        report.created += created
        report.updated += not created
        if buyer.verified:
            report.commodities.update(unpack_set(buyer.commodities))
    return report
