"""Job notices: check rows (CSV or JSON) with located errors, store them, say which are current,
verify or withdraw one."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from bot.labour.fields import JobError, date_field, text_field
from bot.labour.models import Job
from content import tabular

COLUMNS = ("employer", "work_type", "place", "wage", "pay_terms", "headcount", "start_date", "end_date",
           "contact", "expires_on", "verified_by")
REQUIRED = ("employer", "work_type", "place", "wage", "contact", "expires_on")
HEADER_ALIASES = {"用工单位": "employer", "招工单位": "employer", "雇主": "employer", "工种": "work_type",
                  "地点": "place", "工作地点": "place", "工资": "wage", "待遇": "wage", "结算方式": "pay_terms",
                  "工资结算": "pay_terms", "人数": "headcount", "招工人数": "headcount", "开工日期": "start_date",
                  "开始日期": "start_date", "结束日期": "end_date", "联系方式": "contact", "联系电话": "contact",
                  "有效期至": "expires_on", "截止日期": "expires_on", "核实人": "verified_by",
                  "核实单位": "verified_by"}
LIMITS = {"employer": 100, "work_type": 30, "place": 50, "wage": 50, "pay_terms": 100, "contact": 50,
          "verified_by": 50}
MAX_HEADCOUNT = 10_000
MAX_AHEAD = timedelta(days=366)  # a notice valid for more than a year is a typo, not a job
MAX_WAGE_NUMBER = 200_000  # yuan: "300元/天", "6000-8000元/月"; anything bigger is a slip of the keyboard


@dataclass
class JobReport:
    created: int = 0
    updated: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (where: "jobs.csv:4" or "[2]", message)
    ids: list[int] = field(default_factory=list)
    verified_ids: list[int] = field(default_factory=list)  # stored rows that are verified and current

    def error_lines(self) -> list[str]:
        return [f"{where}: {message}" for where, message in self.errors]


_PHONE = re.compile(r"\d{7,12}")
_NUMBER = re.compile(r"(-?)(\d+(?:\.\d+)?)")


def _text(values: Mapping[str, Any], name: str) -> str:
    return text_field(values, name, LIMITS.get(name))


def parse_job(values: Mapping[str, Any], today: date) -> dict[str, Any]:
    """One CSV row or JSON object -> Job fields; raises JobError naming the first bad field."""
    if not isinstance(values, Mapping):
        raise JobError("expected an object with the job's fields")
    unknown = sorted(k for k in values if k not in COLUMNS and k is not None)
    if unknown:
        raise JobError(f"unknown field {', '.join(unknown)} (expected {', '.join(COLUMNS)})")
    out: dict[str, Any] = {name: _text(values, name) for name in LIMITS}
    for name in REQUIRED:
        if name != "expires_on" and not out[name]:
            raise JobError(f"{name}: missing")
    wage_numbers = _NUMBER.findall(out["wage"])
    if not wage_numbers:
        raise JobError(f"wage: needs an amount, e.g. 300元/天, got {out['wage']!r}")
    if any(sign and out["wage"].lstrip().startswith("-") for sign, _ in wage_numbers[:1]):
        raise JobError(f"wage: negative amount {out['wage']!r}")
    if max(float(n) for _, n in wage_numbers) > MAX_WAGE_NUMBER or all(float(n) == 0 for _, n in wage_numbers):
        raise JobError(f"wage: not a believable amount {out['wage']!r}")
    if not _PHONE.search(re.sub(r"[\s\-－]", "", out["contact"])):
        raise JobError(f"contact: needs a phone number, got {out['contact']!r}")
    raw_count = values.get("headcount")
    if raw_count is None or (isinstance(raw_count, str) and not raw_count.strip()):
        out["headcount"] = 1
    else:
        try:
            if isinstance(raw_count, bool) or (isinstance(raw_count, float) and not raw_count.is_integer()):
                raise ValueError
            count = int(str(raw_count).strip().removesuffix("人"))
        except ValueError:
            raise JobError(f"headcount: expected a whole number, got {raw_count!r}") from None
        if not 1 <= count <= MAX_HEADCOUNT:
            raise JobError(f"headcount: expected 1 to {MAX_HEADCOUNT}, got {count}")
        out["headcount"] = count
    out["start_date"] = date_field(values, "start_date")
    out["end_date"] = date_field(values, "end_date")
    expires = date_field(values, "expires_on")
    if expires is None:
        raise JobError("expires_on: missing (the last day the notice may be shown)")
    if expires < today:
        raise JobError(f"expires_on: {expires.isoformat()} has already passed")
    if expires > today + MAX_AHEAD:
        raise JobError(f"expires_on: {expires.isoformat()} is more than a year ahead")
    start, end = out["start_date"], out["end_date"]
    if start and end and end < start:
        raise JobError(f"end_date: {end.isoformat()} is before start_date {start.isoformat()}")
    if end and end < today:
        raise JobError(f"end_date: {end.isoformat()} has already passed")
    if end and expires > end:
        raise JobError(f"expires_on: {expires.isoformat()} is after the work ends ({end.isoformat()})")
    out["expires_on"] = expires
    return out


def _key(values: Mapping[str, Any]) -> tuple[str, str, str, date | None]:
    """The same employer, work and place starting the same day is one notice: update, not duplicate."""
    return values["employer"], values["work_type"], values["place"], values["start_date"]


async def store_jobs(rows: Iterable[tuple[str, Mapping[str, Any]]], today: date) -> JobReport:
    """Validate (where, values) pairs; keep the good ones (later duplicates win), report the others."""
    report = JobReport()
    good: dict[tuple[str, str, str, date | None], dict[str, Any]] = {}
    for where, values in rows:
        try:
            parsed = parse_job(values, today)
        except JobError as exc:
            report.errors.append((where, str(exc)))
            continue
        good[_key(parsed)] = parsed
    async with in_transaction():
        for values in good.values():
            existing = await Job.filter(
                employer=values["employer"], work_type=values["work_type"], place=values["place"],
                start_date=values["start_date"],
            ).order_by("-id").first()
            if existing is None:
                job = await Job.create(**values)
                report.created += 1
            else:
                job = existing
                for name, value in values.items():
                    setattr(job, name, value)
                await job.save()
                report.updated += 1
            report.ids.append(job.id)
            if job.verified_by:
                report.verified_ids.append(job.id)
    return report


def read_sheet(data: bytes) -> tabular.Sheet:
    """A job file's bytes (COLUMNS or their Chinese names, header on line 1), read as every import
    reads (content/tabular.py): the command line and the console's upload both read files here."""
    return tabular.read_csv(data, columns=COLUMNS, required=REQUIRED, aliases=HEADER_ALIASES, extra="error")


