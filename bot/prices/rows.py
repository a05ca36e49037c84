"""Reading one price row (CSV line or JSON object): its fields, dates and units, each checked, so
a wrong row is refused with the field named; PriceError is that refusal."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

from bot.prices.models import Commodity
from content import tabular

# Jin (斤, 500 g) per unit: a price per unit divided by this is a price per jin.
PER_JIN = {"元/斤": 1.0, "元/500克": 1.0, "元/公斤": 2.0, "元/千克": 2.0, "元/kg": 2.0, "元/两": 0.1,
           "元/吨": 2000.0, "元/担": 100.0}
UNITS = (*PER_JIN, "元/个", "元/头", "元/只", "元/株")  # what parse_row accepts
MAX_PRICE = 5000.0  # yuan per jin: anything above is a typing mistake (天麻 and 茶叶 stay far below)
COLUMNS = ("date", "market", "commodity", "price", "unit", "source")
REQUIRED = COLUMNS[:5]
HEADER_ALIASES = {"日期": "date", "市场": "market", "市场名称": "market", "采集点": "market", "品名": "commodity",
                  "品种": "commodity", "商品": "commodity", "价格": "price", "单价": "price", "单位": "unit",
                  "来源": "source"}
# Field lengths (the columns of the tables the names are kept in): longer is refused, never cut.
LIMITS = {"date": 20, "market": 50, "commodity": 30, "price": 20, "unit": 20}


class PriceError(ValueError):
    """A row that cannot be stored; the message names the field."""


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
    if unit not in UNITS:
        raise PriceError(f"unit: unknown unit {row.get('unit')!r}")
    return day, market, commodity, price, unit


def read_sheet(data: bytes) -> tabular.Sheet:
    """A price file's bytes: rows of date,market,commodity,price,unit (plus optional source; Chinese
    headers too), numbered by file line, read as every import reads (content/tabular.py). The command
    line and the console's upload both read files here."""
    return tabular.read_csv(data, columns=COLUMNS, required=REQUIRED, aliases=HEADER_ALIASES)


def read_csv(path: Path) -> tuple[list[tuple[int, dict[str, Any]]], list[str]]:
    """read_sheet for a file on disk; the bad lines as "path:line: error"."""
    sheet = read_sheet(path.read_bytes())
    return [(line, dict(row)) for line, row in sheet.rows], [f"{path}:{e}" for e in sheet.errors]
