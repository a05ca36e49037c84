"""Tortoise ORM config, locked migrations, and the ORM lifecycle for the app and the CLI."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import shutil
import sqlite3
import tempfile
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import tortoise
import tortoise.backends.sqlite.executor  # registers its adapters first; ours below replaces one
from tortoise import Tortoise
from tortoise.migrations.api import migrate

from bot import features

log = logging.getLogger("nongbot.db")
MODEL_MODULES = ["bot.models", "content.models", *features.MODEL_MODULES]
MIGRATIONS_DIR = Path(__file__).parent / "migrations"
MIGRATION_LOCK = 0x6E6F6E67  # "nong": serialises migrate() across processes on PostgreSQL
SQLITE_PRAGMAS = "busy_timeout=10000&synchronous=NORMAL"
# A new SQLite file's schema, as the migrations left it last time (see database(schema_template=True)).
TEMPLATE_DIR = Path(tempfile.gettempdir())
SQLITE_SIDE_FILES = ("", "-wal", "-shm", "-journal")


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


def _new_sqlite_file(url: str) -> Path | None:
    """The file of a SQLite URL when neither it nor its journal exists yet, else None."""
    if not url.startswith("sqlite://") or ":memory:" in url:
        return None
    path = Path(url[len("sqlite://"):].split("?", 1)[0])
    return None if any(Path(f"{path}{side}").exists() for side in SQLITE_SIDE_FILES) else path


def template_for(url: str) -> Path:
    """Where the schema the migrations build on a new file under `url`'s options is kept: named by the
    migration files, Tortoise's and SQLite's versions and the URL's options (this user's file)."""
    digest = hashlib.sha256(repr((tortoise.__version__, sqlite3.sqlite_version,
                                  tortoise_config(url)["connections"]["default"].partition("?")[2])).encode())
    for path in sorted(MIGRATIONS_DIR.glob("*.py")):
        digest.update(f"{path.name}\0".encode())
        digest.update(path.read_bytes())
    uid = getattr(os, "getuid", lambda: 0)()
    return TEMPLATE_DIR / f"nongbot-schema-{uid}-{digest.hexdigest()[:20]}.sqlite3"


def _restore_schema(path: Path, template: Path) -> bool:
    """Create `path` as a copy of the template (ours, not writable by others), its migrations recorded as
    applied now (their spacing kept); False, and nothing created, when there is none or `path` appeared."""
    try:
        st = template.stat()
    except OSError:
        return False
    if st.st_uid != getattr(os, "getuid", lambda: st.st_uid)() or st.st_mode & 0o022:
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(6)}.new")
    try:
        with open(template, "rb") as src, open(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644), "wb") as dst:
            shutil.copyfileobj(src, dst)
        with contextlib.closing(sqlite3.connect(temp)) as conn:
            rows = conn.execute("SELECT id, applied_at FROM tortoise_migrations").fetchall()
            shift = datetime.now(UTC) - min((datetime.fromisoformat(at) for _, at in rows), default=datetime.now(UTC))
            conn.executemany("UPDATE tortoise_migrations SET applied_at = ? WHERE id = ?",
                             [(_sqlite_moment(datetime.fromisoformat(at) + shift), key) for key, at in rows])
            conn.commit()
        os.link(temp, path)  # fails when the file appeared meanwhile (another process): it is left alone
    except (OSError, sqlite3.Error, ValueError) as exc:
        log.debug("schema template %s not used: %s", template, exc)
        return False
    finally:
        for side in SQLITE_SIDE_FILES:
            with contextlib.suppress(OSError):
                os.unlink(f"{temp}{side}")
    return True


def _keep_schema(path: Path, template: Path) -> None:
    """Keep what the migrations just built on a new file as the template, when it holds no row but the
    migrations' own records (a consistent copy: SQLite's backup)."""
    temp = template.with_name(f".{template.name}.{secrets.token_hex(6)}.new")
    try:
        os.close(os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        with contextlib.closing(sqlite3.connect(path)) as src, contextlib.closing(sqlite3.connect(temp)) as dst:
            src.backup(dst)
            tables = [name for (name,) in dst.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            if any(dst.execute(f'SELECT 1 FROM "{name}" LIMIT 1').fetchone()  # names read from the file
                   for name in tables if name not in ("tortoise_migrations", "sqlite_sequence")):
                return
        os.replace(temp, template)
        for old in template.parent.glob(f"{template.name.rsplit('-', 1)[0]}-*.sqlite3"):
            if old != template:
                old.unlink(missing_ok=True)
    except (OSError, sqlite3.Error) as exc:
        log.debug("schema template %s not kept: %s", template, exc)
    finally:
        for side in SQLITE_SIDE_FILES:
            with contextlib.suppress(OSError):
                os.unlink(f"{temp}{side}")


async def migrate_locked(url: str) -> None:
    """Apply migrations; on PostgreSQL under an advisory lock held on a dedicated connection."""
    _prepare_sqlite_dir(url)
    if not is_postgres(url):
        await _migrate_and_close(url)
        return
    import asyncpg  # PostgreSQL only

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
async def database(url: str, *, apply_migrations: bool = True, schema_template: bool = False) -> AsyncIterator[None]:
    """Open the ORM (migrating first), and always close it through the context it returned.

    schema_template (the service's start): a new SQLite file starts as a copy of what the same migrations
    built on the last new file (Tortoise takes two seconds of CPU to replay them); the migrations then
    find nothing to apply. The first new file under given migrations is migrated as always and kept."""
    if apply_migrations:
        new = _new_sqlite_file(url) if schema_template else None
        template = template_for(url) if new is not None else None
        restored = new is not None and template is not None and _restore_schema(new, template)
        await migrate_locked(url)
        if new is not None and template is not None and not restored:
            _keep_schema(new, template)
    _prepare_sqlite_dir(url)
    ctx = await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        yield
    finally:
        await ctx.close_connections()


async def ping() -> None:
    from tortoise import connections

    await connections.get("default").execute_query("SELECT 1")
