"""The delivery engine: claim due rows in batches, send them within rate limits and quiet hours,
record each result, retry what may succeed later, and reconcile rows a dead worker left behind."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from bot import consent, db
from bot.channels.base import Reconciler, SendResult, reconcile
from bot.config import Config
from bot.keys import CONFIG, METRICS, SENDERS
from bot.models import Subscriber
from bot.sms import segments
from broadcasts import batch, quiet_hours, service
from broadcasts.models import Broadcast, BroadcastRun, Delivery
from broadcasts.ratelimit import SharedBucket, TokenBucket

log = logging.getLogger("nongbot.dispatcher")
BULK = 10  # Delivery.priority of broadcasts; anything lower (replies) goes first, even in quiet hours
MAX_BACKOFF = timedelta(hours=1)
CONCURRENCY = 32
RUN_STATE_TTL = 0.25
WORKER = f"{socket.gethostname()}:{os.getpid()}"[:64]
IN_DOUBT = "in_doubt"  # Delivery.error_code of a row whose last attempt may have reached the provider


@dataclass(frozen=True)
class DeliveryJob:
    """A delivery row this worker claimed (state "sending", leased), with what sending it needs."""

    id: int
    run_id: int
    subscriber_id: int
    channel: str
    priority: int
    attempts: int
    due_at: datetime
    in_doubt: bool = False  # the last attempt may have reached the provider: look it up before sending


class Dispatcher:
    def __init__(self, app: web.Application) -> None:
        self.app = app
        self.config: Config = app[CONFIG]
        self._postgres = db.is_postgres(self.config.database.url)
        # Several workers share one database (and one limit) only on PostgreSQL.
        bucket = SharedBucket if self._postgres else TokenBucket
        self.buckets = {"sms": bucket("sms", self.config.broadcasts.sms_rate),
                        "wechat": bucket("wechat", self.config.broadcasts.wechat_rate)}
        self._texts: dict[int, tuple[str, str]] = {}  # run id -> (text, kind)
        self._run_states: dict[int, tuple[float, str]] = {}  # run id -> (checked at, state)

    async def run_forever(self) -> None:
        if not self._postgres:
            await self.reclaim(everything=True)  # one process: whatever was "sending" died with it
        ticks = 0
        while True:
            try:
                if ticks % 10 == 0:
                    await self.reclaim()
                done = await self.tick()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away for a moment: try again shortly
                log.exception("dispatcher tick failed")
                done = 0
            ticks += 1
            if not done:
                await asyncio.sleep(self.config.broadcasts.poll_seconds)

    async def tick(self) -> int:
        jobs = await self.claim()
        if jobs:
            addresses = {
                row["id"]: row for row in await Subscriber.filter(id__in=[j.subscriber_id for j in jobs]).values(
                    "id", "phone", "wechat_openid", "status", "opted_out_at")
            }
            # Providers that take many numbers at once get them together first.
            jobs = await batch.send_in_bulk(self, self.app[SENDERS].get("sms"), jobs, addresses)
            limit = asyncio.Semaphore(CONCURRENCY)

            async def one(job: DeliveryJob) -> None:
                async with limit:
                    await self.deliver(job, addresses.get(job.subscriber_id))

            await asyncio.gather(*(one(j) for j in jobs))
        await self.finish()
        return len(jobs)

    async def claim(self) -> list[DeliveryJob]:
        """Mark a batch `sending` (committed) before any provider call. PostgreSQL: SKIP LOCKED lets
        several workers take disjoint batches; SQLite: one process, serialised by its connection."""
        now = datetime.now(UTC)
        quiet = quiet_hours.is_quiet(self.config.sms.quiet_hours, now, self.config.tz)
        runs = await BroadcastRun.filter(state="sending").values_list("id", flat=True)
        if not runs:
            return []
        async with in_transaction() as tx:
            query = Delivery.filter(state="queued", due_at__lte=now, run_id__in=runs)
            if quiet:
                query = query.filter(priority__lt=BULK)
            # Model rows, not .values(): Tortoise 1.1.9 silently drops FOR UPDATE from values() queries.
            rows = await (query.order_by("priority", "due_at", "id").limit(self.config.broadcasts.batch_size)
                          .select_for_update(skip_locked=True).using_db(tx))
            if not rows:
                return []
            lease = now + timedelta(seconds=self.config.broadcasts.lease_seconds)
            await Delivery.filter(id__in=[r.id for r in rows]).using_db(tx).update(
                state="sending", lease_until=lease, attempts=F("attempts") + 1, claimed_by=WORKER)
        return [DeliveryJob(r.id, r.run_id, r.subscriber_id, r.channel, r.priority, r.attempts + 1, r.due_at,
                    r.error_code == IN_DOUBT) for r in rows]

    async def text_for(self, run_id: int) -> str:
        return (await self.message(run_id))[0]

    async def message(self, run_id: int) -> tuple[str, str]:
        """The run's (text, kind), read once per run."""
        if run_id not in self._texts:
            run = await BroadcastRun.get(id=run_id)
            broadcast = await Broadcast.get(id=run.broadcast_id)
            self._texts[run_id] = (run.text if run.text is not None else broadcast.text, broadcast.kind)
        return self._texts[run_id]

    async def run_state(self, run_id: int) -> str:
        """A run's state, re-read at most every RUN_STATE_TTL: pause and cancel apply mid-batch."""
        loop = asyncio.get_running_loop()
        checked = self._run_states.get(run_id)
        if checked is None or loop.time() - checked[0] > RUN_STATE_TTL:
            state = await BroadcastRun.get(id=run_id).values_list("state", flat=True)
            checked = (loop.time(), str(state))
            self._run_states[run_id] = checked
        return checked[1]

    async def _still_on(self, job: DeliveryJob) -> bool:
        """False (and the row handed back, or skipped if cancelled) when the run stopped meanwhile."""
        state = await self.run_state(job.run_id)
        if state == "sending":
            return True
        await Delivery.filter(id=job.id, state="sending").update(
            state="queued" if state == "paused" else "skipped", lease_until=None,
            attempts=max(job.attempts - 1, 0), error=None if state == "paused" else state)
        return False

    async def deliver(self, job: DeliveryJob, who: dict[str, Any] | None) -> None:
        if not await self._still_on(job):  # paused or cancelled after the batch was claimed
            return
        if who is None or who["status"] != "active":
            await Delivery.filter(id=job.id).update(state="skipped", error="opted out before sending")
            return
        address = who["phone"] if job.channel == "sms" else who["wechat_openid"]
        text, kind = await self.message(job.run_id)
        sender = self.app[SENDERS][job.channel]
        cost = segments(self.config.sms.signature + text) if job.channel == "sms" else 1
        await self.pace(job.channel, cost)
        if not await self._still_on(job):  # it may have waited a while for the rate limit
            return
        if job.in_doubt:  # the last attempt may have gone through: never send it twice
            since = job.due_at - self._backoff(job.attempts - 1) - timedelta(minutes=1)
            found = await reconcile(sender, address, self.config.sms.signature + text if job.channel == "sms"
                                    else text, since)
            if found is not None:
                log.warning("delivery in doubt found at the provider, not resent", extra={"delivery": job.id})
                await self.record(job, found)
                return
        try:
            result = await sender.send(address, text, kind=kind)
        except Exception as exc:  # a bug in a provider module: fail this row, keep the engine alive
            log.exception("send raised", extra={"delivery": job.id})
            result = SendResult("failed", error=str(exc)[:300])
        await self.record(job, result)

    async def pace(self, channel: str, cost: float) -> None:
        """Wait for `cost` under the channel's rate limit."""
        await self.buckets[channel].take(cost)

    async def record(self, job: DeliveryJob, result: SendResult) -> None:
        now = datetime.now(UTC)
        self.app[METRICS].outbound.labels(job.channel, result.status).inc()
        if result.status != "failed":
            await Delivery.filter(id=job.id).update(state="sent", provider_id=result.provider_id, sent_at=now,
                                                    lease_until=None, error=None, error_code=None)
            return
        error = (result.error or "")[:300]
        if result.retryable and job.attempts < self.config.broadcasts.max_attempts:
            # An attempt in doubt is marked so, and whoever claims the row next looks it up first.
            await Delivery.filter(id=job.id).update(
                state="queued", due_at=now + self._backoff(job.attempts), lease_until=None,
                error_code=IN_DOUBT if result.in_doubt else result.error_code, error=error)
            return
        await Delivery.filter(id=job.id).update(state="failed", lease_until=None, error_code=result.error_code,
                                                error=error or "failed")

    def _backoff(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt."""
        return min(timedelta(seconds=self.config.broadcasts.retry_base_seconds * 2 ** max(attempts - 1, 0)),
                   MAX_BACKOFF)

    async def reclaim(self, everything: bool = False) -> int:
        """Rows left `sending` by a worker that died: ask the provider whether it got them (Twilio
        keeps a log), then mark them sent, or queue them again (or fail them, per config)."""
        now = datetime.now(UTC)
        query = Delivery.filter(state="sending")
        if not everything:
            query = query.filter(lease_until__lt=now)
        orphans = await query.limit(1000).values("id", "run_id", "subscriber_id", "channel", "updated_at")
        for row in orphans:
            sender = self.app[SENDERS][row["channel"]]
            who = await Subscriber.get_or_none(id=row["subscriber_id"])
            address = (who.phone if row["channel"] == "sms" else who.wechat_openid) if who else None
            keeps_log = isinstance(sender, Reconciler)
            found = None
            if address and keeps_log:
                body = self.config.sms.signature + await self.text_for(row["run_id"])
                found = await reconcile(sender, address, body, row["updated_at"] - timedelta(minutes=5))
            if found is not None:
                await Delivery.filter(id=row["id"], state="sending").update(
                    state="sent", provider_id=found.provider_id, sent_at=now, lease_until=None)
            elif not keeps_log and self.config.broadcasts.unknown_policy == "fail":
                await Delivery.filter(id=row["id"], state="sending").update(
                    state="failed", error_code="unknown", error="fate unknown after a crash; not resent (policy)")
            else:
                await Delivery.filter(id=row["id"], state="sending").update(
                    state="queued", lease_until=None, due_at=now,
                    error_code=None if keeps_log else "unknown",
                    error=None if keeps_log else "fate unknown after a crash; resent (policy)")
        if orphans:
            log.warning("reclaimed deliveries", extra={"count": len(orphans)})
        return len(orphans)

    async def finish(self) -> None:
        recurring = {row["id"]: bool(row["schedule"]) and "at" not in row["schedule"]
                     for row in await Broadcast.filter(state="sending").values("id", "schedule")}
        await service.finish_runs(recurring)


async def delivery_status(channel: str, provider_id: str, status: str, code: str | None) -> bool:
    """A provider's delivery report for a broadcast message (the channels call this for ids that are
    not in the message log). Returns whether it matched a delivery."""
    final = {"delivered": "delivered", "undelivered": "failed", "failed": "failed", "read": "delivered"}
    updated = 0
    if status in final:
        updated = await Delivery.filter(channel=channel, provider_id=provider_id, state="sent").update(
            state=final[status], error_code=code)
    exists = updated or await Delivery.filter(channel=channel, provider_id=provider_id).exists()
    if code == "21610":
        row = await Delivery.get_or_none(channel=channel, provider_id=provider_id)
        if row is not None:
            subscriber = await Subscriber.get(id=row.subscriber_id)
            await consent.opt_out(subscriber, channel, "twilio:21610")
    return bool(exists)
