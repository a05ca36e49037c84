"""Tortoise ORM config, locked migrations, and the ORM lifecycle for the app and the CLI."""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import tortoise.backends.sqlite.executor  # noqa: F401  (registers its adapters first; ours below replaces one)
from tortoise import Tortoise
from tortoise.migrations.api import migrate

from bot import features

MODEL_MODULES = ["bot.models", "content.models", *features.MODEL_MODULES]
MIGRATION_LOCK = 0x6E6F6E67  # "nong": serialises migrate() across processes on PostgreSQL
SQLITE_PRAGMAS = "busy_timeout=10000&synchronous=NORMAL"


def _sqlite_moment(value: datetime) -> str:
    """A moment as SQLite text in UTC, like every stored one. Tortoise passes an aware value in a filter or an
    update() as given, and SQLite compares text: a +08:00 county-day bound was 8 hours off (PostgreSQL
    compares instants, so both now behave alike)."""
    return (value.astimezone(UTC) if value.tzinfo is not None else value).isoformat(" ")


sqlite3.register_adapter(datetime, _sqlite_moment)


def tortoise_config(url: str) -> dict[str, Any]:
    if url.startswith("sqlite://") and "?" not in url and ":memory:" not in url:
        url = f"{url}?{SQLITE_PRAGMAS}"
    return {
        "connections": {"default": url},
        "apps": {
            "models": {
                "models": MODEL_MODULES,
                "default_connection": "default",
                # Without this, migrate() silently applies nothing (stack-notes §0.2).
                "migrations": "bot.migrations",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


# For the `tortoise` CLI (makemigrations); the service builds its config from config.toml.
TORTOISE_ORM = tortoise_config("sqlite://data/nongbot.sqlite3")


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "postgresql://", "asyncpg://"))


def _prepare_sqlite_dir(url: str) -> None:
    if url.startswith("sqlite://") and ":memory:" not in url:
        path = url[len("sqlite://"):].split("?", 1)[0]
        Path(path).parent.mkdir(parents=True, exist_ok=True)


async def migrate_locked(url: str) -> None:
    """Apply migrations; on PostgreSQL under an advisory lock held on a dedicated connection."""
    _prepare_sqlite_dir(url)
    if not is_postgres(url):
        await _migrate_and_close(url)
        return
    dsn = "postgres://" + url.split("://", 1)[1].split("?", 1)[0]
    lock = await asyncpg.connect(dsn)
    try:
        await lock.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        await _migrate_and_close(url)
    finally:
        await lock.close()  # ending the session releases the lock


async def _migrate_and_close(url: str) -> None:
    # migrate() opens connections it never closes; an open SQLite thread hangs the interpreter.
    try:
        await migrate(config=tortoise_config(url))
    finally:
        await Tortoise.close_connections()


@contextlib.asynccontextmanager
async def database(url: str, *, apply_migrations: bool = True) -> AsyncIterator[None]:
    """Open the ORM (migrating first), and always close it through the context it returned."""
    if apply_migrations:
        await migrate_locked(url)
    _prepare_sqlite_dir(url)
    ctx = await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        yield
    finally:
        await ctx.close_connections()


async def ping() -> None:
    from tortoise import connections

    await connections.get("default").execute_query("SELECT 1")
