"""Shared fixtures: a test database (SQLite file, or PostgreSQL when asked) and a running app."""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.channels import Sender
from bot.config import Config, load_config
from bot.db import database
from bot.keys import CONFIG, METRICS, ROLE, ROUTER, SENDERS
from bot.metrics import Metrics
from bot.models import Officer
from bot.web.auth import hash_password
from handlers import build_router
from tests.fakes.clock import FakeClock
from tests.fakes.sender import InMemorySender
from tests.helpers import OFFICER_NAMES, OFFICER_PASSWORD, Console

ROOT = Path(__file__).resolve().parent.parent
pytest_plugins = ["tests.browser"]  # the `site` fixture: a real browser on the running console
# The optional meaning model (content/meaning.py) embeds every article once per fresh database: tests
# (and the services they start) run without it, except tests/content/test_meaning.py, which asks for it.
os.environ.setdefault("NONGBOT_BOT_MEANING", "false")
PG_ADMIN_URL = os.environ.get("NONGBOT_TEST_DATABASE_URL", "")
BACKEND = os.environ.get("NONGBOT_TEST_BACKEND", "sqlite")
if BACKEND not in ("sqlite", "postgres"):
    raise RuntimeError(f"NONGBOT_TEST_BACKEND must be sqlite or postgres, got {BACKEND!r}")
if BACKEND == "postgres" and not PG_ADMIN_URL:
    raise RuntimeError("NONGBOT_TEST_BACKEND=postgres needs NONGBOT_TEST_DATABASE_URL")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked `postgres` need several processes on one database: they are deselected (not
    skipped) in the SQLite pass and run in the PostgreSQL pass of scripts/test; tests marked `sqlite`
    (its file's write lock, its WAL) the other way round."""
    other = "sqlite" if BACKEND == "postgres" else "postgres"
    keep = [i for i in items if i.get_closest_marker(other) is None]
    if len(keep) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in keep])
        items[:] = keep


def pg_url(database: str) -> str:
    base = PG_ADMIN_URL.split("?", 1)[0].rsplit("/", 1)[0]
    return f"{base}/{database}"


async def pg_admin(sql: str) -> None:
    conn = await asyncpg.connect(PG_ADMIN_URL.split("?", 1)[0])
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


def _admin_sync(sql: str) -> None:
    # Session fixtures may be first requested from inside a running loop: use a thread of our own.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, pg_admin(sql)).result()


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """One scratch PostgreSQL database for the session; tests truncate it."""
    name = f"nongbot_t_{uuid.uuid4().hex[:12]}"
    _admin_sync(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(name)
    finally:
        _admin_sync(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _truncate(url: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        tables = [r["tablename"] for r in await conn.fetch(
            "SELECT tablename FROM pg_tables WHERE schemaname = 'public' AND tablename <> 'tortoise_migrations'"
        )]
        if tables:
            await conn.execute(f"TRUNCATE {', '.join(tables)} RESTART IDENTITY CASCADE")
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with every migration applied, copied for each test: tortoise takes about a
    second to replay the migrations on a new file, most of a database test's time otherwise."""
    path = tmp_path_factory.mktemp("template") / "nongbot.sqlite3"

    async def migrate() -> None:
        async with database(f"sqlite://{path}"):
            pass

    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, migrate()).result()
    return path


@pytest.fixture
async def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if BACKEND == "postgres":
        url: str = request.getfixturevalue("pg_database")
        await _truncate(url)
        return url
    shutil.copyfile(request.getfixturevalue("sqlite_template"), tmp_path / "nongbot.sqlite3")
    return f"sqlite://{tmp_path}/nongbot.sqlite3"


def make_config(db_url: str, **sections: dict[str, Any]) -> Config:
    base = load_config(ROOT / "config.toml", env={})
    changes: dict[str, dict[str, Any]] = {"database": {"url": db_url}, "sms": {"quiet_hours": ""},
                                          "bot": {"meaning": False}}
    for name, values in sections.items():
        changes[name] = {**changes.get(name, {}), **values}
    return base.replace(**changes)


@pytest.fixture
def config(db_url: str) -> Config:
    return make_config(db_url)


@pytest.fixture
async def app(config: Config) -> AsyncIterator[web.Application]:
    """The app with its cleanup contexts running, but no HTTP server (for pipeline tests)."""
    application = create_app(config, role="cli")
    runner = web.AppRunner(application)
    await runner.setup()
    try:
        yield application
    finally:
        await runner.cleanup()


@pytest.fixture
async def quick_app(config: Config) -> AsyncIterator[web.Application]:
    """The inbound pipeline with nothing started: no server, no cleanup contexts, no search index
    (handlers that search need `app`), and an InMemorySender for each channel in app[SENDERS]."""
    application = web.Application()
    application[CONFIG] = config
    application[ROLE] = "cli"
    application[METRICS] = Metrics()
    application[ROUTER] = build_router()
    senders: dict[str, Sender] = {"sms": InMemorySender("sms"), "wechat": InMemorySender("wechat")}
    application[SENDERS] = senders
    async with database(config.database.url):
        yield application


@pytest.fixture
def clock() -> FakeClock:
    """A fake clock; `clock.install(monkeypatch, module)` gives it to the module under test."""
    return FakeClock()


@pytest.fixture
async def client(aiohttp_client: Any, config: Config) -> TestClient[web.Request, web.Application]:
    test_client: TestClient[web.Request, web.Application] = await aiohttp_client(create_app(config))
    return test_client


@pytest.fixture(scope="session")
def officer_password_hash() -> str:
    return hash_password(OFFICER_PASSWORD)  # argon2 is slow on purpose: hash once per run


@pytest.fixture
async def console(aiohttp_client: Any, config: Config, officer_password_hash: str) -> Console:
    """The web role (console and API, no senders running) with an officer, a supervisor and an admin."""
    client = await aiohttp_client(create_app(config, role="web"))
    officers = {role: await Officer.create(name=name, role=role, password_hash=officer_password_hash)
                for role, name in OFFICER_NAMES.items()}
    return Console(client, officers)
