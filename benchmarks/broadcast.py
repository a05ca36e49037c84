"""Broadcast engine benchmark: N recipients, an approved send-now broadcast, W `nongbot serve --role
worker` processes sending through the real Twilio SDK to a fake Twilio in its own process.
The clock starts when a supervisor approves it through the API, every process already up.
Prints enqueue time (approval -> delivery rows), dispatch rate, end-to-end rate, the workers'
peak RSS and what the fake got (messages, and how many people got one twice); with --rate, the
achieved SMS segment rate against the limit.
In the same run it measures the limit: the twilio SDK alone (`create_async`, 50 in flight) sending as
many messages to a fresh fake in its own process, and prints the ratio of each rate to it.
--profile PATH runs each worker under cProfile (PATH.<n>.prof) and prints its top frames.
Usage: python benchmarks/broadcast.py [--backend sqlite|postgres] [--recipients 10000] [--workers 1]
       [--rate 0] [--pg-admin postgres://postgres@127.0.0.1:5432/postgres] [--profile PATH]"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from pathlib import Path

import aiohttp
import asyncpg

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.retrieval import machine  # noqa: E402
from benchmarks.webhooks import free_port, wait_healthy  # noqa: E402
from tests.fakes.twilio import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, FakeTwilio  # noqa: E402

TEXT = "县农技中心提醒：近期低温，柑橘园请及时覆盖防冻。"


def fake_server(port: int) -> None:
    from aiohttp import web

    fake = FakeTwilio()
    app = fake.app()
    app.router.add_get("/healthz", lambda r: web.json_response({"status": "ok"}))
    app.router.add_get("/count", lambda r: web.json_response(
        {"messages": len(fake.messages), "people": len({m["to"] for m in fake.messages.values()})}))
    web.run_app(app, host="127.0.0.1", port=port, print=None, access_log=None)


async def sdk_alone(total: int, in_flight: int = 50) -> float:
    """The limit: messages per second the twilio SDK alone sends to a fresh fake in its own process."""
    from twilio.http.async_http_client import AsyncTwilioHttpClient
    from twilio.rest import Client

    warnings.filterwarnings("ignore", category=DeprecationWarning)  # aiohttp 3.14 + twilio 9.13
    port = free_port()
    fake = subprocess.Popen([sys.executable, __file__, "--fake-server", str(port)])
    try:
        wait_healthy(port, fake)
        http = AsyncTwilioHttpClient()
        client = Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http)
        client.api.base_url = f"http://127.0.0.1:{port}"
        numbers = iter(range(total))

        async def sender() -> None:
            for i in numbers:
                await client.messages.create_async(to=f"+86139{i:08d}", body="【农技通】" + TEXT,
                                                   from_=FROM_NUMBER, status_callback="http://127.0.0.1:9/s")

        started, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(sender() for _ in range(in_flight)))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        await http.close()
    finally:
        fake.terminate()
        fake.wait(timeout=30)
    return total / elapsed, cpu * 1000 / total


def top_frames(path: str, count: int = 25) -> None:
    import pstats

    print(f"--- {path}: top frames by own time")
    pstats.Stats(path).sort_stats("tottime").print_stats(count)
    print(f"--- {path}: top frames by cumulative time")
    pstats.Stats(path).sort_stats("cumulative").print_stats(count)


async def prepare(url: str, recipients: int) -> tuple[int, str]:
    """The villagers and a broadcast waiting for approval; returns its id and a supervisor's API token."""
    from bot import db
    from bot.models import Officer, Subscriber
    from bot.web.auth import create_token
    from broadcasts.models import Broadcast

    async with db.database(url):
        writer = await Officer.create(name="writer", role="officer", password_hash="-")
        boss = await Officer.create(name="boss", role="supervisor", password_hash="-")
        token = await create_token(boss)
        batch = []
        for i in range(recipients):
            batch.append(Subscriber(phone=f"+86139{i:08d}", township="关防乡", topics=",技术,", crops=",柑橘,"))
            if len(batch) == 5000:
                await Subscriber.bulk_create(batch)
                batch = []
        if batch:
            await Subscriber.bulk_create(batch)
        broadcast = await Broadcast.create(kind="tip", text=TEXT, audience={}, state="pending_approval",
                                           created_by=writer)
        return broadcast.id, token


