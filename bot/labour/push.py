"""Push each new verified job once to the opted-in workers it fits, at most their daily number of labour pushes."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot import sandbox
from bot.config import Config
from bot.labour.matching import local_places, worker_wants
from bot.labour.models import Job, WorkerProfile
from bot.labour.notices import current
from bot.sms import ucs2_capacity
from broadcasts.pushes import push

log = logging.getLogger("nongbot.job_push")


def push_text(job: Job, config: Config) -> str:
    """One SMS if it can be: what, where, how much, whom to call, until when."""
    terms = f"，{job.pay_terms}" if job.pay_terms else ""
    text = (f"务工信息：{job.employer}招{job.work_type}{job.headcount}人，{job.place}，{job.wage}{terms}。"
            f"电话{job.contact}，{job.expires_on.month}月{job.expires_on.day}日前有效。"
            "不交押金，先签合同。回复“找工作”看更多，TD退订。")
    budget = ucs2_capacity(config.sms.max_segments) - len(config.sms.signature)
    return text[:budget]


async def _take_slot(profile: WorkerProfile, today: date) -> bool:
    """Count one labour push for today; False when they already had their share. Conditional updates,
    so two processes pushing two jobs at once cannot both take the last slot."""
    fresh = await WorkerProfile.filter(
        Q(last_pushed_on__isnull=True) | Q(last_pushed_on__lt=today), id=profile.id,
    ).update(last_pushed_on=today, pushes_today=1)
    if fresh:
        return True
    row = await WorkerProfile.get_or_none(id=profile.id)
    if row is None or row.pushes_today >= max(row.max_pushes_per_day, 1):
        return False
    taken = await WorkerProfile.filter(id=row.id, last_pushed_on=today, pushes_today=row.pushes_today).update(
        pushes_today=row.pushes_today + 1)
    return bool(taken)


async def push_jobs(config: Config, job_ids: Iterable[int]) -> int:
    """For each job that is verified, open and not pushed before: one labour broadcast to the matching
    workers who still have a push left today. Returns how many people were pushed to."""
    today = datetime.now(config.tz).date()
    reached = 0
    for job_id in sorted(set(job_ids)):
        async with in_transaction():
            job = await current(today).filter(id=job_id, pushed_at__isnull=True).first()
            if job is None:
                continue  # expired, unverified, unknown, or pushed already
            if not await Job.filter(id=job.id, pushed_at__isnull=True).update(pushed_at=datetime.now(UTC)):
                continue  # another process took it
            profiles = await WorkerProfile.filter(
                sandbox.real("subscriber__"), active=True, subscriber__status="active",
                subscriber__topics__contains=",务工,",
            ).order_by("id")
            ids = []
            for profile in profiles:
                local = local_places(config.bot.county, profile.home_township)
                if worker_wants(job, profile, local) and await _take_slot(profile, today):
                    ids.append(profile.subscriber_id)
            await push("labour", push_text(job, config), ids)
        log.info("job pushed", extra={"job": job.id, "workers": len(ids)})
        reached += len(ids)
    return reached
