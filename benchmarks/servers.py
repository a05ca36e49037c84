"""What the benchmarks that load a real `nongbot serve` share: free ports, waiting for a server to answer,
the environment a benchmark server runs with (SQLite in a temporary folder, the bundled articles, the
engine without the optional meaning model), the questions sent, and WeChat safe-mode (encrypted) load."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import random
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Coroutine, Iterator
from pathlib import Path
from typing import Any

import aiohttp

from tests.fakes.wechat import FakeWeChat, User

ROOT = Path(__file__).resolve().parent.parent
WECHAT_PATH = "/webhooks/wechat"
WECHAT_GIVES_UP = 5.0  # seconds: WeChat waits this long for an answer


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_healthy(port: int, proc: subprocess.Popen[bytes], seconds: float = 120.0) -> None:
    """Until /healthz answers (a profiled server under load starts slowly); raises if `proc` exits."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return
        except OSError:
            if proc.poll() is not None:
                raise RuntimeError("server exited") from None
            time.sleep(0.05)
    raise RuntimeError("server did not start")


def questions() -> list[str]:
    """The villagers' questions every load sends (tests/data/queries.jsonl)."""
    lines = (ROOT / "tests/data/queries.jsonl").read_text("utf-8").splitlines()
    return [json.loads(line)["q"] for line in lines]


def server_env(folder: str, port: int, *, log_level: str = "warning", log_format: str = "text") -> dict[str, str]:
    """The environment of a benchmark's `nongbot serve --seed` on `port`, its SQLite file in `folder`."""
    return {**os.environ,
            # The engine without the optional meaning model (its cost is measured by benchmarks/answers.py).
            "NONGBOT_BOT_MEANING": "false", "NONGBOT_DATABASE_URL": f"sqlite://{folder}/bench.sqlite3",
            "NONGBOT_SERVER_PORT": str(port), "NONGBOT_SERVER_PUBLIC_URL": f"http://127.0.0.1:{port}",
            "NONGBOT_SERVER_LOG_LEVEL": log_level, "NONGBOT_SERVER_LOG_FORMAT": log_format}


def wechat_env(fake: FakeWeChat, api_port: int) -> dict[str, str]:
    """WeChat in safe mode, its API the fake on `api_port`."""
    return {"NONGBOT_WECHAT_ENABLED": "true", "NONGBOT_WECHAT_MODE": "safe",
            "NONGBOT_WECHAT_APP_ID": fake.app_id, "NONGBOT_WECHAT_APP_SECRET": fake.app_secret,
            "NONGBOT_WECHAT_TOKEN": fake.token, "NONGBOT_WECHAT_ENCODING_AES_KEY": fake.aes_key,
            "NONGBOT_WECHAT_API_BASE": f"http://127.0.0.1:{api_port}"}


async def at_pace(rate: float, count: int, send: Callable[[int], Coroutine[Any, Any, None]]) -> float:
    """Start send(i) for i in range(count), the i-th at i / rate seconds, whether or not earlier ones were
    answered; the seconds until all were."""
    tasks: list[asyncio.Task[None]] = []
    started = time.perf_counter()
    for i in range(count):
        delay = started + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(send(i)))
    await asyncio.gather(*tasks)
    return time.perf_counter() - started


class WeChatLoad:
    """WeChat safe-mode texts, encrypted ahead (encrypting is the client's main cost), sent and timed."""

    def __init__(self, base: str, fake: FakeWeChat, texts: list[str]) -> None:
        self.url = base + WECHAT_PATH
        self.fake = fake
        self.texts = itertools.cycle(texts)
        self.users = itertools.count(1)
        self.openids: list[str] = []  # known followers to write from; none: a new follower each time

    def build(self, count: int, openid: str | None = None) -> list[tuple[dict[str, str], bytes]]:
        out = []
        for _ in range(count):
            sender = openid or (random.choice(self.openids) if self.openids else f"oBench{next(self.users):022d}")
            xml = self.fake.text_xml(sender, next(self.texts))
            self.fake.users[sender] = User(last_message=time.time())  # they just wrote: the window is open
            query, body = self.fake.envelope(xml, "safe")
            out.append((query, body.encode()))
        return out

    def feed(self, count: int) -> Iterator[tuple[dict[str, str], bytes]]:
        """`count` requests built ahead, then more as they run out."""
        while True:
            yield from self.build(count)

    async def send(self, session: aiohttp.ClientSession, request: tuple[dict[str, str], bytes],
                   results: list[tuple[float, str]]) -> None:
        query, body = request
        started = time.perf_counter()
        try:
            async with session.post(self.url, params=query, data=body, headers={"Content-Type": "text/xml"}) as resp:
                text = await resp.text()
                answered = "deferred" if text == "success" else "passive"
                outcome = answered if resp.status == 200 else f"http {resp.status}"
        except (aiohttp.ClientError, TimeoutError) as exc:
            outcome = type(exc).__name__
        results.append((time.perf_counter() - started, outcome))

    async def paced(self, rate: float, seconds: float) -> dict[str, Any]:
        requests = self.build(int(rate * seconds))
        results: list[tuple[float, str]] = []
        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0), timeout=timeout) as session:
            elapsed = await at_pace(rate, len(requests), lambda i: self.send(session, requests[i], results))
        return wechat_summary(results, elapsed)

    async def closed_loop(self, concurrency: int, seconds: float) -> dict[str, Any]:
        requests = self.feed(int(concurrency * seconds * 60) + 500)
        results: list[tuple[float, str]] = []
        deadline = time.perf_counter() + seconds

        async def worker(session: aiohttp.ClientSession) -> None:
            while time.perf_counter() < deadline:
                await self.send(session, next(requests), results)

        started = time.perf_counter()
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
            await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        return wechat_summary(results, time.perf_counter() - started)


def wechat_summary(results: list[tuple[float, str]], elapsed: float) -> dict[str, Any]:
    latencies = sorted(r[0] * 1000 for r in results)
    outcomes = [r[1] for r in results]
    n = len(latencies)
    by_kind = {kind: sorted(t for t, o in results if o == kind) for kind in ("passive", "deferred")}
    return {"requests": n, "rps": round(n / elapsed, 1), "p50_ms": round(latencies[n // 2], 2),
            "p99_ms": round(latencies[int(0.99 * (n - 1))], 2), "max_ms": round(latencies[-1], 1),
            "over_5s": sum(1 for t in latencies if t > WECHAT_GIVES_UP * 1000),
            "passive": outcomes.count("passive"), "deferred": outcomes.count("deferred"),
            "errors": n - outcomes.count("passive") - outcomes.count("deferred"),
            **{f"{kind}_p50_ms": round(ts[len(ts) // 2] * 1000, 1) for kind, ts in by_kind.items() if ts}}