class Probe:
    """Reads progress with a plain driver, outside the ORM."""

    def __init__(self, url: str) -> None:
        self.url = url

    async def snapshot(self) -> tuple[str, int, int]:
        sql = ("SELECT (SELECT state FROM broadcast_run LIMIT 1), (SELECT count(*) FROM delivery), "
               "(SELECT count(*) FROM delivery WHERE state = 'sent')")
        if self.url.startswith("sqlite"):
            with sqlite3.connect(self.url[len("sqlite://"):], timeout=30) as conn:
                state, rows, sent = conn.execute(sql).fetchone()
        else:
            conn = await asyncpg.connect(self.url)
            try:
                state, rows, sent = await conn.fetchrow(sql)
            finally:
                await conn.close()
        return state or "", rows, sent


def cpu_seconds(pid: int) -> float:
    """User + system CPU a process has used: unlike rates, hardly moved by other load on the machine."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


async def measure(args: argparse.Namespace, url: str, tmp: str) -> dict[str, object]:
    broadcast_id, token = await prepare(url, args.recipients)
    fake_port = free_port()
    fake = subprocess.Popen([sys.executable, __file__, "--fake-server", str(fake_port)])
    twilio = FakeTwilio()
    env = {**os.environ, "NONGBOT_DATABASE_URL": url, "NONGBOT_SMS_PROVIDER": "twilio",
           "NONGBOT_TWILIO_ACCOUNT_SID": twilio.account_sid, "NONGBOT_TWILIO_AUTH_TOKEN": twilio.auth_token,
           "NONGBOT_TWILIO_FROM_NUMBER": FROM_NUMBER, "NONGBOT_TWILIO_API_BASE": f"http://127.0.0.1:{fake_port}",
           "NONGBOT_SMS_QUIET_HOURS": "", "NONGBOT_BROADCASTS_SMS_RATE": str(args.rate),
           "NONGBOT_BROADCASTS_BATCH_SIZE": "500", "NONGBOT_BROADCASTS_POLL_SECONDS": "0.05",
           "NONGBOT_SERVER_LOG_LEVEL": "warning", "PYTHONPATH": str(ROOT)}  # this tree, not the editable install
    wait_healthy(fake_port, fake)
    workers = []
    ports = []
    profiles = [f"{args.profile}.{n}.prof" for n in range(args.workers)] if args.profile else []
    for n in range(args.workers):
        port = free_port()
        ports.append(port)
        python = [sys.executable, "-m", "cProfile", "-o", profiles[n]] if profiles else [sys.executable]
        # The first process also serves the web side, where the supervisor approves (as in production);
        # the clock starts at that approval, with every process already up (as the issue measures it).
        workers.append(subprocess.Popen(
            [*python, "-m", "bot", "--config", str(ROOT / "config.toml"), "serve", "--role",
             "all" if n == 0 else "worker"],
            env={**env, "NONGBOT_SERVER_PORT": str(port)}, cwd=tmp, stdout=subprocess.DEVNULL))
    for port, worker in zip(ports, workers, strict=True):
        wait_healthy(port, worker)
    started = time.perf_counter()
    async with aiohttp.ClientSession() as session, session.post(
            f"http://127.0.0.1:{ports[0]}/api/v1/broadcasts/{broadcast_id}/approve",
            headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200, await resp.text()
    probe = Probe(url)
    enqueued_at = first_sent_at = None
    first_sent = 0
    first_cpu = 0.0
    try:
        while True:
            await asyncio.sleep(0.2)
            state, _rows, sent = await probe.snapshot()
            now = time.perf_counter()
            if enqueued_at is None and state in ("sending", "done"):
                enqueued_at = now
            if first_sent_at is None and sent:
                first_sent_at, first_sent = now, sent
                first_cpu = sum(cpu_seconds(w.pid) for w in workers)
            if sent >= args.recipients:
                break
        done_at = time.perf_counter()
        await asyncio.sleep(1.0)  # anything sent twice after the last row was marked would show now
        async with aiohttp.ClientSession() as session, session.get(f"http://127.0.0.1:{fake_port}/count") as resp:
            at_fake = await resp.json()
        rss = max(peak_rss_mb(w.pid) for w in workers)
        dispatch_cpu = sum(cpu_seconds(w.pid) for w in workers) - first_cpu
    finally:
        for proc in [*workers, fake]:
            proc.terminate()
            proc.wait(timeout=30)
    assert enqueued_at is not None and first_sent_at is not None
    result: dict[str, object] = {
        "backend": args.backend, "recipients": args.recipients, "workers": args.workers,
        "enqueue_s": round(enqueued_at - started, 2),
        "dispatch_per_s": round((args.recipients - first_sent) / max(done_at - first_sent_at, 1e-9), 1),
        "end_to_end_per_s": round(args.recipients / (done_at - started), 1),
        "worker_peak_rss_mb": round(rss, 1),
        # exactly once: every recipient got one message, nobody two
        "messages_at_fake": at_fake["messages"], "doubled": at_fake["messages"] - at_fake["people"],
        "worker_cpu_ms_per_delivery": round(dispatch_cpu * 1000 / max(args.recipients - first_sent, 1), 3),
    }
    if args.rate:
        from bot.sms import segments

        per = segments("【农技通】" + TEXT)
        achieved = (args.recipients - first_sent) * per / max(done_at - first_sent_at, 1e-9)
        result.update({"rate_limit_segments_per_s": args.rate, "achieved_segments_per_s": round(achieved, 1)})
    for path in profiles:
        top_frames(path)
    return result


async def with_limit(args: argparse.Namespace, url: str, tmp: str) -> dict[str, object]:
    """Our numbers and, in the same run, the SDK-alone limit and the ratios to it."""
    result = await measure(args, url, tmp)
    limit, limit_cpu = await sdk_alone(args.recipients)
    dispatch, end_to_end, cpu = result["dispatch_per_s"], result["end_to_end_per_s"], result["worker_cpu_ms_per_delivery"]
    assert isinstance(dispatch, float) and isinstance(end_to_end, float) and isinstance(cpu, float)
    # The CPU ratio: the SDK's CPU per message over ours per delivery (what the rate ratio would be
    # on an idle machine, CPU-bound on one core): the number to trust when the machine is shared.
    result.update({"sdk_alone_per_s": round(limit, 1), "dispatch_ratio": round(dispatch / limit, 2),
                   "end_to_end_ratio": round(end_to_end / limit, 2), "sdk_cpu_ms_per_message": round(limit_cpu, 3),
                   "cpu_ratio": round(limit_cpu / cpu, 2) if cpu else None})
    return result


async def main_async(args: argparse.Namespace) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend == "sqlite":
            url = f"sqlite://{tmp}/bench.sqlite3"
            print(json.dumps(await with_limit(args, url, tmp)))
            return
        name = f"nongbot_bench_{uuid.uuid4().hex[:8]}"
        admin = await asyncpg.connect(args.pg_admin)
        await admin.execute(f'CREATE DATABASE "{name}"')
        await admin.close()
        try:
            url = args.pg_admin.rsplit("/", 1)[0] + "/" + name
            print(json.dumps(await with_limit(args, url, tmp)))
        finally:
            admin = await asyncpg.connect(args.pg_admin)
            await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            await admin.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--recipients", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--rate", type=float, default=0.0, help="SMS segments per second per worker (0: none)")
    parser.add_argument("--pg-admin", default="postgres://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--profile", help="run each worker under cProfile, writing PATH.<n>.prof")
    parser.add_argument("--fake-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fake_server:
        fake_server(args.fake_server)
        return
    if args.backend == "sqlite" and args.workers != 1:
        parser.error("SQLite runs one process; use --backend postgres for several workers")
    print("machine:", machine())
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()
