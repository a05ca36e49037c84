"""Prices held under a name nobody knows yet: grouped for an officer, mapped to an existing commodity
or market (optionally remembered as another name), or dropped."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.fields import CharField
from tortoise.models import Model

from bot.config import Config
from bot.models import pack_set, unpack_set
from bot.prices.models import Commodity, Market, UnmappedPrice
from bot.prices.records import PriceReport, store
from bot.prices.rows import PriceError

UNMAPPED_KINDS = ("commodity", "market")


def column_length(model: type[Model], name: str) -> int:
    """How long a text column is: a longer name cannot be stored in it, so it is not looked for."""
    column = model._meta.fields_map[name]
    assert isinstance(column, CharField)
    return int(column.max_length)


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


async def is_held(kind: str, name: str) -> bool:
    """Whether open prices wait under this unknown name."""
    return bool(await _held(kind, name))


async def _held(kind: str, name: str) -> list[UnmappedPrice]:
    if kind not in UNMAPPED_KINDS:
        raise PriceError("kind: expected commodity or market")
    if len(name) > column_length(UnmappedPrice, f"{kind}_name"):
        return []  # longer than any name that can be held
    return [r for r in await UnmappedPrice.filter(status="open", **{f"{kind}_name": name}).order_by("id")
            if _unknown(r) == kind]


async def _remember(commodity: Commodity, name: str) -> None:
    """Recognise `name` as another name of the commodity from now on."""
    aliases = pack_set([*unpack_set(commodity.aliases), name])
    if len(aliases) > 300:
        raise PriceError(f"{commodity.name} has too many other names to add {name!r}")
    commodity.aliases = aliases
    await commodity.save(update_fields=["aliases"])


async def map_held(kind: str, name: str, target: str, config: Config, *, save_alias: bool = False,
                   recorded_by: str = "") -> PriceReport:
    """Store the prices held under an unknown commodity or market `name` as the existing `target`;
    with save_alias (commodities only) the name is recognised from now on. Rows that store (or are
    held again for the other unknown name) are marked mapped; rows still refused stay open.
    The caller emits PRICES_STORED with report.commodity_ids."""
    rows = await _held(kind, name)
    if not rows:
        raise LookupError(f"no open prices held under {name!r}")
    if kind == "commodity":
        fits = len(target) <= column_length(Commodity, "name")
        commodity = await Commodity.get_or_none(name=target) if fits else None
        if commodity is None:
            raise PriceError(f"unknown commodity {target!r}")
        if save_alias and name != commodity.name:
            await _remember(commodity, name)
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
        total.add(report)
    return total


async def drop_held(kind: str, name: str) -> int:
    """Give up on the prices held under an unknown name (a typing mistake, a market we do not follow)."""
    ids = [r.id for r in await _held(kind, name)]
    return await UnmappedPrice.filter(id__in=ids).update(status="dropped") if ids else 0
