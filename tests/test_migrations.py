"""Migrations: the committed files build the schema on an empty database, twice is harmless,
and they match the models (no forgotten makemigrations)."""

from __future__ import annotations

import uuid

import pytest
from tortoise import connections
from tortoise.context import TortoiseContext
from tortoise.migrations.autodetector import MigrationAutodetector

from bot import db
from tests.conftest import BACKEND, pg_admin, pg_url

pytestmark = pytest.mark.db


@pytest.fixture
async def empty_url(tmp_path):  # type: ignore[no-untyped-def]
    if BACKEND == "sqlite":
        yield f"sqlite://{tmp_path}/fresh.sqlite3"
        return
    name = f"nongbot_m_{uuid.uuid4().hex[:12]}"
    await pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield pg_url(name)
    finally:
        await pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def _tables() -> set[str]:
    conn = connections.get("default")
    if BACKEND == "sqlite":
        rows = await conn.execute_query_dict("SELECT name FROM sqlite_master WHERE type = 'table'")
        return {r["name"] for r in rows}
    rows = await conn.execute_query_dict("SELECT tablename AS name FROM pg_tables WHERE schemaname = 'public'")
    return {r["name"] for r in rows}


async def test_migrate_empty_database_then_again(empty_url: str) -> None:
    async with db.database(empty_url):
        tables = await _tables()
        applied = await connections.get("default").execute_query_dict("SELECT name FROM tortoise_migrations")
    assert {"subscriber", "message", "consent_event", "tortoise_migrations"} <= tables
    async with db.database(empty_url):  # idempotent: nothing new, nothing broken
        again = await connections.get("default").execute_query_dict("SELECT name FROM tortoise_migrations")
    assert again == applied and len(applied) >= 1


async def test_models_match_migration_files() -> None:
    apps = db.tortoise_config("sqlite://:memory:")["apps"]
    async with TortoiseContext() as ctx:
        await ctx.init(config={"connections": {"default": "sqlite://:memory:"}, "apps": apps})
        assert ctx.apps is not None
        assert await MigrationAutodetector(ctx.apps, apps).changes() == []


async def test_message_dedupe_constraint_survives_all_migrations(empty_url: str) -> None:
    """Regression: 0003 altered message.status; on SQLite Tortoise rebuilt the table without it."""
    from tortoise.exceptions import IntegrityError

    from bot.models import Message

    async with db.database(empty_url):
        await Message.create(direction="in", channel="sms", provider="t", provider_id="SM1", address="+1",
                             body="", status="processing")
        with pytest.raises(IntegrityError):
            await Message.create(direction="in", channel="sms", provider="t", provider_id="SM1", address="+1",
                                 body="", status="processing")
