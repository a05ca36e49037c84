"""Market prices: validate and store rows (units normalised, outliers held as suspect, unknown names
kept aside), and answer what a commodity sells for where, with the change against last week."""

from __future__ import annotations

import statistics
import tomllib
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

from tortoise.transactions import in_transaction

from bot.config import Config
from bot.models import pack_set, unpack_set
from bot.prices.models import Commodity, Market, PriceRecord, UnmappedPrice
from content import tabular

COMMODITIES = Path(__file__).resolve().parents[2] / "content" / "dict" / "commodities.toml"
# Jin (斤, 500 g) per unit: a price per unit divided by this is a price per jin.
PER_JIN = {"元/斤": 1.0, "元/500克": 1.0, "元/公斤": 2.0, "元/千克": 2.0, "元/kg": 2.0, "元/两": 0.1,
           "元/吨": 2000.0, "元/担": 100.0}
MAX_PRICE = 5000.0  # yuan per jin: anything above is a typing mistake (天麻 and 茶叶 stay far below)
SUSPECT_FACTOR = 3.0
MEDIAN_DAYS = 30
RECENT_DAYS = 14
COLUMNS = ("date", "market", "commodity", "price", "unit", "source")
REQUIRED = COLUMNS[:5]
HEADER_ALIASES = {"日期": "date", "市场": "market", "市场名称": "market", "采集点": "market", "品名": "commodity",
                  "品种": "commodity", "商品": "commodity", "价格": "price", "单价": "price", "单位": "unit",
                  "来源": "source"}
# Field lengths (the columns of the tables the names are kept in): longer is refused, never cut.
LIMITS = {"date": 20, "market": 50, "commodity": 30, "price": 20, "unit": 20}


class PriceError(ValueError):
    """A row that cannot be stored; the message names the field."""


@dataclass
class PriceReport:
    stored: int = 0
    updated: int = 0
    suspect: int = 0
    unmapped: int = 0
    errors: list[str] = field(default_factory=list)
    commodity_ids: set[int] = field(default_factory=set)  # with new published prices: check alerts


async def ensure_commodities(path: Path = COMMODITIES) -> None:
    """The bundled list, for a fresh database; officers' own additions are kept."""
    if await Commodity.exists():
        return
    data = tomllib.loads(path.read_text(encoding="utf-8"))["commodities"]
    await Commodity.bulk_create([
        Commodity(name=name, unit=spec["unit"], group=spec["group"], aliases=pack_set(spec["aliases"]))
        for name, spec in data.items()
    ])


async def name_table() -> dict[str, Commodity]:
    """Every name a commodity goes by -> the commodity (standard names win over aliases)."""
    table: dict[str, Commodity] = {}
    commodities = await Commodity.all()
    for c in commodities:
        for alias in unpack_set(c.aliases):
            table.setdefault(alias, c)
    for c in commodities:
        table[c.name] = c
    return table


def normalise_unit(raw: str) -> str:
    unit = raw.strip().replace(" ", "").replace("／", "/").replace("KG", "kg").replace("Kg", "kg")
    return unit if unit.startswith("元") else f"元/{unit}" if unit else ""


def to_standard(price: float, unit: str, commodity: Commodity) -> float:
    if unit == commodity.unit:
        return price
    if unit in PER_JIN and commodity.unit in PER_JIN:
        return price / PER_JIN[unit] * PER_JIN[commodity.unit]
    raise PriceError(f"unit: {unit!r} cannot be compared with {commodity.unit} (known: {', '.join(PER_JIN)})")


def _field(row: dict[str, Any], name: str) -> str:
    try:
        return tabular.text_value(row.get(name), name, LIMITS[name])
    except tabular.FieldError as exc:  # a list where text belongs, or too long
        raise PriceError(str(exc)) from None


