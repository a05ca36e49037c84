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
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.retrieval import machine  # noqa: E402
from benchmarks.servers import WeChatLoad, free_port, questions, server_env, wait_healthy, wechat_env  # noqa: E402
from tests.fakes.wechat import FakeWeChat  # noqa: E402


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
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = server_env(tmp, port) | wechat_env(fake, fake_port)
        nongbot = subprocess.Popen([sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml"), "serve",
                                    "--seed"], env=env, cwd=tmp, stdout=subprocess.DEVNULL)
        try:
            await asyncio.to_thread(wait_healthy, port, nongbot)
            load = WeChatLoad(f"http://127.0.0.1:{port}", fake, questions())
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
