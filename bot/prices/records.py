"""Price records: store checked rows (units normalised, outliers held as suspect, unknown names kept
aside), confirm a suspect one, delete a wrong one."""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, cast

from tortoise.transactions import in_transaction

from bot.config import Config
from bot.prices.commodities import ensure_commodities, name_table
from bot.prices.models import Market, PriceRecord, UnmappedPrice
from bot.prices.rows import MAX_PRICE, PriceError, parse_row, to_standard

SUSPECT_FACTOR = 3.0
MEDIAN_DAYS = 30


@dataclass
class PriceReport:
    stored: int = 0
    updated: int = 0
    suspect: int = 0
    unmapped: int = 0
    errors: list[str] = field(default_factory=list)
    commodity_ids: set[int] = field(default_factory=set)  # with new published prices: check alerts

    def add(self, other: PriceReport) -> None:
        self.stored += other.stored
        self.updated += other.updated
        self.suspect += other.suspect
        self.unmapped += other.unmapped
        self.errors += other.errors
        self.commodity_ids |= other.commodity_ids


async def _median(commodity_id: int, day: date) -> float | None:
    prices = cast("list[float]", await PriceRecord.filter(
        commodity_id=commodity_id, status="published", date__gte=day - timedelta(days=MEDIAN_DAYS), date__lte=day
    ).values_list("price", flat=True))  # flat: one price per row, not a tuple
    return statistics.median(prices) if len(prices) >= 3 else None


async def store(rows: list[tuple[int, dict[str, Any]]], config: Config, *, source: str = "",
                recorded_by: str = "") -> PriceReport:
    """rows: (line or index, fields). Each row is validated and stored on its own: bad ones are
    reported, unknown names kept aside, duplicates (date, market, commodity) update the price."""
    await ensure_commodities()
    report = PriceReport()
    today = datetime.now(config.tz).date()
    names = await name_table()
    markets = {m.name: m for m in await Market.all()}
    for line, row in rows:
        try:
            day, market_name, commodity_name, raw_price, unit = parse_row(row, today)
            commodity = names.get(commodity_name)
            market = markets.get(market_name)
            if commodity is None or market is None:
                unknown = "commodity" if commodity is None else "market"
                await UnmappedPrice.create(date=day, market_name=market_name[:50], commodity_name=commodity_name[:30],
                                           raw_price=raw_price, raw_unit=unit, source=source[:100],
                                           reason=f"unknown {unknown}")
                report.unmapped += 1
                name = commodity_name if commodity is None else market_name
                report.errors.append(f"{line}: unknown {unknown} {name!r}, kept for an officer to map")
                continue
            price = round(to_standard(raw_price, unit, commodity), 4)
            if price > MAX_PRICE:
                raise PriceError(f"price: {raw_price} {unit} is {price:.0f} {commodity.unit}, not believable")
            median = await _median(commodity.id, day)
            suspect = median is not None and not median / SUSPECT_FACTOR <= price <= median * SUSPECT_FACTOR
            values: dict[str, Any] = {"price": price, "raw_price": raw_price, "raw_unit": unit, "source": source[:100],
                      "recorded_by": recorded_by[:50], "status": "suspect" if suspect else "published"}
            async with in_transaction():
                existing = await PriceRecord.get_or_none(date=day, market_id=market.id, commodity_id=commodity.id)
                if existing is None:
                    await PriceRecord.create(date=day, market=market, commodity=commodity, **values)
                    report.stored += 1
                else:
                    await PriceRecord.filter(id=existing.id).update(**values)
                    report.updated += 1
            if suspect:
                report.suspect += 1
                report.errors.append(f"{line}: {commodity.name} {price:.2f} is far from the 30-day median "
                                     f"{median:.2f}; held as suspect until an officer confirms it")
            else:
                report.commodity_ids.add(commodity.id)
        except PriceError as exc:
            report.errors.append(f"{line}: {exc}")
    return report


async def confirm(record_id: int) -> PriceRecord:
    """Publish a suspect price (the caller emits PRICES_STORED)."""
    record = await PriceRecord.get_or_none(id=record_id)
    if record is None:
        raise LookupError("no such price")
    if record.status != "suspect":
        raise PriceError(f"price is {record.status}, not suspect")
    record.status = "published"
    await record.save(update_fields=["status", "updated_at"])
    return record


async def delete(record_id: int) -> PriceRecord | None:
    """Delete a wrongly entered price; the record as it was (market and commodity loaded), or None."""
    record = await PriceRecord.get_or_none(id=record_id).prefetch_related("market", "commodity")
    if record is not None:
        await record.delete()
    return record


async def median_for(record: PriceRecord) -> float | None:
    """The 30-day median of published prices the record is judged against."""
    return await _median(record.commodity_id, record.date)


async def newest_price(commodity_id: int) -> float | None:
    """The newest published price of a commodity, if any."""
    last = await PriceRecord.filter(commodity_id=commodity_id, status="published").order_by("-date").first()
    return last.price if last else None