def parse_row(row: dict[str, Any], today: date) -> tuple[date, str, str, float, str]:
    """One CSV row or JSON object (the API's) -> date, market, commodity, price, unit; PriceError names
    the field that is wrong."""
    try:
        day = date.fromisoformat(_field(row, "date"))
    except ValueError:
        raise PriceError(f"date: expected YYYY-MM-DD, got {row.get('date')!r}") from None
    if day > today:
        raise PriceError(f"date: {day} is in the future")
    if day < today - timedelta(days=366):
        raise PriceError(f"date: {day} is more than a year ago")
    market = _field(row, "market")
    commodity = _field(row, "commodity")
    if not market or not commodity:
        raise PriceError("market and commodity: both required")
    try:
        price = float(_field(row, "price"))
    except ValueError:  # PriceError too: a list, true/false, 20 characters and more
        raise PriceError(f"price: expected a number, got {repr(row.get('price'))[:40]}") from None
    if not 0 < price < 1e7:
        raise PriceError(f"price: {price} is not a price")
    unit = normalise_unit(_field(row, "unit"))
    if unit not in PER_JIN and unit not in {"元/个", "元/头", "元/只", "元/株"}:
        raise PriceError(f"unit: unknown unit {row.get('unit')!r}")
    return day, market, commodity, price, unit


