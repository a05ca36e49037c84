"""供求 matching benchmark: 10,000 open listings (sell and buy, 20 commodities, 15 townships, 4,000
villagers) in a fresh database, then one matching pass as the periodic job runs it: read the listings
and earlier matches, score the pairs, choose within everyone's limits, write the matches and push the
proposals (Broadcast rows for the delivery engine). Target: one pass under 5 s. Prints the times, the
peak RSS and the machine.
Usage: python benchmarks/matching.py [--listings 10000] [--database sqlite://… | postgres://…]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import resource
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path

from aiohttp import web
from tortoise import connections

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.retrieval import machine  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.db import database  # noqa: E402
from bot.extend import MARKET_PRICE, MarketPrice, provide  # noqa: E402
from bot.keys import CONFIG  # noqa: E402
from bot.models import Subscriber  # noqa: E402
from bot.trade import jobs, matching  # noqa: E402
from bot.trade.models import TradeListing, TradeMatch  # noqa: E402
from bot.trade.parse import words  # noqa: E402
from broadcasts.models import Broadcast  # noqa: E402

TOWNSHIPS = [f"{name}镇" for name in ("城关", "关防", "夹河", "羊尾", "观音", "马安", "河夹", "土门", "上津",
                                         "店子", "湖北口", "景阳", "六郎", "三官", "安家")]


async def fill(count: int, today: date) -> None:
    rng = random.Random(19)
    goods = sorted({g.name: g for g in words().names.values()}.values(), key=lambda g: g.name)[:20]
    people = max(count * 2 // 5, 1)
    await Subscriber.bulk_create([Subscriber(phone=f"+86139{i:08d}", township=rng.choice(TOWNSHIPS),
                                             village=f"{rng.randint(1, 12)}村") for i in range(people)], batch_size=1000)
    ids = [s["id"] for s in await Subscriber.all().values("id", "township", "village")]
    rows = []
    numbers: dict[int, int] = {}
    for _ in range(count):
        owner = rng.choice(ids)
        numbers[owner] = numbers.get(owner, 0) + 1
        item = rng.choice(goods)
        base = rng.uniform(1, 20)
        side = "sell" if rng.random() < 0.6 else "buy"
        rows.append(TradeListing(
            subscriber_id=owner, number=numbers[owner], side=side, commodity=item.name,
            quantity=float(rng.choice((50, 100, 200, 500, 1000, 2000, 5000))), unit=item.unit,
            price=round(base * (1.05 if side == "sell" else 1.0), 2) if rng.random() < 0.8 else None,
            price_unit=item.unit, township=rng.choice(TOWNSHIPS), village=f"{rng.randint(1, 12)}村",
            contact=f"+86139{owner:08d}", state="open", expires_on=today + timedelta(days=rng.randint(1, 7)),
            created_on=today - timedelta(days=rng.randint(0, 6))))
    await TradeListing.bulk_create(rows, batch_size=1000)


async def run(url: str, count: int) -> None:
    config = load_config(ROOT / "config.toml", env={}).replace(database={"url": url})
    app = web.Application()
    app[CONFIG] = config
    today = datetime.now(config.tz).date()

    async def market(name: str, day: date) -> MarketPrice:
        return MarketPrice("十堰批发", 8.0, "元/斤", day)

    provide(app, MARKET_PRICE, market)
    async with database(url):
        started = time.perf_counter()
        await fill(count, today)
        if url.startswith("postgres"):
            # What autovacuum does soon after a bulk load on a live server; without table statistics the
            # planner joins listings to villagers with a nested loop (3.5 s instead of 0.15 s here).
            await connections.get("default").execute_script("ANALYZE")
        print(f"listings: {await TradeListing.filter(state='open').count()} open, "
              f"{await Subscriber.all().count()} villagers (filled in {time.perf_counter() - started:.1f} s)")
        started = time.perf_counter()
        pairs = await matching.find_pairs(today, config.trade, jobs.market_lookup(app, today))
        choose = time.perf_counter() - started
        started = time.perf_counter()
        made = await jobs.match_pass(app)
        whole = time.perf_counter() - started
        pushes = await Broadcast.filter(kind="trade").count()
        started = time.perf_counter()
        again = await jobs.match_pass(app)  # the next round: everyone has had today's proposals
        second = time.perf_counter() - started
        print(f"choosing pairs (read + score, nothing written): {choose:.2f} s, {len(pairs)} pairs")
        print(f"one matching pass (read, score, write {len(made)} matches, {pushes} pushes): {whole:.2f} s "
              f"{'(under 5 s)' if whole < 5 else '(OVER the 5 s target)'}")
        print(f"the next pass the same day ({len(again)} new): {second:.2f} s")
        scores = sorted(m.score for m in await TradeMatch.all())
        if scores:
            print(f"scores: lowest {scores[0]}, median {scores[len(scores) // 2]}, highest {scores[-1]}")
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS: {rss:.0f} MB")
    print(f"machine: {machine()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--listings", type=int, default=10_000)
    parser.add_argument("--database", default="", help="default: a fresh SQLite file in a temporary folder")
    args = parser.parse_args()
    if args.database:
        asyncio.run(run(args.database, args.listings))
        return
    with tempfile.TemporaryDirectory() as folder:
        asyncio.run(run(f"sqlite://{folder}/bench.sqlite3", args.listings))


if __name__ == "__main__":
    main()
