"""WeChat overload benchmark: safe-mode (encrypted) text messages against a real `nongbot serve`
(SQLite, the bundled articles, every question answered through the whole pipeline) with the fake
WeChat from the test suite taking the customer-service messages, both on this machine.

First a closed loop (--concurrency clients) finds the saturation rate: the messages per second the
server answers. Then messages arrive at a fixed pace, 1x and 2x that rate, for --seconds each, every
one a question from a different follower. WeChat waits 5 s for an answer; nongbot must answer every
request within that, passively (the answer in the reply) or deferred ("success" at once, the answer
sent as a customer-service message). Printed per run: the machine and its load, requests, achieved
rate, p50/p99/max latency, responses over 5 s, deferred answers, errors, and how long the deferred
answers took to reach the fake WeChat.

Usage: python benchmarks/overload.py [--seconds 20] [--concurrency 32] [--rate R (skip the closed loop)]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.retrieval import machine  # noqa: E402
from tests.fakes.wechat import FakeWeChat, User  # noqa: E402

URL_PATH = "/webhooks/wechat"
WECHAT_GIVES_UP = 5.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(1200):
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("nongbot exited") from None
            time.sleep(0.05)
    raise RuntimeError("nongbot did not start")


class Load:
    """Requests built ahead (encrypting is the client's main cost), then sent and timed."""

    def __init__(self, base: str, fake: FakeWeChat, questions: list[str]) -> None:
        self.url = base + URL_PATH
        self.fake = fake
        self.questions = itertools.cycle(questions)
        self.users = itertools.count(1)

    def build(self, count: int) -> list[tuple[dict[str, str], bytes]]:
        out = []
        for _ in range(count):
            openid = f"oBench{next(self.users):022d}"
            xml = self.fake.text_xml(openid, next(self.questions))
            self.fake.users[openid] = User(last_message=time.time())  # they just wrote: the window is open
            query, body = self.fake.envelope(xml, "safe")
            out.append((query, body.encode()))
        return out

    async def one(self, session: aiohttp.ClientSession, request: tuple[dict[str, str], bytes],
                  results: list[tuple[float, str]]) -> None:
        query, body = request
        started = time.perf_counter()
        try:
            async with session.post(self.url, params=query, data=body,
                                    headers={"Content-Type": "text/xml"}) as resp:
                text = await resp.text()
                answered = "deferred" if text == "success" else "passive"
                outcome = answered if resp.status == 200 else f"http {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            outcome = type(exc).__name__
        results.append((time.perf_counter() - started, outcome))

    async def closed_loop(self, concurrency: int, seconds: float) -> dict[str, Any]:
        requests = self.build(int(concurrency * seconds * 150) + 1000)
        results: list[tuple[float, str]] = []
        deadline = time.perf_counter() + seconds
        feed = iter(requests)

        async def worker(session: aiohttp.ClientSession) -> None:
            while time.perf_counter() < deadline:
                await self.one(session, next(feed), results)

        started = time.perf_counter()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return summary(results, time.perf_counter() - started)

    async def paced(self, rate: float, seconds: float) -> dict[str, Any]:
        requests = self.build(int(rate * seconds))
        results: list[tuple[float, str]] = []
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
            tasks = []
            started = time.perf_counter()
            for i, request in enumerate(requests):
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(self.one(session, request, results)))
            await asyncio.gather(*tasks)
            elapsed = time.perf_counter() - started
        return summary(results, elapsed)