async def _median(commodity_id: int, day: date) -> float | None:
    prices = await PriceRecord.filter(
        commodity_id=commodity_id, status="published", date__gte=day - timedelta(days=MEDIAN_DAYS), date__lte=day
    ).values_list("price", flat=True)
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
                report.errors.append(f"{line}: unknown {unknown} "
                                     f"{commodity_name if commodity is None else market_name!r}, kept for an officer to map")
                continue
            price = round(to_standard(raw_price, unit, commodity), 4)
            if price > MAX_PRICE:
                raise PriceError(f"price: {raw_price} {unit} is {price:.0f} {commodity.unit}, not believable")
            median = await _median(commodity.id, day)
            suspect = median is not None and not median / SUSPECT_FACTOR <= price <= median * SUSPECT_FACTOR
            values = {"price": price, "raw_price": raw_price, "raw_unit": unit, "source": source[:100],
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


def read_csv(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """Rows of date,market,commodity,price,unit (plus optional source; Chinese headers too), numbered
    by file line, read as every import reads (content/tabular.py); the bad lines as "path:line: error"."""
    sheet = tabular.read_csv(path.read_bytes(), columns=COLUMNS, required=REQUIRED, aliases=HEADER_ALIASES)
    return [(line, dict(row)) for line, row in sheet.rows], [f"{path}:{e}" for e in sheet.errors]


@dataclass(frozen=True)
class Quote:
    market: str
    day: date
    price: float
    change: float | None  # against the same market about a week earlier


async def latest(commodity: Commodity, today: date, markets: int = 3) -> tuple[list[Quote], PriceRecord | None]:
    """The newest published price per market within RECENT_DAYS (newest first), and the newest
    record at all (to say when data was last seen)."""
    newest = await PriceRecord.filter(commodity_id=commodity.id, status="published").order_by("-date").first()
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
    return quotes, newest


async def week_line(commodity: Commodity, market: str, today: date) -> str:
    rows = await PriceRecord.filter(commodity_id=commodity.id, market__name=market, status="published",
                                    date__gte=today - timedelta(days=6)).order_by("date")
    return "→".join(f"{r.price:g}" for r in rows)


def arrow(change: float | None) -> str:
    if change is None:
        return ""
    if abs(change) < 0.005:
        return "持平"
    return f"{'↑' if change > 0 else '↓'}{abs(change):.2f}"


async def digest(group: str, today: date) -> str:
    """One line of the newest prices for a commodity group ("" = every group), for scheduled digests."""
    query = Commodity.all().order_by("id")
    if group:
        query = query.filter(group=group)
    parts = []
    for commodity in await query:
        quotes, _ = await latest(commodity, today, markets=1)
        if quotes:
            change = arrow(quotes[0].change)
            parts.append(f"{commodity.name}{quotes[0].price:.2f}{change}")
    return "；".join(parts) + "（元/斤，对比上周）" if parts else "近两周暂无价格"


# --- Console services: confirm or delete a record, map held names, add a market ----------------

UNITS = (*PER_JIN, "元/个", "元/头", "元/只", "元/株")  # what parse_row accepts
MARKET_KINDS = ("田头", "批发", "零售")
UNMAPPED_KINDS = ("commodity", "market")


async def add_market(name: str, kind: str = "批发", township: str = "", city: str = "") -> tuple[Market, bool]:
    """A collection point by name (kind 田头, 批发 or 零售); an existing one of that name is returned as is."""
    name = name.strip()
    if not name or kind not in MARKET_KINDS:
        raise PriceError("name required; kind one of 田头, 批发, 零售")
    return await Market.get_or_create(name=name[:50], defaults={
        "township": township.strip()[:50], "city": city.strip()[:50], "kind": kind})


async def confirm(record_id: int) -> PriceRecord:
    """Publish a suspect price (the caller notifies the price listeners)."""
    record = await PriceRecord.get_or_none(id=record_id)
    if record is None:
        raise LookupError("no such price")
    if record.status != "suspect":
        raise PriceError(f"price is {record.status}, not suspect")
    record.status = "published"
    await record.save(update_fields=["status", "updated_at"])
    return record


async def median_for(record: PriceRecord) -> float | None:
    """The 30-day median of published prices the record is judged against."""
    return await _median(record.commodity_id, record.date)


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


@dataclass
class HeldName:
    """Open unmapped rows sharing one unknown commodity or market name."""

    kind: str  # commodity | market
    name: str
    rows: list[UnmappedPrice]


def _unknown(row: UnmappedPrice) -> str:
    return "market" if row.reason == "unknown market" else "commodity"


async def held_names() -> list[HeldName]:
    """Open unmapped prices grouped by the unknown name, the most rows first."""
    groups: dict[tuple[str, str], HeldName] = {}
    for row in await UnmappedPrice.filter(status="open").order_by("-date", "id"):
        kind = _unknown(row)
        name = row.market_name if kind == "market" else row.commodity_name
        groups.setdefault((kind, name), HeldName(kind, name, [])).rows.append(row)
    return sorted(groups.values(), key=lambda g: (-len(g.rows), g.kind, g.name))


async def _held(kind: str, name: str) -> list[UnmappedPrice]:
    if kind not in UNMAPPED_KINDS:
        raise PriceError("kind: expected commodity or market")
    if len(name) > UnmappedPrice._meta.fields_map[f"{kind}_name"].max_length:
        return []  # longer than any name that can be held
    return [r for r in await UnmappedPrice.filter(status="open", **{f"{kind}_name": name}).order_by("id")
            if _unknown(r) == kind]


async def map_held(kind: str, name: str, target: str, config: Config, *, save_alias: bool = False,
                   recorded_by: str = "") -> PriceReport:
    """Store the prices held under an unknown commodity or market `name` as the existing `target`;
    with save_alias (commodities only) the name is recognised from now on. Rows that store (or are
    held again for the other unknown name) are marked mapped; rows still refused stay open.
    The caller notifies the price listeners with report.commodity_ids."""
    rows = await _held(kind, name)
    if not rows:
        raise LookupError(f"no open prices held under {name!r}")
    if kind == "commodity":
        fits = len(target) <= Commodity._meta.fields_map["name"].max_length
        commodity = await Commodity.get_or_none(name=target) if fits else None
        if commodity is None:
            raise PriceError(f"unknown commodity {target!r}")
        if save_alias and name != commodity.name:
            aliases = pack_set([*unpack_set(commodity.aliases), name])
            if len(aliases) > 300:
                raise PriceError(f"{commodity.name} has too many other names to add {name!r}")
            commodity.aliases = aliases
            await commodity.save(update_fields=["aliases"])
    elif save_alias:
        raise PriceError("market names cannot be saved as aliases; add the market instead")
    elif not await Market.exists(name=target):
        raise PriceError(f"unknown market {target!r}")
    total = PriceReport()
    for row in rows:
        values = {"date": row.date.isoformat(), "price": row.raw_price, "unit": row.raw_unit,
                  "market": target if kind == "market" else row.market_name,
                  "commodity": target if kind == "commodity" else row.commodity_name}
        report = await store([(row.id, values)], config, source=row.source, recorded_by=recorded_by)
        if report.stored or report.updated or report.unmapped:
            row.status = "mapped"
            await row.save(update_fields=["status"])
        total.stored += report.stored
        total.updated += report.updated
        total.suspect += report.suspect
        total.unmapped += report.unmapped
        total.errors += report.errors
        total.commodity_ids |= report.commodity_ids
    return total


async def drop_held(kind: str, name: str) -> int:
    """Give up on the prices held under an unknown name (a typing mistake, a market we do not follow)."""
    ids = [r.id for r in await _held(kind, name)]
    return await UnmappedPrice.filter(id__in=ids).update(status="dropped") if ids else 0
