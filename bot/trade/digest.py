"""The weekly 收购信息 digest: open buy listings by commodity, for the {收购信息} placeholder of a
broadcast officers write and a supervisor approves like any other (no phones in it)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

from bot.trade.models import TradeListing
from bot.trade.parse import amount


async def open_buys(group: str, today: date) -> str:
    """'核桃：3家收，共1500斤，出价10-12元/斤（城关镇、关防乡）；…' ('' arg: every commodity; else one)."""
    query = TradeListing.filter(side="buy", state="open", expires_on__gte=today)
    if group:
        query = query.filter(commodity=group)
    rows = await query.order_by("commodity", "id").values("commodity", "quantity", "unit", "price", "price_unit",
                                                          "township")
    by_goods: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_goods[row["commodity"]].append(row)
    parts = []
    for commodity, found in by_goods.items():
        units = {str(r["unit"]) for r in found}
        total = sum(float(r["quantity"]) for r in found if r["quantity"])
        text = f"{commodity}：{len(found)}家收"
        if total and len(units) == 1:
            text += f"，共{amount(total)}{units.pop()}"
        prices = sorted(float(r["price"]) for r in found if r["price"] is not None)
        if prices:
            span = amount(prices[0]) if prices[0] == prices[-1] else f"{amount(prices[0])}-{amount(prices[-1])}"
            text += f"，出价{span}元/{found[0]['price_unit'] or found[0]['unit']}"
        towns = list(dict.fromkeys(str(r["township"]) for r in found if r["township"]))[:3]
        if towns:
            text += f"（{'、'.join(towns)}）"
        parts.append(text)
    if not parts:
        return "本周暂无收购信息"
    return "；".join(parts) + "。想卖请回复“卖 品种 数量 价格”"
