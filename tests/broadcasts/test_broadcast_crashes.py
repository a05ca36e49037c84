"""Crashes and scale-out with real processes: kill -9 in the middle of a broadcast and restart, and
(PostgreSQL) two workers sharing a run while one of them is killed. Every recipient gets exactly one
message at the fake Twilio."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sys
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.conftest import ROOT
from tests.fakes.twilio import FROM_NUMBER, FakeTwilio

pytestmark = pytest.mark.db
RECIPIENTS = 300


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Site:
    """nongbot processes on one database, pointed at one fake Twilio."""

    def __init__(self, db_url: str, tmp: Path, fake: FakeTwilio, api_base: str, rate: float) -> None:
        self.tmp = tmp
        self.env = {**os.environ, "NONGBOT_DATABASE_URL": db_url, "NONGBOT_SMS_PROVIDER": "twilio",
                    "NONGBOT_TWILIO_ACCOUNT_SID": fake.account_sid, "NONGBOT_TWILIO_AUTH_TOKEN": fake.auth_token,
                    "NONGBOT_TWILIO_FROM_NUMBER": FROM_NUMBER, "NONGBOT_TWILIO_API_BASE": api_base,
                    "NONGBOT_TWILIO_TIMEOUT": "2", "NONGBOT_SMS_QUIET_HOURS": "",
                    "NONGBOT_BROADCASTS_SMS_RATE": str(rate), "NONGBOT_BROADCASTS_POLL_SECONDS": "0.05",
                    "NONGBOT_BROADCASTS_LEASE_SECONDS": "3", "NONGBOT_BROADCASTS_BATCH_SIZE": "20",
                    "NONGBOT_SERVER_LOG_LEVEL": "warning"}

    async def cli(self, *args: str, stdin: str = "") -> str:
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml"), *args, env=self.env, cwd=self.tmp,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
        out, err = await proc.communicate(stdin.encode())
        assert proc.returncode == 0, err.decode()
        return out.decode().strip()

    async def start(self, role: str = "all") -> tuple[asyncio.subprocess.Process, str]:
        port = free_port()
        proc = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml"), "serve", "--role", role,
            env={**self.env, "NONGBOT_SERVER_PORT": str(port)}, cwd=self.tmp,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(base + "/healthz") as resp:
                        if resp.status == 200:
                            return proc, base
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise AssertionError("nongbot did not start")

    async def prepare(self) -> tuple[str, str]:
        await self.cli("migrate")
        rows = "\n".join(f"139{i:08d},,关防乡,,柑橘,技术,sms" for i in range(RECIPIENTS))
        (self.tmp / "people.csv").write_text("phone,name,township,village,crops,topics,channel\n" + rows + "\n")
        await self.cli("import", "subscribers", str(self.tmp / "people.csv"))
        await self.cli("officer", "add", "writer", "--role", "officer", "--password-stdin", stdin="password-123\n")
        await self.cli("officer", "add", "boss", "--role", "supervisor", "--password-stdin", stdin="password-123\n")
        return await self.cli("token", "create", "writer"), await self.cli("token", "create", "boss")


async def launch(base: str, writer: str, boss: str) -> int:
    async with aiohttp.ClientSession() as session:
        async with session.post(base + "/api/v1/broadcasts", headers={"Authorization": f"Bearer {writer}"},
                                json={"kind": "notice", "text": "明天上午九点村委会发放种苗，请带身份证。"}) as resp:
            assert resp.status == 201, await resp.text()
            broadcast_id = int((await resp.json())["id"])
        async with session.post(f"{base}/api/v1/broadcasts/{broadcast_id}/approve",
                                headers={"Authorization": f"Bearer {boss}"}) as resp:
            assert resp.status == 200, await resp.text()
    return broadcast_id


async def wait_done(base: str, token: str, broadcast_id: int, seconds: float = 90) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session:
        for _ in range(int(seconds / 0.2)):
            async with session.get(f"{base}/api/v1/broadcasts/{broadcast_id}",
                                   headers={"Authorization": f"Bearer {token}"}) as resp:
                body = await resp.json()
            if body["state"] == "done":
                return body  # type: ignore[no-any-return]
            await asyncio.sleep(0.2)
    raise AssertionError(f"broadcast not done: {body}")


def exactly_once(fake: FakeTwilio) -> None:
    sent_to = [m["to"] for m in fake.messages.values()]
    assert len(sent_to) == RECIPIENTS, f"{len(sent_to)} messages for {RECIPIENTS} people"
    assert len(set(sent_to)) == RECIPIENTS


async def wait_for_messages(fake: FakeTwilio, count: int) -> None:
    for _ in range(600):
        if len(fake.messages) >= count:
            return
        await asyncio.sleep(0.05)
    raise AssertionError(f"only {len(fake.messages)} messages")


async def test_kill_9_mid_broadcast_then_restart(db_url: str, tmp_path: Path, aiohttp_server: Any) -> None:
    fake = FakeTwilio()
    server = await aiohttp_server(fake.app())
    site = Site(db_url, tmp_path, fake, str(server.make_url("")).rstrip("/"), rate=150)
    writer, boss = await site.prepare()
    proc, base = await site.start()
    broadcast_id = await launch(base, writer, boss)
    await wait_for_messages(fake, 80)
    proc.send_signal(signal.SIGKILL)
    await proc.wait()
    assert len(fake.messages) < RECIPIENTS
    proc, base = await site.start()
    try:
        status = await wait_done(base, writer, broadcast_id)
    finally:
        proc.terminate()
        await proc.wait()
    exactly_once(fake)
    (run,) = status["runs"]
    assert (run["targeted"], run["sent"], run["failed"], run["pending"]) == (RECIPIENTS, RECIPIENTS, 0, 0)


@pytest.mark.postgres
async def test_two_workers_share_a_run_and_survive_one_killed(db_url: str, tmp_path: Path,
                                                                aiohttp_server: Any) -> None:
    fake = FakeTwilio()
    server = await aiohttp_server(fake.app())
    site = Site(db_url, tmp_path, fake, str(server.make_url("")).rstrip("/"), rate=60)
    writer, boss = await site.prepare()
    web, base = await site.start("web")
    first, _ = await site.start("worker")
    second, _ = await site.start("worker")
    try:
        broadcast_id = await launch(base, writer, boss)
        await wait_for_messages(fake, 120)
        first.send_signal(signal.SIGKILL)  # the scheduler's leader or not: the other carries on
        await first.wait()
        await wait_done(base, writer, broadcast_id)
    finally:
        for proc in (web, second):
            proc.terminate()
            await proc.wait()
    conn = await asyncpg.connect(db_url)
    try:
        workers = await conn.fetch("SELECT claimed_by, count(*) FROM delivery GROUP BY claimed_by")
        runs = await conn.fetchval("SELECT count(*) FROM broadcast_run")
    finally:
        await conn.close()
    assert runs == 1  # regression: a state change once re-planned and re-fired a one-off broadcast
    exactly_once(fake)
    assert len(workers) == 2, workers  # the work was shared while both lived
