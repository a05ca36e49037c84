"""Inbound webhook benchmark: signed Twilio SMS with distinct MessageSids against a running
`nongbot serve` (SQLite, bundled articles), next to a bare aiohttp endpoint returning fixed TwiML,
both in their own process on this machine, in the same run.

Prints for each: a paced run at --rate requests/s (achieved rate, p50/p99 latency) and a
closed-loop run with --concurrency clients (maximum throughput), then the ratio of nongbot's
closed-loop throughput to bare aiohttp's (the limit; issue 21 wants at least 0.5).
--profile PATH runs nongbot under cProfile (PATH) and prints its top frames.
Usage: python benchmarks/webhooks.py [--rate 200] [--seconds 10] [--concurrency 16] [--profile PATH]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import aiohttp
from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.retrieval import machine  # noqa: E402
from tests.fakes.twilio import FakeTwilio  # noqa: E402

TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>收到</Message></Response>'


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bare_server(port: int) -> None:
    async def reply(request: web.Request) -> web.Response:
        await request.post()
        return web.Response(text=TWIML, content_type="text/xml")

    app = web.Application()
    app.router.add_post("/webhooks/twilio/sms", reply)
    app.router.add_get("/healthz", lambda r: web.json_response({"status": "ok"}))
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


def wait_healthy(port: int, proc: subprocess.Popen[bytes]) -> None:
    for _ in range(2400):  # two minutes at most: a profiled server under load starts slowly
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("server exited") from None
            time.sleep(0.05)
    raise RuntimeError("server did not start")


class Load:
    def __init__(self, base: str, fake: FakeTwilio, questions: list[str]) -> None:
        self.url = base + "/webhooks/twilio/sms"
        self.signed_url = self.url
        self.fake = fake
        self.questions = questions
        self.count = 0

    def request(self) -> tuple[dict[str, str], dict[str, str]]:
        self.count += 1
        phone = f"+86139{random.randrange(10**8):08d}"[:14]
        params = self.fake.inbound_params(phone, random.choice(self.questions), f"SM{self.count:032x}")
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
            tasks = []
            started = time.perf_counter()
            total = int(rate * seconds)
            for i in range(total):
                delay = started + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(self.one(session, latencies, errors)))
            await asyncio.gather(*tasks)
            elapsed = time.perf_counter() - started
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
                  pid: int) -> dict[str, float]:
    load = Load(base, fake, questions)
    await load.closed_loop(4, 1.0)  # warm-up
    paced = await load.paced(args.rate, args.seconds)
    print(json.dumps({"server": name, "mode": f"paced {args.rate}/s", **paced}), flush=True)
    cpu = cpu_seconds(pid)
    peak = await load.closed_loop(args.concurrency, args.seconds)
    peak["server_cpu_ms_per_request"] = round((cpu_seconds(pid) - cpu) * 1000 / max(peak["requests"], 1), 3)
    print(json.dumps({"server": name, "mode": f"closed loop x{args.concurrency}", **peak}), flush=True)
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--profile", help="run nongbot under cProfile, writing PATH")
    parser.add_argument("--bare-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bare_server:
        bare_server(args.bare_server)
        return
    print("machine:", machine())
    fake = FakeTwilio()
    questions = [json.loads(line)["q"] for line in (ROOT / "tests/data/queries.jsonl").read_text("utf-8").splitlines()]
    with tempfile.TemporaryDirectory() as tmp:
        port = free_port()
        env = {**os.environ, "NONGBOT_DATABASE_URL": f"sqlite://{tmp}/bench.sqlite3",
               "NONGBOT_SERVER_PORT": str(port), "NONGBOT_SERVER_PUBLIC_URL": f"http://127.0.0.1:{port}",
               "NONGBOT_SMS_PROVIDER": "twilio", "NONGBOT_TWILIO_ACCOUNT_SID": fake.account_sid,
               "NONGBOT_TWILIO_AUTH_TOKEN": fake.auth_token, "NONGBOT_TWILIO_FROM_NUMBER": "+15005550006",
               "NONGBOT_SERVER_LOG_LEVEL": "warning"}
        python = [sys.executable, "-m", "cProfile", "-o", args.profile] if args.profile else [sys.executable]
        nongbot = subprocess.Popen([*python, "-m", "bot", "--config", str(ROOT / "config.toml"), "serve",
                                    "--seed"], env=env, cwd=tmp, stdout=subprocess.DEVNULL)
        bare_port = free_port()
        bare = subprocess.Popen([sys.executable, __file__, "--bare-server", str(bare_port)], cwd=tmp)
        try:
            wait_healthy(port, nongbot)
            wait_healthy(bare_port, bare)
            ours = asyncio.run(measure("nongbot", f"http://127.0.0.1:{port}", fake, questions, args, nongbot.pid))
            limit = asyncio.run(measure("bare aiohttp", f"http://127.0.0.1:{bare_port}", fake, questions, args,
                                        bare.pid))
            # The CPU ratio (bare CPU per request over ours) is what the rate ratio would be with the
            # server alone on a core: the number to trust on a shared machine.
            print(json.dumps({"closed_loop_ratio": round(ours["rps"] / limit["rps"], 2),
                              "nongbot_rps": ours["rps"], "bare_aiohttp_rps": limit["rps"],
                              "cpu_ratio": round(limit["server_cpu_ms_per_request"]
                                                 / max(ours["server_cpu_ms_per_request"], 1e-9), 2)}))
        finally:
            for proc in (nongbot, bare):
                proc.terminate()
                proc.wait(timeout=30)
    if args.profile:
        from benchmarks.broadcast import top_frames

        top_frames(args.profile)


if __name__ == "__main__":
    main()