async def import_csv(path: Path, today: date) -> JobReport:
    """`nongbot import jobs FILE.csv`: columns as COLUMNS (or their Chinese names), header on line 1,
    read as every import reads (content/tabular.py)."""
    data = await asyncio.to_thread(path.read_bytes)
    sheet = read_sheet(data)
    bad = [(f"{path}:{e.line}", e.message) for e in sheet.errors]
    report = await store_jobs(((f"{path}:{line}", row) for line, row in sheet.rows), today)
    report.errors = sorted(bad + report.errors, key=lambda e: int(e[0].rsplit(":", 1)[1]))
    return report


def is_open(job: Job, today: date) -> bool:
    """Neither expired nor finished by today (the county's date)."""
    return job.expires_on >= today and (job.end_date is None or job.end_date >= today)


def _open(today: date) -> QuerySet[Job]:
    return Job.filter(Q(end_date__isnull=True) | Q(end_date__gte=today), expires_on__gte=today)


def current(today: date) -> QuerySet[Job]:
    """Verified notices still open today: the only ones anyone sees."""
    return _open(today).exclude(verified_by="")


def unverified(today: date) -> QuerySet[Job]:
    """Open notices nobody has verified yet: stored, shown to no villager."""
    return _open(today).filter(verified_by="")


def expired(today: date) -> QuerySet[Job]:
    return Job.filter(Q(expires_on__lt=today) | Q(end_date__lt=today))


async def open_job(job_id: int, today: date) -> Job | None:
    return await current(today).filter(id=job_id).first()


async def verify_job(job_id: int, verified_by: str, today: date) -> Job:
    """Mark a notice verified (shown to villagers, pushed once when the caller emits
    JOBS_VERIFIED). Raises LookupError for an unknown job, JobError when it is no longer open."""
    job = await Job.get_or_none(id=job_id)
    if job is None:
        raise LookupError("no such job")
    if not is_open(job, today):
        raise JobError(f"expires_on: {job.expires_on.isoformat()} has already passed")
    name = verified_by.strip()[:LIMITS["verified_by"]]
    if not name:
        raise JobError("verified_by: missing")
    job.verified_by = name
    await job.save(update_fields=["verified_by"])
    return job


async def withdraw_job(job_id: int) -> Job:
    """Take a notice down: it becomes unverified again, so no villager sees it and it is not pushed
    (a notice pushed before is never pushed again). Raises LookupError for an unknown job."""
    job = await Job.get_or_none(id=job_id)
    if job is None:
        raise LookupError("no such job")
    job.verified_by = ""
    await job.save(update_fields=["verified_by"])
    return job
