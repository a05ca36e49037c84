"""Demo data for a first start (bot/seed.py): the commodities, four markets and a week of prices."""

from __future__ import annotations

from datetime import datetime, timedelta

from bot.config import Config
from bot.prices.commodities import ensure_commodities
from bot.prices.models import Commodity, Market, PriceRecord

DEMO_MARKETS = [
    ("城关镇农贸市场", "城关镇", "郧西县", "零售"), ("上津镇集贸市场", "上津镇", "郧西县", "零售"),
    ("关防乡收购点", "关防乡", "郧西县", "田头"), ("十堰农产品批发市场", "", "十堰市", "批发"),
]


# Demo prices for the last eight days: (commodity, market, price on day 0, daily step).
DEMO_PRICES = [("柑橘", "十堰农产品批发市场", 2.2, 0.03), ("柑橘", "关防乡收购点", 1.6, 0.02),
               ("马铃薯", "城关镇农贸市场", 1.3, -0.01), ("生猪", "十堰农产品批发市场", 7.4, 0.05)]


async def seed(config: Config | None) -> None:
    await ensure_commodities()
    if not await Market.exists():
        for name, township, city, kind in DEMO_MARKETS:
            await Market.create(name=name, township=township, city=city, kind=kind)
    if config is not None and not await PriceRecord.exists():
        today = datetime.now(config.tz).date()
        for commodity, market, start, step in DEMO_PRICES:
            c, m = await Commodity.get(name=commodity), await Market.get(name=market)
            for day in range(8):
                price = round(start + step * day, 2)
                await PriceRecord.create(date=today - timedelta(days=7 - day), market=m, commodity=c, price=price,
                                         raw_price=price, raw_unit="元/斤", source="演示数据")
