"""What prices are about: the commodities (standard names, other names, units) and the markets."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

from bot.models import pack_set, unpack_set
from bot.prices.models import Commodity, Market
from bot.prices.rows import PriceError

COMMODITIES = Path(__file__).resolve().parents[2] / "content" / "dict" / "commodities.toml"
MARKET_KINDS = ("田头", "批发", "零售")


async def ensure_commodities(path: Path = COMMODITIES) -> None:
    """The bundled list, for a fresh database; officers' own additions are kept."""
    if await Commodity.exists():
        return
    data = tomllib.loads(await asyncio.to_thread(path.read_text, encoding="utf-8"))["commodities"]
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


async def find_commodity(text: str) -> Commodity | None:
    """The commodity a text names (the longest name or other name found in it)."""
    table = await name_table()
    for name in sorted(table, key=len, reverse=True):
        if name in text:
            return table[name]
    return None


async def named(names: list[str], limit: int) -> list[Commodity]:
    """The commodities of these standard names (a villager's crops), at most `limit`."""
    return (await Commodity.filter(name__in=names))[:limit] if names else []


async def add_market(name: str, kind: str = "批发", township: str = "", city: str = "") -> tuple[Market, bool]:
    """A collection point by name (kind 田头, 批发 or 零售); an existing one of that name is returned as is."""
    name = name.strip()
    if not name or kind not in MARKET_KINDS:
        raise PriceError("name required; kind one of 田头, 批发, 零售")
    return await Market.get_or_create(name=name[:50], defaults={
        "township": township.strip()[:50], "city": city.strip()[:50], "kind": kind})
