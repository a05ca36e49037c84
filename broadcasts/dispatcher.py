"""The delivery engine: claim due rows in batches, send them within rate limits and quiet hours,
record each result, retry what may succeed later, and reconcile rows a dead worker left behind.

How a batch goes (issue 21: cheap per delivery, and still exactly once):
1. claim(): one statement marks up to batch_size due rows `sending`, leased to this worker
   (claimed_by, lease_until) and their attempt counted; committed before any provider call.
2. Each row is sent; its outcome is kept in memory (record()) and written with others by flush()
   (store.record: one statement per kind of outcome), every FLUSH_SECONDS by the batch's keeper and
   at the end of the batch. tick() returns only once every outcome of its batch is written (it waits
   for a write already under way), and nothing is claimed or reclaimed while an earlier write is
   still owed: run_forever() and tick() flush first.
3. While a batch is out, the keeper pushes the lease of every row this worker still holds (claimed,
   outcome not yet written) forward every lease_seconds / 3. So a row never looks abandoned while
   its worker lives and reaches the database, whatever the batch's length (a slow provider, a low
   rate limit, a loaded machine). A provider call starts only while the lease is known to hold for
   at least lease_seconds / 2 more (a send that finds it older than a third renews it first, should
   the keeper lag); if the database cannot confirm that, the row is handed back untried.
4. Every write names its claim (still `sending`, this worker, this attempt): a late write never
   undoes what someone else settled, and a write repeated after it was cut off changes nothing.

The crash window, point by point (kill -9, power loss, the database gone for a while):
- Before claim() commits: nothing happened; the rows are still `queued`.
- After claim(), before the provider call: the rows stay `sending` until their lease runs out;
  reclaim() (any worker, or this one restarted) asks the provider's log, finds nothing, and queues
  them again: sent once, later.
- During or after the provider call, before the outcome is written (at most FLUSH_SECONDS plus one
  write, or longer if the database is away): the rows stay `sending`, exactly as one row did before
  batching (sent, not yet recorded), only more of them. After the lease, reclaim() asks a provider
  that keeps a log (Twilio, the Alibaba Cloud ledger) and marks a row it finds `sent`: never resent.
  For a provider without a log `broadcasts.unknown_policy` decides (resend, or fail), as before;
  a clean stop (SIGTERM) writes what was sent, so only a hard kill leaves rows of unknown fate:
  at most CONCURRENCY in flight plus the outcomes of the last FLUSH_SECONDS.
- Nobody reclaims a live worker's rows: their lease is renewed (3.), reclaim() only takes rows
  whose lease ran out, and never the rows this process holds. If the database is unreachable for
  longer than the lease, this worker stops calling the provider (3.) while half the lease is left
  (a send started then ends within the provider's timeout: seconds, against a 120 s lease), and
  its late writes are refused (4.), so a row another worker took over is decided once, by it.
- Lost: nothing. A row is `queued`, `sending` (settled by reclaim() after its lease) or settled.
  Doubled: nothing through the engine. A provider log that does not answer raises LookupFailed
  (bot/channels/twilio.py find_sent), never reads as "not sent": the row waits and is looked up again.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import os
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, cast

from aiohttp import web

from bot import consent, db
from bot.channels.base import Reconciler, SendResult, reconcile
from bot.config import Config
from bot.keys import CONFIG, METRICS, SENDERS
from bot.models import Subscriber
from bot.sms import segments
from broadcasts import batch, quiet_hours, service, store
from broadcasts.models import Broadcast, BroadcastRun, Delivery
from broadcasts.ratelimit import SharedBucket, TokenBucket

log = logging.getLogger("nongbot.dispatcher")
BULK = 10  # Delivery.priority of broadcasts; anything lower (replies) goes first, even in quiet hours
MAX_BACKOFF = timedelta(hours=1)
CONCURRENCY = 32
RUN_STATE_TTL = 0.25
FLUSH_SECONDS = 0.2  # outcomes are written at least this often while a batch is out
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
    attempts: int  # counting this attempt
    due_at: datetime
    error_code: str | None = None  # as the row held it when claimed

    @property
    def in_doubt(self) -> bool:
        """The last attempt may have reached the provider: look it up before sending."""
        return self.error_code == IN_DOUBT


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
        self._state_read = asyncio.Lock()  # one read of a run's state at a time, not one per send
        self._held: dict[int, int] = {}  # delivery id -> attempts: claimed here, outcome not yet written
        self._outcomes: dict[int, store.Outcome] = {}  # delivery id -> outcome recorded, not yet written
        self._write = asyncio.Lock()  # one write of outcomes or leases at a time
        self._renewed_at = 0.0  # loop time the held rows' lease was last set (claim or renewal)

    async def run_forever(self) -> None:
        if not self._postgres:
            await self.reclaim(everything=True)  # one process: whatever was "sending" died with it
        ticks = 0
        while True:
            try:
                await self.flush()  # outcomes a failed write left: written before anything else is taken
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
        """Claim a batch, send it, and return once every outcome of it is written."""
        await self.flush()
        jobs = await self.claim()
        if jobs:
            addresses = {
                row["id"]: row for row in await Subscriber.filter(id__in=[j.subscriber_id for j in jobs]).values(
                    "id", "phone", "wechat_openid", "status", "opted_out_at")
            }
            limit = asyncio.Semaphore(CONCURRENCY)

            async def one(job: DeliveryJob) -> None:
                async with limit:
                    try:
                        await self.deliver(job, addresses.get(job.subscriber_id))
                    except Exception:  # the database, mostly: its fate is settled by reclaim() after the lease
                        log.exception("delivery not finished", extra={"delivery": job.id})

            keeper = asyncio.create_task(self._keep())
            try:
                # Providers that take many numbers at once get them together first.
                rest = await batch.send_in_bulk(self, self.app[SENDERS].get("sms"), jobs, addresses)
                await asyncio.gather(*(one(j) for j in rest))
            except asyncio.CancelledError:  # shutting down: still write what was sent
                await self._stop(keeper)
                try:
                    await asyncio.wait_for(self.flush(), 5)
                except Exception:
                    log.exception("outcomes not written at shutdown; reclaim settles those rows")
                raise
            await self._stop(keeper)
            for job in jobs:  # a row left without an outcome (an error): reclaim() settles it after its lease
                if job.id not in self._outcomes:
                    self._held.pop(job.id, None)
            await self.flush()
        await self.finish()
        return len(jobs)

    async def claim(self) -> list[DeliveryJob]:
        """Mark a batch `sending` (committed) before any provider call. PostgreSQL: SKIP LOCKED lets
        several workers take disjoint batches; SQLite: one process, and one statement is atomic."""
        now = datetime.now(UTC)
        quiet = quiet_hours.is_quiet(self.config.sms.quiet_hours, now, self.config.tz)
        runs = await BroadcastRun.filter(state="sending").values_list("id", flat=True)
        if not runs:
            return []
        started = asyncio.get_running_loop().time()
        lease = now + timedelta(seconds=self.config.broadcasts.lease_seconds)
        rows = await store.claim(cast(list[int], runs), now, lease, WORKER, self.config.broadcasts.batch_size,
                                 below_priority=BULK if quiet else None, postgres=self._postgres)
        if rows:
            self._renewed_at = started
            self._held.update((r.id, r.attempts) for r in rows)
        return [DeliveryJob(r.id, r.run_id, r.subscriber_id, r.channel, r.priority, r.attempts, r.due_at,
                            r.error_code) for r in rows]

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
        state = self._fresh_state(run_id)
        if state is None:
            async with self._state_read:  # the sends waiting here take the state the first one read
                state = self._fresh_state(run_id)
                if state is None:
                    state = str(await BroadcastRun.get(id=run_id).values_list("state", flat=True))
                    self._run_states[run_id] = (asyncio.get_running_loop().time(), state)
        return state

    def _fresh_state(self, run_id: int) -> str | None:
        checked = self._run_states.get(run_id)
        if checked is None or asyncio.get_running_loop().time() - checked[0] > RUN_STATE_TTL:
            return None
        return checked[1]

    async def _still_on(self, job: DeliveryJob) -> bool:
        """False (and the row handed back, or skipped if cancelled) when the run stopped meanwhile."""
        state = await self.run_state(job.run_id)
        if state == "sending":
            return True
        if state == "paused":
            self._hand_back(job, job.due_at)
        else:
            self._keep_outcome(store.Outcome(job.id, job.attempts, "skipped", attempts=max(job.attempts - 1, 0),
                                             error=state))
        return False

    def _hand_back(self, job: DeliveryJob, due: datetime) -> None:
        """The row goes back to `queued` untried (its attempt given back, its error code kept)."""
        self._keep_outcome(store.Outcome(job.id, job.attempts, "queued", at=due, attempts=max(job.attempts - 1, 0),
                                         error_code=job.error_code))

    def _lease_age(self) -> float:
        """Seconds since the lease of the rows held here was last set (claimed or renewed)."""
        return asyncio.get_running_loop().time() - self._renewed_at

    async def _lease_holds(self) -> bool:
        """Whether the lease of the rows held here surely lasts lease_seconds / 2 more; renewed first
        when it is older than a third of it (the keeper may lag behind on a loaded machine)."""
        if self._lease_age() >= self.config.broadcasts.lease_seconds / 3:
            try:
                await self.renew()
            except Exception:  # the database does not answer: no send on an unsure lease
                log.exception("lease not renewed")
                return False
        return self._lease_age() < self.config.broadcasts.lease_seconds / 2

    async def deliver(self, job: DeliveryJob, who: dict[str, Any] | None) -> None:
        if not await self._still_on(job):  # paused or cancelled after the batch was claimed
            return
        if who is None or who["status"] != "active":
            self._keep_outcome(store.Outcome(job.id, job.attempts, "skipped", attempts=job.attempts,
                                             error="opted out before sending"))
            return
        address = who["phone"] if job.channel == "sms" else who["wechat_openid"]
        text, kind = await self.message(job.run_id)
        sender = self.app[SENDERS][job.channel]
        cost = _segments(self.config.sms.signature + text) if job.channel == "sms" else 1
        await self.pace(job.channel, cost)
        if not await self._still_on(job):  # it may have waited a while for the rate limit
            return
        if job.in_doubt:  # the last attempt may have gone through: never send it twice
            since = job.due_at - self._backoff(job.attempts - 1) - timedelta(minutes=1)
            try:
                found = await reconcile(sender, address, self.config.sms.signature + text if job.channel == "sms"
                                        else text, since)
            except Exception:  # the provider's log did not answer: unknown is not "not sent"
                log.warning("delivery in doubt not looked up; asked again later", extra={"delivery": job.id})
                self._hand_back(job, datetime.now(UTC) + self._backoff(job.attempts))
                return
            if found is not None:
                log.warning("delivery in doubt found at the provider, not resent", extra={"delivery": job.id})
                await self.record(job, found)
                return
        if not await self._lease_holds():  # the database has not confirmed our lease lately: do not send
            log.warning("lease not renewed; delivery handed back", extra={"delivery": job.id})
            self._hand_back(job, job.due_at)
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
        """Keep the outcome of a send; flush() writes it with others (every FLUSH_SECONDS while the
        batch is out, and before tick() returns)."""
        now = datetime.now(UTC)
        self.app[METRICS].outbound.labels(job.channel, result.status).inc()
        error = (result.error or "")[:300]
        if result.status != "failed":
            outcome = store.Outcome(job.id, job.attempts, "sent", provider_id=result.provider_id, at=now)
        elif result.retryable and job.attempts < self.config.broadcasts.max_attempts:
            # An attempt in doubt is marked so, and whoever claims the row next looks it up first.
            outcome = store.Outcome(job.id, job.attempts, "queued", at=now + self._backoff(job.attempts),
                                    attempts=job.attempts,
                                    error_code=IN_DOUBT if result.in_doubt else result.error_code, error=error)
        else:
            outcome = store.Outcome(job.id, job.attempts, "failed", error_code=result.error_code,
                                    error=error or "failed")
        self._keep_outcome(outcome)

    def _keep_outcome(self, outcome: store.Outcome) -> None:
        self._outcomes[outcome.delivery_id] = outcome

    async def flush(self) -> None:
        """Write the outcomes kept so far; they are forgotten only once written (a write cut off is
        made again, harmlessly: see store). Waits for a write already under way."""
        async with self._write:
            if not self._outcomes:
                return
            outcomes = list(self._outcomes.values())
            await store.record(outcomes, WORKER, self._postgres)
            for outcome in outcomes:
                del self._outcomes[outcome.delivery_id]
                self._held.pop(outcome.delivery_id, None)

    async def renew(self) -> None:
        """Push the lease of every row held here (claimed, outcome not yet written) forward."""
        async with self._write:
            if not self._held or self._lease_age() < self.config.broadcasts.lease_seconds / 3:
                return  # nothing held, or renewed meanwhile (by the keeper or another send)
            started = asyncio.get_running_loop().time()
            lease = datetime.now(UTC) + timedelta(seconds=self.config.broadcasts.lease_seconds)
            await store.renew(list(self._held), WORKER, lease, self._postgres)
            self._renewed_at = started

    async def _keep(self) -> None:
        """While a batch is out: write outcomes every FLUSH_SECONDS, renew the lease every third of it."""
        while True:
            await asyncio.sleep(FLUSH_SECONDS)
            try:
                await self.flush()
                await self.renew()  # when a third of the lease has gone
            except Exception:  # the rows stay ours until the lease runs out; sends stop before it does
                log.exception("outcomes or lease not written; tried again shortly")

    async def _stop(self, keeper: asyncio.Task[None]) -> None:
        """Stop the keeper between two writes, never in the middle of one."""
        async with self._write:
            keeper.cancel()
        await asyncio.gather(keeper, return_exceptions=True)

    def _backoff(self, attempts: int) -> timedelta:
        """The wait after the `attempts`-th failed attempt."""
        return min(timedelta(seconds=self.config.broadcasts.retry_base_seconds * 2 ** max(attempts - 1, 0)),
                   MAX_BACKOFF)

    async def reclaim(self, everything: bool = False) -> int:
        """Rows left `sending` by a worker that died (their lease ran out; never the rows this process
        holds): ask the provider whether it got them (Twilio keeps a log), then mark them sent, or
        queue them again (or fail them, per config). A lookup that fails leaves the row for later."""
        now = datetime.now(UTC)
        query = Delivery.filter(state="sending")
        if not everything:
            query = query.filter(lease_until__lt=now)
        orphans = [row for row in await query.limit(1000).values("id", "run_id", "subscriber_id", "channel",
                                                                 "updated_at")
                   if row["id"] not in self._held]
        for row in orphans:
            sender = self.app[SENDERS][row["channel"]]
            who = await Subscriber.get_or_none(id=row["subscriber_id"])
            address = (who.phone if row["channel"] == "sms" else who.wechat_openid) if who else None
            keeps_log = isinstance(sender, Reconciler)
            found = None
            if address and keeps_log:
                body = self.config.sms.signature + await self.text_for(row["run_id"])
                try:
                    found = await reconcile(sender, address, body, row["updated_at"] - timedelta(minutes=5))
                except Exception:  # unknown is not "not sent": the row waits for the next reclaim
                    log.warning("orphaned delivery not looked up; asked again later", extra={"delivery": row["id"]})
                    continue
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


@functools.lru_cache(maxsize=256)
def _segments(text: str) -> int:
    """A text's SMS segments: every recipient of a run costs the same, counted once."""
    return segments(text)


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
