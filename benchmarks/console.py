"""Officer console benchmark: how fast the main pages and API answer over a county-sized database.

Seeds N villagers over 18 townships, N inbound + N outbound messages over the last two weeks, one
broadcast run with N deliveries, 2% of them open questions, N/10 answers the bot gave, and the bundled
articles; then logs in
over HTTP and times each page (sequential requests, the server in this process, like `serve --role web`).
The 首页 is first counted once (which stores the numbers of the days that can no longer change, as a
running server does once a day), then counted anew with the page cache emptied, against its budget.
Usage: python benchmarks/console.py [--villagers 100000] [--repeat 20] [--database URL]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
from aiohttp import web
from tortoise import connections

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.retrieval import machine  # noqa: E402
from benchmarks.webhooks import free_port  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.models import DashboardDay, Message, Officer, Subscriber  # noqa: E402
from bot.questions.models import Answer, Question  # noqa: E402
from bot.seed import seed_if_empty  # noqa: E402
from bot.web import dashboard, limits  # noqa: E402
from bot.web.auth import add_officer  # noqa: E402
from broadcasts.models import Broadcast, BroadcastRun, Delivery  # noqa: E402

TOWNSHIPS = ["城关镇", "土门镇", "上津镇", "店子镇", "夹河镇", "羊尾镇", "观音镇", "马安镇", "河夹镇",
             "香口乡", "六郎乡", "景阳乡", "关防乡", "湖北口回族乡", "安家乡", "涧池乡", "槐树林特场", "三官洞林区"]
CROPS = ["玉米", "马铃薯", "柑橘", "茶叶", "香菇", "生猪", "山羊"]
MESSAGE_LOG = "/admin/messages"
PAGES = ["/admin/", "/api/v1/stats", "/admin/subscribers", "/admin/subscribers?township=关防乡&crop=柑橘",
         "/admin/articles", "/admin/articles?mode=ask&q=苞谷叶子发黄咋办", "/admin/broadcasts",
         "/admin/broadcasts/1", "/admin/questions", "/admin/questions/gaps", "/admin/prices", "/admin/jobs",
         "/admin/audit", MESSAGE_LOG, "/admin/messages?status=failed", "/admin/messages?township=关防乡",
         "/admin/messages?direction=in&channel=sms", "/admin/messages?text=霜冻", "/admin/messages?run=1",
         "/admin/messages?subscriber=500", "/admin/answers", "/admin/channels"]
BUDGETS = {MESSAGE_LOG: 100.0}  # ms, p50: the message log's first page (issue 18)
COUNTS, COUNT_BUDGET = 7, 300.0  # the 首页 counted anew this often; its budget in ms (issue 21)
PASSWORD = "bench-password-1"


async def seed(n: int, config_tz: object) -> None:
    rng = random.Random(7)
    now = datetime.now(UTC)
    await Subscriber.bulk_create([Subscriber(
        phone=f"+86139{i:08d}", township=rng.choice(TOWNSHIPS), crops=f",{rng.choice(CROPS)},",
        preferred_channel="sms" if rng.random() < 0.8 else "wechat", wechat_openid=f"o{i:027d}",
        consent_source="bench") for i in range(n)], batch_size=2000)
    ids = list(await Subscriber.all().values_list("id", flat=True))
    messages = []
    for i in range(n):
        at = now - timedelta(minutes=rng.randrange(14 * 24 * 60))
        messages.append(Message(direction="in", channel="sms", provider="twilio", address=f"+86139{i:08d}",
                                subscriber_id=ids[i], body="苞谷叶子发黄咋办", status="received",
                                handler="search.answer_question", created_at=at))
        messages.append(Message(direction="out", channel="sms", provider="twilio", address=f"+86139{i:08d}",
                                subscriber_id=ids[i], body="回复", status=rng.choice(["sent", "delivered", "failed"]),
                                created_at=at))
    await Message.bulk_create(messages, batch_size=2000)
    officer = await Officer.get(name="bench")
    broadcast = await Broadcast.create(kind="tip", text="明早有霜冻，柑橘园请盖膜。", state="done",
                                       created_by=officer, audience={})
    run = await BroadcastRun.create(broadcast=broadcast, fire_at=now - timedelta(hours=2), state="done", targeted=n)
    await Delivery.bulk_create([Delivery(
        run=run, subscriber_id=sid, channel="sms", state=rng.choice(["sent", "delivered", "delivered", "failed"]),
        due_at=now - timedelta(hours=2), sent_at=now - timedelta(hours=1)) for sid in ids], batch_size=2000)
    spots = ["白斑", "黑点", "虫眼"]
    await Question.bulk_create([Question(
        subscriber_id=ids[i], channel="sms", text=f"{rng.choice(CROPS)}叶子上有{rng.choice(spots)}咋办",
        reason="no_match") for i in range(0, n, 50)], batch_size=2000)
    await Answer.bulk_create([Answer(  # the bot's answers for 回答复核, a tenth of the villagers
        subscriber_id=ids[i], channel="sms", question="苞谷叶子发黄咋办", article_ref="maize-yellow-leaves",
        title="玉米叶子发黄", score=rng.random(), rating=rng.choice(["", "", "useful", "wrong"]))
        for i in range(0, n, 10)], batch_size=2000)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--villagers", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--database", default="", help="default: a new SQLite file")
    args = parser.parse_args()
    url = args.database or f"sqlite://{tempfile.mkdtemp()}/bench.sqlite3"
    # Without the optional meaning model: embedding the articles in the background would share the CPU
    # with the pages timed here (benchmarks/answers.py measures what it costs and gives).
    config = load_config(ROOT / "config.toml", env={}).replace(database={"url": url}, sms={"quiet_hours": ""},
                                                                bot={"meaning": False})
    app = create_app(config, role="web", seed=True)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    base = f"http://127.0.0.1:{port}"
    try:
        await seed_if_empty(config)
        await add_officer("bench", "admin", PASSWORD)
        started = time.perf_counter()
        await seed(args.villagers, config.tz)
        if url.startswith("postgres"):  # what autovacuum would soon do after such a bulk load
            await connections.get("default").execute_script("ANALYZE")
        print(f"{machine()}\ndatabase {url.split('://')[0]}, {args.villagers:,} villagers, "
              f"{2 * args.villagers:,} messages, {args.villagers:,} deliveries; "
              f"seeded in {time.perf_counter() - started:.1f} s\n")
        async with aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
            form = await (await session.get("/admin/login")).text()
            token = re.search(r'name="_csrf" value="([^"]+)"', form)
            assert token is not None
            login = await session.post("/admin/login",
                                       data={"_csrf": token.group(1), "name": "bench", "password": PASSWORD})
            assert login.status == 200 and "/admin/" in str(login.url), login.status
            cold = []
            await DashboardDay.all().delete()  # as before the first count of a new server (the login counted)
            for _ in range(1 + COUNTS):  # the 首页 counts anew at most every dashboard.STATS_SECONDS
                app[dashboard.STATS]["value"] = None
                t = time.perf_counter()
                async with session.get("/admin/") as response:
                    assert response.status == 200
                    await response.read()
                cold.append((time.perf_counter() - t) * 1000)
            first, cold = cold[0], sorted(cold[1:])
            print(f"/admin/ first count, no day stored yet (stores the settled days' numbers): {first:.0f} ms")
            print(f"/admin/ counted anew (not cached): median {statistics.median(cold):.0f} ms of {COUNTS}, "
                  f"range {cold[0]:.0f}–{cold[-1]:.0f} ms  (budget {COUNT_BUDGET:.0f} ms: "
                  f"{'ok' if statistics.median(cold) < COUNT_BUDGET else 'OVER'})\n")
            print(f"{'page':<50} {'p50 ms':>8} {'p95 ms':>8} {'max ms':>8} {'KiB':>6}")
            for page in PAGES:
                times, size = [], 0
                # List pages allow an officer 60 a minute (bot/web/limits.py): timed here, not throttled.
                app[limits.LIMITS].searches.clear(await Officer.get(name="bench").values_list("id", flat=True))
                for _ in range(args.repeat):
                    t = time.perf_counter()
                    async with session.get(page) as response:
                        body = await response.read()
                        assert response.status == 200, (page, response.status)
                    times.append((time.perf_counter() - t) * 1000)
                    size = len(body)
                times.sort()
                p95 = times[min(len(times) - 1, int(len(times) * 0.95))]
                p50 = statistics.median(times)
                budget = f"  (budget {BUDGETS[page]:.0f} ms: {'ok' if p50 < BUDGETS[page] else 'OVER'})" if (
                    page in BUDGETS) else ""
                print(f"{page:<50} {p50:8.1f} {p95:8.1f} {times[-1]:8.1f} {size / 1024:6.0f}{budget}")
    finally:
        await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
