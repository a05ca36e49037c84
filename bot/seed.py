"""First start: put the bundled knowledge base, the features' demo data and demo villagers into an empty database."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from bot.config import Config
from bot.models import Subscriber, pack_set
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


# A feature's demo data (bot.prices: markets and a week of prices), given the config (None: no dated rows).
Seed = Callable[[Config | None], Awaitable[None]]
# Process-wide like broadcasts' placeholders: filled by each feature's setup(app), the same for every app.
_SEEDS: list[Seed] = []


def add_seed(seed: Seed) -> None:
    if seed not in _SEEDS:
        _SEEDS.append(seed)


async def seed_if_empty(config: Config | None = None) -> None:
    for seed in _SEEDS:  # each fills only what is still empty
        await seed(config)
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
