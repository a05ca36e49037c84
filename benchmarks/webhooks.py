"""Inbound webhook benchmark: signed Twilio SMS with distinct MessageSids, and WeChat safe-mode (encrypted)
texts, against a running `nongbot serve` (SQLite, bundled articles, every text answered through the whole
pipeline), next to a bare aiohttp endpoint returning fixed TwiML, each server in its own process on this
machine, in the same run.

Prints, for SMS: a paced run at --rate requests/s (achieved rate, p50/p99 latency) and a closed-loop run
with --concurrency clients, for nongbot and for bare aiohttp (the limit), then the ratio of nongbot's
closed-loop throughput to bare aiohttp's (issue 21 wants at least 0.5) and the ratio of their CPU per
request. For WeChat safe mode: a paced run at --rate (issue 21: p99 < 50 ms), the saturation rate (closed
loop, --wechat-concurrency clients) and a paced run at 2x that rate (no response may take 5 s: WeChat gives
up then). Before the load: the SQL statements the server runs per inbound text (tortoise.db_client at
DEBUG, counted in the server), for a first text from a number and for a villager who texted before.
--profile PATH runs cProfile in the server during its SMS closed loop only (written to PATH) and prints
its top frames.
Usage: python benchmarks/webhooks.py [--rate 200] [--seconds 10] [--concurrency 16] [--profile PATH]
                                     [--no-wechat]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import random
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.retrieval import machine  # noqa: E402
from benchmarks.servers import (  # noqa: E402  (free_port, wait_healthy: also benchmarks/broadcast.py's)
    WeChatLoad,
    at_pace,
    free_port,
    questions,
    server_env,
    wait_healthy,
    wechat_env,
)
from tests.fakes.twilio import FakeTwilio  # noqa: E402
from tests.fakes.wechat import FakeWeChat  # noqa: E402

COUNT = signal.SIGUSR1  # the server counts SQL statements between two of these
PROFILE = signal.SIGUSR2  # the server runs cProfile between two of these

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>收到</Message></Response>'


def bare_server(port: int) -> None:
    async def reply(request: web.Request) -> web.Response:
        await request.post()
        return web.Response(text=TWIML, content_type="text/xml")

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response({"status": "ok"})

    app = web.Application()
    app.router.add_post("/webhooks/twilio/sms", reply)
    app.router.add_get("/healthz", healthz)
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


class Load:
    """Each request from a new number (a first text, the dearest case), or from one of `phones`."""

    def __init__(self, base: str, fake: FakeTwilio, questions: list[str], phones: list[str] | None = None) -> None:
        self.url = base + "/webhooks/twilio/sms"
        self.signed_url = self.url
        self.fake = fake
        self.questions = questions
        self.phones = phones
        self.count = 0

    def request(self) -> tuple[dict[str, str], dict[str, str]]:
        self.count += 1
        phone = random.choice(self.phones) if self.phones else f"+86139{random.randrange(10**8):08d}"[:14]
        params = self.fake.inbound_params(phone, random.choice(self.questions), f"SM{id(self):x}{self.count:020x}")
        return params, {"X-Twilio-Signature": self.fake.sign(self.signed_url, params)}

    async def one(self, session: aiohttp.ClientSession, latencies: list[float], errors: list[int]) -> None:
        params, headers = self.request()
        started = time.perf_counter()
        async with session.post(self.url, data=params, headers=headers) as resp:
            await resp.read()
            if resp.status != 200:
                errors.append(resp.status)
        latencies.append((time.perf_counter() - started) * 1000)

    async def paced(self, rate: float, seconds: float) -> dict[str, float]:
        latencies: list[float] = []
        errors: list[int] = []
        connector = aiohttp.TCPConnector(limit=256)
        async with aiohttp.ClientSession(connector=connector) as session:
            elapsed = await at_pace(rate, int(rate * seconds), lambda _: self.one(session, latencies, errors))
        return summary(latencies, errors, elapsed)

    async def closed_loop(self, concurrency: int, seconds: float) -> dict[str, float]:
        latencies: list[float] = []
        errors: list[int] = []
        deadline = time.perf_counter() + seconds

        async def worker(session: aiohttp.ClientSession) -> None:
            while time.perf_counter() < deadline:
                await self.one(session, latencies, errors)

        started = time.perf_counter()
        async with aiohttp.ClientSession() as session:
            await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return summary(latencies, errors, time.perf_counter() - started)


def summary(latencies: list[float], errors: list[int], elapsed: float) -> dict[str, float]:
    latencies.sort()
    return {"requests": len(latencies), "errors": len(errors), "rps": round(len(latencies) / elapsed, 1),
            "p50_ms": round(statistics.median(latencies), 2),
            "p99_ms": round(latencies[int(0.99 * (len(latencies) - 1))], 2)}


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used: unlike rates, hardly moved by other load on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def measure(name: str, base: str, fake: FakeTwilio, questions: list[str], args: argparse.Namespace,
                  pid: int, *, profile: bool = False) -> dict[str, float]:
    load = Load(base, fake, questions)
    await load.closed_loop(4, 1.0)  # warm-up
    paced = await load.paced(args.rate, args.seconds)
    print(json.dumps({"server": name, "mode": f"paced {args.rate}/s", **paced}), flush=True)
    cpu = cpu_seconds(pid)
    if profile:
        os.kill(pid, PROFILE)
    peak = await load.closed_loop(args.concurrency, args.seconds)
    if profile:
        os.kill(pid, PROFILE)
    peak["server_cpu_ms_per_request"] = round((cpu_seconds(pid) - cpu) * 1000 / max(peak["requests"], 1), 3)
    print(json.dumps({"server": name, "mode": f"closed loop x{args.concurrency}", **peak}), flush=True)
    return peak


async def statements(base: str, fake: FakeTwilio, wechat: FakeWeChat | None, questions: list[str], pid: int,
                     stats: Path) -> dict[str, float]:
    """SQL statements per inbound text, counted by the server: first texts, then known villagers."""
    async def counted(send: Any, count: int) -> float:
        os.kill(pid, COUNT)
        await asyncio.sleep(0.2)
        for _ in range(count):
            await send()
        os.kill(pid, COUNT)
        for _ in range(100):
            await asyncio.sleep(0.05)
            n = taken(stats)
            if n is not None:
                return round(n / count, 2)
        raise RuntimeError("the server wrote no statement count")

    out: dict[str, float] = {}
    async with aiohttp.ClientSession() as session:
        new = Load(base, fake, questions)
        phones = [f"+8613800{i:06d}" for i in range(20)]
        for phone in phones:  # they texted before
            await Load(base, fake, questions, phones=[phone]).one(session, [], [])
        known = Load(base, fake, questions, phones=phones)
        out["sms_first_text"] = await counted(lambda: new.one(session, [], []), 200)
        out["sms_known_villager"] = await counted(lambda: known.one(session, [], []), 200)
        if wechat is not None:
            wx = WeChatLoad(base, wechat, questions)
            out["wechat_first_text"] = await counted(lambda: wx.send(session, wx.build(1)[0], []), 200)
            wx.openids = [f"oKnown{i:022d}" for i in range(20)]
            for openid in wx.openids:
                await wx.send(session, wx.build(1, openid)[0], [])
            out["wechat_known_follower"] = await counted(lambda: wx.send(session, wx.build(1)[0], []), 200)
    return out


def taken(stats: Path) -> int | None:
    """The statement count the server wrote, removed once read (None: not written yet)."""
    if not stats.exists():
        return None
    n = int(stats.read_text())
    stats.unlink()
    return n


async def measure_wechat(base: str, fake: FakeWeChat, questions: list[str], args: argparse.Namespace) -> None:
    load = WeChatLoad(base, fake, questions)
    await load.closed_loop(4, 1.0)  # warm-up
    paced = await load.paced(args.rate, args.seconds)
    print(json.dumps({"server": "nongbot", "mode": f"wechat safe, paced {args.rate}/s", **paced}), flush=True)
    peak = await load.closed_loop(args.wechat_concurrency, args.seconds)
    print(json.dumps({"server": "nongbot", "mode": f"wechat safe, closed loop x{args.wechat_concurrency} "
                      "(saturation)", **peak}), flush=True)
    rate = max(peak["passive"] / args.seconds, 1.0)  # answered in the reply per second: the server's pace
    await asyncio.sleep(2.0)  # answers deferred by the closed loop go out first
    twice = await load.paced(2 * rate, args.seconds)
    print(json.dumps({"server": "nongbot", "mode": f"wechat safe, paced at 2x saturation ({2 * rate:.0f}/s)",
                      **twice}), flush=True)


def fake_wechat_api(fake: FakeWeChat, port: int) -> None:
    """The fake WeChat API (tokens, customer-service texts) in a thread of its own for the whole run."""
    def run() -> None:
        web.run_app(fake.app(), host="127.0.0.1", port=port, print=None, access_log=None, handle_signals=False)

    threading.Thread(target=run, daemon=True).start()


def serve(argv: list[str], profile: str | None, stats: str) -> None:
    """The nongbot server, counting SQL statements between two COUNT signals (the count written to
    `stats`) and profiling between two PROFILE signals (written to `profile`)."""
    import cProfile

    from bot.cli import main as nongbot

    counter = {"n": 0, "on": False}
    db_log = logging.getLogger("tortoise.db_client")

    class Count(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            counter["n"] += 1

    db_log.addHandler(Count(logging.DEBUG))
    db_log.propagate = False

    def count(*_: Any) -> None:
        if counter["on"]:
            db_log.setLevel(logging.WARNING)
            Path(stats).write_text(str(counter["n"]))
        else:
            counter["n"] = 0
            db_log.setLevel(logging.DEBUG)
        counter["on"] = not counter["on"]

    profiler = cProfile.Profile()
    profiling = {"on": False}

    def toggle_profile(*_: Any) -> None:
        if profiling["on"]:
            profiler.disable()
            if profile:
                profiler.dump_stats(profile)
        else:
            profiler.enable()
        profiling["on"] = not profiling["on"]

    signal.signal(COUNT, count)
    signal.signal(PROFILE, toggle_profile)
    sys.argv = ["nongbot", *argv]
    raise SystemExit(nongbot())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--wechat-concurrency", type=int, default=32)
    parser.add_argument("--no-wechat", action="store_true", help="SMS only")
    parser.add_argument("--log-level", default="warning", help="the server's (info: a line per text and request)")
    parser.add_argument("--log-format", default="text", choices=("text", "json"))
    parser.add_argument("--profile", help="profile the server's SMS closed loop with cProfile, writing PATH")
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--serve", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        bare_server(args.bare_server)
        return
    if args.serve is not None:
        serve(args.serve, os.environ.get("BENCH_PROFILE"), os.environ["BENCH_STATS"])
        return
    print("machine:", machine(), "| load average before:", " ".join(f"{x:.2f}" for x in os.getloadavg()),
          flush=True)
    fake = FakeTwilio()
    wechat = None if args.no_wechat else FakeWeChat()
    texts = questions()
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        stats = Path(tmp) / "statements"
        env = server_env(tmp, port, log_level=args.log_level, log_format=args.log_format)
        env |= {"NONGBOT_SMS_PROVIDER": "twilio", "NONGBOT_TWILIO_ACCOUNT_SID": fake.account_sid,
                "NONGBOT_TWILIO_AUTH_TOKEN": fake.auth_token, "NONGBOT_TWILIO_FROM_NUMBER": "+15005550006",
                "BENCH_STATS": str(stats)}
        if args.profile:
            env["BENCH_PROFILE"] = str(Path(args.profile).resolve())
        if wechat is not None:
            wechat_port = free_port()
            fake_wechat_api(wechat, wechat_port)
            env |= wechat_env(wechat, wechat_port)
        nongbot = subprocess.Popen([sys.executable, __file__, "--serve", "--config", str(ROOT / "config.toml"),
                                    "serve", "--seed"], env=env, cwd=tmp, stdout=subprocess.DEVNULL,
                                   stderr=subprocess.DEVNULL if args.log_level != "warning" else None)
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, __file__, "--bare-server", str(bare_port)], cwd=tmp)
        try:
            wait_healthy(port, nongbot)
            wait_healthy(bare_port, bare)
            base = f"http://127.0.0.1:{port}"
            counts = asyncio.run(statements(base, fake, wechat, texts, nongbot.pid, stats))
            print(json.dumps({"sql_statements_per_inbound": counts}), flush=True)
            ours = asyncio.run(measure("nongbot", base, fake, texts, args, nongbot.pid,
                                       profile=bool(args.profile)))
            limit = asyncio.run(measure("bare aiohttp", f"http://127.0.0.1:{bare_port}", fake, texts, args,
                                        bare.pid))
            # The CPU ratio (bare CPU per request over ours) is what the rate ratio would be with the
            # server alone on a core: the number to trust on a shared machine.
            print(json.dumps({"closed_loop_ratio": round(ours["rps"] / limit["rps"], 2),
                              "nongbot_rps": ours["rps"], "bare_aiohttp_rps": limit["rps"],
                              "cpu_ratio": round(limit["server_cpu_ms_per_request"]
                                                 / max(ours["server_cpu_ms_per_request"], 1e-9), 2)}), flush=True)
            if wechat is not None:
                asyncio.run(measure_wechat(base, wechat, texts, args))
        finally:
            for proc in (nongbot, bare):
                proc.terminate()
                proc.wait(timeout=30)
    print("load average after:", " ".join(f"{x:.2f}" for x in os.getloadavg()))
    if args.profile:
        from benchmarks.broadcast import top_frames

        top_frames(args.profile)


if __name__ == "__main__":
    main()