def summary(results: list[tuple[float, str]], elapsed: float) -> dict[str, Any]:
    latencies = sorted(r[0] for r in results)
    outcomes = [r[1] for r in results]
    n = len(latencies)
    by_kind = {kind: sorted(t for t, o in results if o == kind) for kind in ("passive", "deferred")}
    return {"requests": n, "rps": round(n / elapsed, 1),
            "p50_ms": round(latencies[n // 2] * 1000, 1),
            "p99_ms": round(latencies[int(0.99 * (n - 1))] * 1000, 1),
            "max_ms": round(latencies[-1] * 1000, 1),
            "over_5s": sum(1 for t in latencies if t > WECHAT_GIVES_UP),
            "passive": outcomes.count("passive"), "deferred": outcomes.count("deferred"),
            "errors": n - outcomes.count("passive") - outcomes.count("deferred"),
            **{f"{kind}_p50_ms": round(ts[len(ts) // 2] * 1000, 1) for kind, ts in by_kind.items() if ts}}


async def delivered(fake: FakeWeChat, expected: int, seconds: float = 300.0) -> float | None:
    """Seconds until the fake WeChat holds `expected` customer-service messages (None: not within)."""
    started = time.perf_counter()
    while len(fake.custom) < expected:
        if time.perf_counter() - started > seconds:
            return None
        await asyncio.sleep(0.1)
    return round(time.perf_counter() - started, 1)


async def run(args: argparse.Namespace) -> None:
    fake = FakeWeChat()
    fake_runner = web.AppRunner(fake.app(), access_log=None)
    await fake_runner.setup()
    fake_port = free_port()
    await web.TCPSite(fake_runner, "127.0.0.1", fake_port).start()
    questions = [json.loads(line)["q"] for line in (ROOT / "tests/data/queries.jsonl").read_text("utf-8").splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {**os.environ,
               # The engine without the optional meaning model (its cost is measured by benchmarks/answers.py).
               "NONGBOT_BOT_MEANING": "false", "NONGBOT_DATABASE_URL": f"sqlite://{tmp}/bench.sqlite3",
               "NONGBOT_SERVER_PORT": str(port), "NONGBOT_SERVER_PUBLIC_URL": f"http://127.0.0.1:{port}",
               "NONGBOT_SERVER_LOG_LEVEL": "warning", "NONGBOT_WECHAT_ENABLED": "true",
               "NONGBOT_WECHAT_APP_ID": fake.app_id, "NONGBOT_WECHAT_APP_SECRET": fake.app_secret,
               "NONGBOT_WECHAT_TOKEN": fake.token, "NONGBOT_WECHAT_ENCODING_AES_KEY": fake.aes_key,
               "NONGBOT_WECHAT_MODE": "safe", "NONGBOT_WECHAT_API_BASE": f"http://127.0.0.1:{fake_port}"}
        nongbot = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml"), "serve",
                                    "--seed"], env=env, cwd=tmp, stdout=subprocess.DEVNULL)
        try:
            await asyncio.to_thread(wait_healthy, port, nongbot)
            load = Load(f"http://127.0.0.1:{port}", fake, questions)
            await load.closed_loop(4, 2.0)  # warm-up
            if args.rate:
                rate = args.rate
            else:
                peak = await load.closed_loop(args.concurrency, args.seconds)
                print(json.dumps({"run": f"closed loop x{args.concurrency} (saturation)", **peak}), flush=True)
                rate = float(peak["passive"]) / args.seconds  # answered passively per second: the server's pace
            for factor in (1, 2):
                await delivered(fake, len(fake.custom) + 0)
                before = len(fake.custom)
                got = await load.paced(rate * factor, args.seconds)
                drain = await delivered(fake, before + got["deferred"])
                print(json.dumps({"run": f"{factor}x saturation, {rate * factor:.0f}/s for {args.seconds:.0f} s",
                                  **got, "deferred_delivered_after_s": drain,
                                  "load_avg": os.getloadavg()[0]}), flush=True)
        finally:
            nongbot.terminate()
            nongbot.wait(timeout=60)
            await fake_runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--rate", type=float, default=0.0, help="saturation rate to use instead of measuring it")
    args = parser.parse_args()
    print("machine:", machine(), "| load average before:", " ".join(f"{x:.2f}" for x in os.getloadavg()), flush=True)
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
