"""Price alerts: a villager sets or cancels them; when new prices arrive, each alert that is crossed
(and armed) sends one message through the delivery engine; it re-arms only after the price falls back."""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import UTC, datetime

from bot import sandbox
from bot.models import Subscriber
from bot.prices.models import Commodity, PriceAlert, PriceRecord
from bot.prices.records import newest_price
from broadcasts.pushes import push

log = logging.getLogger("nongbot.alerts")
DEFAULT_CHANGE = 10.0  # %: what people who subscribed to 价格 for a crop get without asking
KINDS = ("above", "below", "change")


async def set_alert(subscriber_id: int, commodity: Commodity, kind: str, threshold: float) -> float | None:
    """Set (or change) a subscriber's alert of this kind on a commodity; returns the current price.
    An above/below alert already crossed starts disarmed: it fires on the next crossing, not now."""
    if kind not in KINDS:
        raise ValueError(f"kind: expected one of {', '.join(KINDS)}")
    current = await newest_price(commodity.id)
    crossed = current is not None and ((kind == "above" and current > threshold)
                                       or (kind == "below" and current < threshold))
    await PriceAlert.update_or_create(
        subscriber_id=subscriber_id, commodity_id=commodity.id, kind=kind,
        defaults={"threshold": threshold, "armed": not crossed, "last_price": current},
    )
    return current


async def cancel_alerts(subscriber_id: int, commodity: Commodity | None = None) -> int:
    """Remove a subscriber's alerts on one commodity (None: on every one); returns how many."""
    query = PriceAlert.filter(subscriber_id=subscriber_id)
    if commodity is not None:
        query = query.filter(commodity_id=commodity.id)
    return await query.delete()


async def _defaults(commodity: Commodity, current: float) -> None:
    """Subscribers of 价格 who grow the crop get a 10% move alert unless they set their own."""
    wanting = await Subscriber.filter(sandbox.real(), status="active", topics__contains=",价格,",
                                      crops__contains=f",{commodity.name},").values_list("id", flat=True)
    have = set(await PriceAlert.filter(commodity_id=commodity.id, subscriber_id__in=wanting)
               .values_list("subscriber_id", flat=True))
    new = [PriceAlert(subscriber_id=s, commodity_id=commodity.id, kind="change", threshold=DEFAULT_CHANGE,
                      last_price=current) for s in wanting if s not in have]
    if new:
        await PriceAlert.bulk_create(new, ignore_conflicts=True)


def _crossed(alert: PriceAlert, price: float) -> bool:
    if alert.kind == "above":
        return price > alert.threshold
    if alert.kind == "below":
        return price < alert.threshold
    base = alert.last_price
    return bool(base) and abs(price - base) / base * 100 >= alert.threshold  # type: ignore[operator]


def _text(commodity: Commodity, alert: PriceAlert, price: float, market: str) -> str:
    unit = commodity.unit
    if alert.kind == "change":
        base = alert.last_price or price
        way = "涨" if price > base else "跌"
        return (f"价格提醒：{commodity.name}{way}到{price:.2f}{unit}（{market}），比上次提醒时的{base:.2f}"
                f"{way}了{abs(price - base) / base * 100:.0f}%。取消回复“取消提醒 {commodity.name}”。")
    word = "高于" if alert.kind == "above" else "低于"
    return (f"价格提醒：{commodity.name}今天{price:.2f}{unit}（{market}），已{word}您设的{alert.threshold:g}元。"
            f"取消回复“取消提醒 {commodity.name}”。")


async def evaluate(commodity_ids: set[int]) -> int:
    """Check every alert on these commodities against their newest published price. Returns how
    many alerts fired. One push per identical text, so a thousand default alerts make one broadcast."""
    fired = 0
    for commodity in await Commodity.filter(id__in=commodity_ids):
        newest = await PriceRecord.filter(commodity_id=commodity.id, status="published").order_by(
            "-date", "-updated_at").first()
        if newest is None:
            continue
        market = (await newest.market).name
        price = newest.price
        await _defaults(commodity, price)
        groups: dict[str, list[int]] = defaultdict(list)
        for alert in await PriceAlert.filter(commodity_id=commodity.id):
            crossed = _crossed(alert, price)
            if alert.kind == "change":
                if crossed:
                    groups[_text(commodity, alert, price, market)].append(alert.subscriber_id)
                    alert.last_price, alert.last_alert_at = price, datetime.now(UTC)
                    await alert.save(update_fields=["last_price", "last_alert_at"])
                    fired += 1
                continue
            if crossed and alert.armed:
                groups[_text(commodity, alert, price, market)].append(alert.subscriber_id)
                alert.armed, alert.last_price, alert.last_alert_at = False, price, datetime.now(UTC)
                await alert.save(update_fields=["armed", "last_price", "last_alert_at"])
                fired += 1
            elif not crossed and not alert.armed:
                alert.armed, alert.last_price = True, price  # fell back: the next crossing alerts again
                await alert.save(update_fields=["armed", "last_price"])
        for text, subscribers in groups.items():
            await push("price", text, subscribers)
    if fired:
        log.info("price alerts fired", extra={"alerts": fired})
    return fired
