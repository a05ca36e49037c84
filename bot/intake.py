"""Pushed work kept in the push_item table before it is acknowledged, then processed from there.

A provider that pushes (Alibaba Cloud replies and receipts) hears "received" only once the push's items
are stored, in one bulk insert: a crash after that loses nothing, and an item pushed again is stored
once (unique provider + key). A WeChat message answered "success" at once is stored the same way.

The process that stored the rows holds them for LEASE and processes them at once; each row is marked
processed when its work is done. Rows whose lease ran out unprocessed (their process died, or the work
failed) are claimed again by the sweep every worker runs: at start (on SQLite, a single process,
everything unprocessed is its own) and every SWEEP_SECONDS. A row that fails MAX_ATTEMPTS times is
given up, with its error kept and logged.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.transactions import in_transaction

from bot import db
from bot.extend import Periodic, add_periodic
from bot.keys import CONFIG
from bot.models import PushItem

log = logging.getLogger("nongbot.intake")

LEASE = timedelta(minutes=5)  # what a process may spend on the rows it holds before others take them
RETRY = timedelta(seconds=30)  # a row whose work failed waits this long (times its attempts)
SWEEP_SECONDS = 30.0
PRUNE_SECONDS = 3600.0
MAX_ATTEMPTS = 5
KEEP = timedelta(days=3)  # processed rows are kept this long (the providers re-push for hours at most)
CLAIM = 500  # rows per sweep claim

Handler = Callable[[web.Application, list[PushItem]], Awaitable[None]]
HANDLERS: dict[str, Handler] = {}  # provider -> the function that processes its rows


def handler(provider: str) -> Callable[[Handler], Handler]:
    """Register the function that processes a provider's rows (and marks each done)."""

    def register(fn: Handler) -> Handler:
        HANDLERS[provider] = fn
        return fn

    return register


@dataclass(frozen=True)
class Item:
    kind: str
    key: str  # unique per provider: what makes a re-push the same item
    payload: dict[str, Any]


def _now() -> datetime:
    return datetime.now(UTC)


async def store(provider: str, items: list[Item]) -> str:
    """Store a push's items in one insert (an item stored before is left as it is), held by this
    process; returns the batch name whose unprocessed rows are the ones this call stored."""
    batch = uuid.uuid4().hex
    lease = _now() + LEASE
    unique = {item.key: item for item in items}
    rows = [PushItem(provider=provider, kind=i.kind, key=i.key, payload=i.payload, batch=batch,
                     lease_until=lease, attempts=1) for i in unique.values()]
    if rows:
        await PushItem.bulk_create(rows, ignore_conflicts=True)
    return batch


async def store_one(provider: str, item: Item) -> PushItem | None:
    """Store one item, held by this process; None when it was stored before."""
    try:
        return await PushItem.create(provider=provider, kind=item.kind, key=item.key, payload=item.payload,
                                     batch=uuid.uuid4().hex, lease_until=_now() + LEASE, attempts=1)
    except IntegrityError:
        return None


async def held(batch: str) -> list[PushItem]:
    """The unprocessed rows a batch holds, oldest first."""
    return await PushItem.filter(batch=batch, processed_at__isnull=True).order_by("id")


async def still_held(row: PushItem) -> bool:
    """Renew this process's hold on a row about to be worked on; False when a sweep took it meanwhile
    (the row waited past its lease, e.g. for a free slot under a long overload) or it is done."""
    return bool(await PushItem.filter(id=row.id, batch=row.batch, processed_at__isnull=True).update(
        lease_until=_now() + LEASE))


async def done(row: PushItem) -> None:
    await PushItem.filter(id=row.id).update(processed_at=_now(), lease_until=None, error=None)


async def failed(row: PushItem, error: str) -> None:
    """Leave the row for a later sweep, after a wait that grows with its attempts."""
    await PushItem.filter(id=row.id, processed_at__isnull=True).update(
        lease_until=_now() + RETRY * max(row.attempts, 1), error=error[:300])


async def process(app: web.Application, rows: list[PushItem]) -> None:
    """Run the providers' handlers on `rows`; a handler marks each row done or failed itself, and a
    row it leaves (it raised, or was cancelled by a shutdown) waits for its lease to run out."""
    groups: dict[str, list[PushItem]] = {}
    for row in rows:
        groups.setdefault(row.provider, []).append(row)
    for provider, members in groups.items():
        work = HANDLERS.get(provider)
        if work is None:
            log.error("no handler for pushed items", extra={"provider": provider, "count": len(members)})
            continue
        try:
            await work(app, members)
        except asyncio.CancelledError:
            raise
        except Exception:  # nobody awaits this: log here or never know; the sweep tries again
            log.exception("pushed items not processed", extra={"provider": provider})


async def claim(limit: int = CLAIM) -> list[PushItem]:
    """Take unprocessed rows whose lease ran out, giving up on the ones that failed too often.
    PostgreSQL: SKIP LOCKED keeps concurrent sweeps disjoint."""
    now = _now()
    batch = uuid.uuid4().hex
    async with in_transaction() as tx:
        query = PushItem.filter(Q(lease_until__isnull=True) | Q(lease_until__lt=now), processed_at__isnull=True)
        rows = await query.order_by("id").limit(limit).select_for_update(skip_locked=True).using_db(tx)
        if not rows:
            return []
        spent = [r.id for r in rows if r.attempts >= MAX_ATTEMPTS]
        if spent:
            await PushItem.filter(id__in=spent).using_db(tx).update(processed_at=now, lease_until=None)
            log.error("pushed items given up after %d attempts", MAX_ATTEMPTS, extra={"ids": spent[:20]})
        taken = [r.id for r in rows if r.attempts < MAX_ATTEMPTS]
        if taken:
            await PushItem.filter(id__in=taken).using_db(tx).update(
                batch=batch, lease_until=now + LEASE, attempts=F("attempts") + 1)
    return await held(batch) if taken else []


async def sweep(app: web.Application) -> int:
    """Claim and process what is left over, until nothing is; returns the rows processed."""
    total = 0
    while rows := await claim():
        log.warning("processing pushed items left unprocessed", extra={"count": len(rows)})
        await process(app, rows)
        total += len(rows)
    return total


def setup_worker(app: web.Application) -> None:
    """Worker side: the sweep at start and every SWEEP_SECONDS, processed rows pruned every hour."""
    app.cleanup_ctx.append(release_ctx)
    add_periodic(app, Periodic("pushed-items sweep", SWEEP_SECONDS, sweep))
    add_periodic(app, Periodic("pushed-items prune", PRUNE_SECONDS, prune))


async def release_ctx(app: web.Application) -> AsyncIterator[None]:
    """On SQLite (one process) the rows a previous run held are free at once, before this one serves:
    whoever held them died with it."""
    if not db.is_postgres(app[CONFIG].database.url):
        await PushItem.filter(processed_at__isnull=True, lease_until__not_isnull=True).update(lease_until=None)
    yield


async def prune(app: web.Application) -> int:
    """Forget rows processed more than KEEP ago."""
    return await PushItem.filter(processed_at__lt=_now() - KEEP).delete()
