"""What every command shares: the one-line usage error, running a coroutine with the database open,
and the checks several commands make (a file that must exist, an active officer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

from bot import db
from bot.config import Config
from bot.models import Officer

T = TypeVar("T")


class UsageError(Exception):
    """A user mistake on the command line; shown as one line, exit 2."""


def with_database(config: Config, work: Callable[[], Awaitable[T]]) -> T:
    """Run `work()` in a fresh event loop with the database open (migrated), and return what it returned."""

    async def run() -> T:
        async with db.database(config.database.url):
            return await work()

    return asyncio.run(run())


def existing_file(name: str) -> Path:
    path = Path(name)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    return path


async def officer_named(name: str) -> Officer:
    found = await Officer.get_or_none(name=name, active=True)
    if found is None:
        raise UsageError(f"no active officer named {name!r}")
    return found
