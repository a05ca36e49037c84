"""What a commodity sells for: the newest price per market with the change against last week, the
week's line, and the one-line digest scheduled broadcasts quote."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

from bot.extend import MarketPrice
from bot.prices.models import Commodity, Market, PriceRecord

RECENT_DAYS = 14


@dataclass(frozen=True)
class Quote:
    market: str
    day: date
    price: float
    change: float | None  # against the same market about a week earlier


async def latest(commodity: Commodity, today: date, markets: int = 3) -> list[Quote]:
    """The newest published price per market within RECENT_DAYS (newest first)."""
    rows = await PriceRecord.filter(commodity_id=commodity.id, status="published",
                                    date__gte=today - timedelta(days=RECENT_DAYS)).order_by("-date", "id")
    seen: dict[int, PriceRecord] = {}
    for row in rows:
        seen.setdefault(row.market_id, row)
    quotes = []
    for row in list(seen.values())[:markets]:
        before = await PriceRecord.filter(commodity_id=commodity.id, market_id=row.market_id, status="published",
                                          date__lte=row.date - timedelta(days=6),
                                          date__gte=row.date - timedelta(days=10)).order_by("-date").first()
        market = await Market.get(id=row.market_id)
        quotes.append(Quote(market.name, row.date, row.price, None if before is None else row.price - before.price))
    return quotes


async def last_seen(commodity: Commodity) -> Quote | None:
    """The newest published price at all, however old (to say when data was last seen)."""
    newest = await PriceRecord.filter(commodity_id=commodity.id, status="published").order_by("-date").first()
    if newest is None:
        return None
    return Quote((await Market.get(id=newest.market_id)).name, newest.date, newest.price, None)


async def week_line(commodity: Commodity, market: str, today: date) -> str:
    rows = await PriceRecord.filter(commodity_id=commodity.id, market__name=market, status="published",
                                    date__gte=today - timedelta(days=6)).order_by("date")
    return "→".join(f"{r.price:g}" for r in rows)


async def market_price(name: str, today: date) -> MarketPrice | None:
    """The newest price of the commodity of this standard name within RECENT_DAYS (wholesale first)."""
    commodity = await Commodity.get_or_none(name=name)
    if commodity is None:
        return None
    found = await latest(commodity, today, markets=3)
    if not found:
        return None
    kinds = {m.name: m.kind for m in await Market.filter(name__in=[q.market for q in found])}
    best = min(found, key=lambda q: (kinds.get(q.market) != "批发", -q.day.toordinal()))
    return MarketPrice(best.market, best.price, commodity.unit, best.day)


def arrow(change: float | None) -> str:
    if change is None:
        return ""
    if abs(change) < 0.005:
        return "持平"
    return f"{'↑' if change > 0 else '↓'}{abs(change):.2f}"


async def digest(group: str, today: date) -> str:
    """One line of the newest prices for a commodity group ("" = every group), for scheduled digests;
    each price names its market, so a villager knows where it was paid: 柑橘2.40↑0.20（城关批发市场）."""
    query = Commodity.all().order_by("id")
    if group:
        query = query.filter(group=group)
    parts = []
    for commodity in await query:
        quotes = await latest(commodity, today, markets=1)
        if quotes:
            change = arrow(quotes[0].change)
            parts.append(f"{commodity.name}{quotes[0].price:.2f}{change}（{quotes[0].market}）")
    return "；".join(parts) + "。单位元/斤，涨跌对比上周" if parts else "近两周暂无价格"


async def week_changes(records: list[PriceRecord]) -> dict[int, float | None]:
    """record id -> change against the newest published price at the same market 6-10 days before
    (the comparison `latest` makes), read with one query."""
    if not records:
        return {}
    earliest = min(r.date for r in records) - timedelta(days=10)
    latest_day = max(r.date for r in records) - timedelta(days=6)
    older = await PriceRecord.filter(
        status="published", date__gte=earliest, date__lte=latest_day,
        commodity_id__in={r.commodity_id for r in records},
    ).order_by("date").values("commodity_id", "market_id", "date", "price")
    changes: dict[int, float | None] = {}
    for record in records:
        before = None
        for row in older:  # ordered by date: the last match is the newest
            if (row["commodity_id"] == record.commodity_id and row["market_id"] == record.market_id
                    and record.date - timedelta(days=10) <= row["date"] <= record.date - timedelta(days=6)):
                before = row["price"]
        changes[record.id] = None if before is None else record.price - before
    return changes
