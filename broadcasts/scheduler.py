"""Wakes broadcasts at their times: APScheduler jobs rebuilt from the database (the truth), run by
one elected process, with missed firings sent late once within the grace window or recorded."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
from aiohttp import web
from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.date import DateTrigger

from bot import db
from bot.config import Config
from bot.keys import CONFIG
from broadcasts import schedules, service
from broadcasts.models import Broadcast, BroadcastRun

log = logging.getLogger("nongbot.scheduler")
SYNC_SECONDS = 2.0
MAX_SKIPPED_RECORDS = 50


class Scheduler:
    def __init__(self, app: web.Application) -> None:
        self.config: Config = app[CONFIG]
        self.aps = AsyncIOScheduler(timezone=self.config.tz, job_defaults={
            "coalesce": True, "max_instances": 1,
            "misfire_grace_time": self.config.broadcasts.grace_minutes * 60})
        self.leader = False
        self._lock_conn: asyncpg.Connection | None = None
        self._known: dict[int, str] = {}  # broadcast id -> version its jobs were built from
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Re-read the database now (an approval in this process need not wait for the next sync)."""
        self._wake.set()

    async def run_forever(self) -> None:
        self.aps.start()
        try:
            while True:
                try:
                    if not self.leader:
                        self.leader = await self._elect()
                        if self.leader:
                            log.info("this process runs the scheduler")
                    if self.leader:
                        await self.sync()
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("scheduler sync failed")
                    await self._resign()
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(SYNC_SECONDS):
                        await self._wake.wait()
                self._wake.clear()
        finally:
            self.aps.shutdown(wait=False)
            await asyncio.sleep(0)  # let APScheduler actually stop (stack-notes §0.10)
            await self._resign()

    async def _elect(self) -> bool:
        """SQLite: one process does everything. PostgreSQL: whoever holds the advisory lock, on a
        dedicated connection (a pooled one drops it at once); if that process dies, so does the lock."""
        url = self.config.database.url
        if not db.is_postgres(url):
            return True
        if self._lock_conn is None or self._lock_conn.is_closed():
            self._lock_conn = await asyncpg.connect("postgres://" + url.split("://", 1)[1].split("?", 1)[0])
        got = await self._lock_conn.fetchval("SELECT pg_try_advisory_lock($1)", self.config.broadcasts.leader_lock)
        if got:  # an approval in another process wakes this one (broadcasts/api.py wake)
            await self._lock_conn.add_listener(service.wake_channel(self.config), self._notified)
        return bool(got)

    def _notified(self, *_: object) -> None:
        self._wake.set()

    async def _resign(self) -> None:
        self.leader = False
        self._known.clear()
        self.aps.remove_all_jobs()
        if self._lock_conn is not None:
            with contextlib.suppress(Exception):
                await self._lock_conn.close()
            self._lock_conn = None

    async def sync(self) -> None:
        if self._lock_conn is not None:
            await self._lock_conn.fetchval("SELECT 1")  # still holding the lock? (raises if the link broke)
        rows = await Broadcast.filter(state__in=("scheduled", "sending", "paused")).values(
            "id", "schedule", "approved_at")
        live = {r["id"] for r in rows}
        for gone in set(self._known) - live:
            self._drop(gone)
        for row in rows:
            # Not updated_at: state changes (scheduled -> sending) must not re-plan, let alone re-fire.
            version = f"{row['schedule']}|{row['approved_at']}"
            if self._known.get(row["id"]) == version:
                continue
            self._drop(row["id"])
            await self._plan(row)
            self._known[row["id"]] = version

    def _drop(self, broadcast_id: int) -> None:
        for job in self.aps.get_jobs():
            if job.id.startswith(f"b{broadcast_id}:"):
                job.remove()
        self._known.pop(broadcast_id, None)

    async def _plan(self, row: dict[str, Any]) -> None:
        now = datetime.now(UTC)
        plan = schedules.parse(row["schedule"], self.config.tz, row["approved_at"] or now)
        await self._catch_up(row["id"], plan, now)
        for n, trigger in enumerate(plan.triggers):
            if isinstance(trigger, DateTrigger) and trigger.run_date <= now:
                continue  # handled by _catch_up
            self.aps.add_job(self._fire, trigger, args=[row["id"], trigger], id=f"b{row['id']}:{n}",
                             replace_existing=True)

    async def _catch_up(self, broadcast_id: int, plan: schedules.Plan, now: datetime) -> None:
        """Firings that fell due while nobody was running: the latest within the grace window goes
        out now (once); older ones are recorded as skipped."""
        grace = timedelta(minutes=self.config.broadcasts.grace_minutes)
        last = await BroadcastRun.filter(broadcast_id=broadcast_id).order_by("-fire_at").first()
        since = last.fire_at if last else now - max(grace, timedelta(days=1))
        due: list[datetime] = []
        for trigger in plan.triggers:
            if isinstance(trigger, DateTrigger):
                if trigger.run_date <= now and (last is None or trigger.run_date > since):
                    due.append(trigger.run_date)
                continue
            moment = trigger.get_next_fire_time(None, since + timedelta(seconds=1))
            while moment is not None and moment <= now and len(due) < MAX_SKIPPED_RECORDS:
                due.append(moment)
                moment = trigger.get_next_fire_time(moment, moment + timedelta(seconds=1))
        for moment in sorted(due):
            late = now - moment
            if late <= grace and moment == max(due):
                await service.fire(broadcast_id, moment, self.config)
            else:
                await service.fire(broadcast_id, moment, self.config,
                                   skip_reason=f"missed by {int(late.total_seconds() // 60)} min (service down)")

    async def _fire(self, broadcast_id: int, trigger: Any) -> None:
        now = datetime.now(UTC)
        # cron fires on whole minutes; the minute identifies the firing
        moment = trigger.run_date if isinstance(trigger, DateTrigger) else now.replace(second=0, microsecond=0)
        await service.fire(broadcast_id, moment, self.config)
