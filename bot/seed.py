"""First start: put the bundled knowledge base, demo markets, prices and villagers into an empty database."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from bot.config import Config
from bot.models import Subscriber, pack_set
from bot.prices.models import Commodity, Market, PriceRecord
from bot.prices.commodities import ensure_commodities
from content import importer
from content.loader import BUNDLED, read_path
from content.models import Article

log = logging.getLogger("nongbot.seed")

# Demo villagers on numbers of the 170 virtual-operator range, printed by the log provider only.
DEMO_SUBSCRIBERS = [
    ("+8617000000001", "张大山", "关防乡", "东川村", ["柑橘", "茶叶"], ["技术", "价格"]),
    ("+8617000000002", "李秀英", "上津镇", "津城村", ["马铃薯", "玉米"], ["技术"]),
    ("+8617000000003", "王建国", "涧池乡", "下营村", ["生猪", "玉米"], ["技术", "价格"]),
    ("+8617000000004", "刘桂兰", "马安镇", "马安村", ["香菇", "木耳"], ["技术"]),
    ("+8617000000005", "陈小军", "城关镇", "龙潭村", [], ["务工"]),
    ("+8617000000006", "赵红梅", "夹河镇", "夹河村", ["山羊", "黄牛"], ["技术", "价格"]),
]


DEMO_MARKETS = [
    ("城关镇农贸市场", "城关镇", "郧西县", "零售"), ("上津镇集贸市场", "上津镇", "郧西县", "零售"),
    ("关防乡收购点", "关防乡", "郧西县", "田头"), ("十堰农产品批发市场", "", "十堰市", "批发"),
]


# Demo prices for the last eight days: (commodity, market, price on day 0, daily step).
DEMO_PRICES = [("柑橘", "十堰农产品批发市场", 2.2, 0.03), ("柑橘", "关防乡收购点", 1.6, 0.02),
               ("马铃薯", "城关镇农贸市场", 1.3, -0.01), ("生猪", "十堰农产品批发市场", 7.4, 0.05)]


async def seed_if_empty(config: Config | None = None) -> None:
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
    if not await Article.exists():
        report = read_path(BUNDLED)
        counts = await importer.upsert(report.articles)
        log.info("loaded the bundled knowledge base", extra={"articles": counts.created})
        for error in report.errors:
            log.warning("bundled article skipped: %s", error)
    if not await Subscriber.exists():
        for phone, name, township, village, crops, topics in DEMO_SUBSCRIBERS:
            await Subscriber.create(
                phone=phone, name=name, township=township, village=village, crops=pack_set(crops),
                topics=pack_set(topics), consent_source="demo",
            )
        log.info("added demo subscribers", extra={"subscribers": len(DEMO_SUBSCRIBERS)})
