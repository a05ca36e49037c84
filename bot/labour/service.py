"""Labour notices: validate job rows (CSV or JSON) with located errors, store them, find current ones,
match them to workers, and keep worker profiles and wage-arrears warnings."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from tortoise.expressions import Q
from tortoise.transactions import in_transaction

from bot.labour.models import Job, WageArrearsNotice, WorkerProfile
from bot.models import Subscriber, pack_set, unpack_set
from content import tabular

COLUMNS = ("employer", "work_type", "place", "wage", "pay_terms", "headcount", "start_date", "end_date",
           "contact", "expires_on", "verified_by")
REQUIRED = ("employer", "work_type", "place", "wage", "contact", "expires_on")
HEADER_ALIASES = {"用工单位": "employer", "招工单位": "employer", "雇主": "employer", "工种": "work_type",
                  "地点": "place", "工作地点": "place", "工资": "wage", "待遇": "wage", "结算方式": "pay_terms",
                  "工资结算": "pay_terms", "人数": "headcount", "招工人数": "headcount", "开工日期": "start_date",
                  "开始日期": "start_date", "结束日期": "end_date", "联系方式": "contact", "联系电话": "contact",
                  "有效期至": "expires_on", "截止日期": "expires_on", "核实人": "verified_by", "核实单位": "verified_by"}
LIMITS = {"employer": 100, "work_type": 30, "place": 50, "wage": 50, "pay_terms": 100, "contact": 50,
          "verified_by": 50}
MAX_HEADCOUNT = 10_000
MAX_AHEAD = timedelta(days=366)  # a notice valid for more than a year is a typo, not a job
MAX_WAGE_NUMBER = 200_000  # yuan: "300元/天", "6000-8000元/月"; anything bigger is a slip of the keyboard
MAX_ARREARS = 100_000_000.0
ARREARS_FIELDS = ("employer", "amount", "case_status", "published_by", "published_on", "active")

# "本地" and friends mean the county (config bot.county) or the asker's own township.
LOCAL_WORDS = ("本地", "当地", "本县", "县内", "县里", "附近", "家门口", "家附近", "就近")
# Where people from the county mostly go; other places are recognised by their suffix (十堰市, 关防乡).
PLACES = ("武汉", "十堰", "襄阳", "宜昌", "荆州", "孝感", "黄石", "随州", "恩施", "郧阳", "丹江口", "竹山", "竹溪",
          "房县", "北京", "上海", "天津", "重庆", "广州", "深圳", "东莞", "佛山", "中山", "惠州", "珠海", "厦门",
          "福州", "泉州", "杭州", "宁波", "温州", "义乌", "苏州", "无锡", "常州", "南京", "昆山", "西安", "安康",
          "商洛", "郑州", "南阳", "长沙", "成都", "新疆", "广东", "浙江", "江苏", "福建", "陕西", "河南", "湖北")
PLACE_SUFFIX = re.compile(r"^.{1,8}(省|市|县|区|镇|乡|街道|开发区)$")
# A villager's word for a kind of work, and the work types on notices it should find.
WORK_ALIASES = {
    "建筑": ("建筑", "工地", "泥瓦", "瓦工", "钢筋", "木工", "架子", "小工", "装修", "水电"),
    "工地": ("建筑", "工地", "泥瓦", "瓦工", "钢筋", "木工", "架子", "小工"),
    "工厂": ("工厂", "普工", "电子厂", "流水线", "厂", "操作工"),
    "进厂": ("工厂", "普工", "电子厂", "流水线", "厂", "操作工"),
    "普工": ("普工", "工厂", "电子厂", "流水线", "操作工"),
    "家政": ("家政", "保姆", "月嫂", "育儿嫂", "护工", "保洁"),
    "保姆": ("家政", "保姆", "月嫂", "育儿嫂"),
    "采摘": ("采摘", "采茶", "摘茶", "摘果", "摘柑橘", "摘猕猴桃"),
    "采茶": ("采茶", "摘茶", "茶叶"),
    "司机": ("司机", "驾驶", "货车", "开车"),
    "厨师": ("厨师", "厨工", "帮厨", "餐饮"),
    "餐饮": ("餐饮", "厨师", "厨工", "帮厨", "服务员"),
    "保安": ("保安", "门卫"),
    "电工": ("电工", "水电"),
}


class JobError(ValueError):
    """One row or object that cannot be stored; str() names the field."""


@dataclass
class JobReport:
    created: int = 0
    updated: int = 0
    errors: list[tuple[str, str]] = field(default_factory=list)  # (where: "jobs.csv:4" or "[2]", message)
    ids: list[int] = field(default_factory=list)
    verified_ids: list[int] = field(default_factory=list)  # stored rows that are verified and current

    def error_lines(self) -> list[str]:
        return [f"{where}: {message}" for where, message in self.errors]


# --- Parsing -------------------------------------------------------------------------------------

_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")
_PHONE = re.compile(r"\d{7,12}")
_NUMBER = re.compile(r"(-?)(\d+(?:\.\d+)?)")


def parse_date(text: str) -> date:
    """'2026-03-01', '2026/3/1' (spreadsheets), '2026年3月1日'."""
    m = _DATE.match(text.strip())
    if m is None:
        raise ValueError(f"expected a date like 2026-03-01, got {text!r}")
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise ValueError(f"no such date: {text!r}") from None


def _text(values: Mapping[str, Any], name: str) -> str:
    value = values.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise JobError(f"{name}: expected text, got {type(value).__name__}")
    text = str(value).strip()
    if name in LIMITS and len(text) > LIMITS[name]:
        raise JobError(f"{name}: longer than {LIMITS[name]} characters")
    return text


def _date(values: Mapping[str, Any], name: str) -> date | None:
    text = _text(values, name)
    if not text:
        return None
    try:
        return parse_date(text)
    except ValueError as exc:
        raise JobError(f"{name}: {exc}") from None


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
            if isinstance(raw_count, bool) or isinstance(raw_count, float) and not raw_count.is_integer():
                raise ValueError
            count = int(str(raw_count).strip().removesuffix("人"))
        except ValueError:
            raise JobError(f"headcount: expected a whole number, got {raw_count!r}") from None
        if not 1 <= count <= MAX_HEADCOUNT:
            raise JobError(f"headcount: expected 1 to {MAX_HEADCOUNT}, got {count}")
        out["headcount"] = count
    out["start_date"] = _date(values, "start_date")
    out["end_date"] = _date(values, "end_date")
    expires = _date(values, "expires_on")
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


async def import_csv(path: Path, today: date) -> JobReport:
    """`nongbot import jobs FILE.csv`: columns as COLUMNS (or their Chinese names), header on line 1,
    read as every import reads (content/tabular.py)."""
    sheet = tabular.read_csv(path.read_bytes(), columns=COLUMNS, required=REQUIRED, aliases=HEADER_ALIASES,
                             extra="error")
    bad = [(f"{path}:{e.line}", e.message) for e in sheet.errors]
    report = await store_jobs(((f"{path}:{line}", row) for line, row in sheet.rows), today)
    report.errors = sorted(bad + report.errors, key=lambda e: int(e[0].rsplit(":", 1)[1]))
    return report


# --- Matching ------------------------------------------------------------------------------------


def place_stem(word: str) -> str:
    """'十堰市' -> '十堰', '郧西县' -> '郧西' (a notice may say either)."""
    for suffix in ("开发区", "街道", "省", "市", "县", "区", "镇", "乡"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            return word[: -len(suffix)]
    return word


def local_places(county: str, township: str = "") -> tuple[str, ...]:
    return tuple(place_stem(p) for p in (county, township) if p)


def is_place(word: str, county: str = "") -> bool:
    stem = place_stem(word)
    return (word in LOCAL_WORDS or stem in PLACES or bool(PLACE_SUFFIX.match(word))
            or bool(county) and stem == place_stem(county))


def _place_matches(word: str, place: str, local: tuple[str, ...]) -> bool:
    if word in LOCAL_WORDS:
        return any(stem and stem in place for stem in local)
    stem = place_stem(word)
    return stem in place or place_stem(place) in word


def _work_matches(word: str, work_type: str) -> bool:
    if word in work_type or work_type in word:
        return True
    return any(alias in work_type for alias in WORK_ALIASES.get(word, ()))


def job_matches(job: Job, words: Iterable[str], local: tuple[str, ...]) -> bool:
    """Every word names the job's work type or its place ("建筑 武汉", "本地", "电工")."""
    return all(_work_matches(w, job.work_type) or _place_matches(w, job.place, local) for w in words)


def worker_wants(job: Job, profile: WorkerProfile, local: tuple[str, ...]) -> bool:
    """A worker's skills (none: any work) and destinations (none: anywhere) both fit the job."""
    skills = unpack_set(profile.skills)
    places = unpack_set(profile.destinations)
    if skills and not any(_work_matches(s, job.work_type) for s in skills):
        return False
    if places and not any(_place_matches(p, job.place, local) for p in places):
        return False
    if profile.available_from and job.end_date and profile.available_from > job.end_date:
        return False
    return True


def current(today: date) -> Any:
    """Verified notices still open today (the county's date): the only ones anyone sees."""
    return Job.filter(Q(end_date__isnull=True) | Q(end_date__gte=today), expires_on__gte=today).exclude(verified_by="")


async def find_jobs(words: Iterable[str], today: date, local: tuple[str, ...], limit: int = 20) -> list[Job]:
    wanted = [w for w in words if w]
    found: list[Job] = []
    for job in await current(today).order_by("-created_at", "-id").limit(500):
        if job_matches(job, wanted, local):
            found.append(job)
            if len(found) >= limit:
                break
    return found


async def open_job(job_id: int, today: date) -> Job | None:
    return await current(today).filter(id=job_id).first()  # type: ignore[no-any-return]


# --- Workers -------------------------------------------------------------------------------------


def split_profile_words(words: Iterable[str], county: str) -> tuple[list[str], list[str]]:
    """['电工', '十堰'] -> skills ['电工'], destinations ['十堰']."""
    skills: list[str] = []
    places: list[str] = []
    for word in words:
        word = word[:20]
        if word in ("不限", "都行", "随便", "都可以"):
            continue
        if is_place(word, county):
            places.append(word if word in LOCAL_WORDS else place_stem(word))
        else:
            skills.append(word)
    return skills, places


async def register_worker(sub: Subscriber, skills: list[str], destinations: list[str]) -> tuple[WorkerProfile, bool]:
    """Create or update the profile (given lists replace the old ones) and subscribe to 务工 notices."""
    profile = await WorkerProfile.get_or_none(subscriber_id=sub.id)
    created = profile is None
    if profile is None:
        profile = WorkerProfile(subscriber_id=sub.id)
    if skills:
        profile.skills = pack_set(skills)
    if destinations:
        profile.destinations = pack_set(destinations)
    profile.home_township = profile.home_township or sub.township
    profile.active = True
    await profile.save()
    if "务工" not in sub.topic_list:
        sub.topics = pack_set([*sub.topic_list, "务工"])
        await sub.save(update_fields=["topics", "updated_at"])
    return profile, created


# --- Wage arrears warnings -----------------------------------------------------------------------


def parse_arrears(values: Mapping[str, Any], today: date) -> dict[str, Any]:
    if not isinstance(values, Mapping):
        raise JobError("expected an object with the warning's fields")
    unknown = sorted(k for k in values if k not in ARREARS_FIELDS)
    if unknown:
        raise JobError(f"unknown field {', '.join(unknown)} (expected {', '.join(ARREARS_FIELDS)})")
    employer = _text(values, "employer")
    if not employer:
        raise JobError("employer: missing")
    if len(employer) > 100:
        raise JobError("employer: longer than 100 characters")
    amount = values.get("amount", 0)
    if isinstance(amount, bool) or not isinstance(amount, (int, float, str)):
        raise JobError("amount: expected a number of yuan")
    try:
        amount = float(str(amount).strip() or 0)
    except ValueError:
        raise JobError(f"amount: expected a number of yuan, got {values.get('amount')!r}") from None
    if not 0 <= amount <= MAX_ARREARS or amount != amount:
        raise JobError(f"amount: expected 0 to {MAX_ARREARS:.0f} yuan, got {amount}")
    out: dict[str, Any] = {"employer": employer, "amount": amount}
    for name, limit in (("case_status", 50), ("published_by", 50)):
        text = _text(values, name)
        if len(text) > limit:
            raise JobError(f"{name}: longer than {limit} characters")
        out[name] = text
    published = _date(values, "published_on") or today
    if published > today:
        raise JobError(f"published_on: {published.isoformat()} is in the future")
    out["published_on"] = published
    active = values.get("active", True)
    if not isinstance(active, bool):
        raise JobError("active: expected true or false")
    out["active"] = active
    return out


async def active_arrears(limit: int = 20) -> list[WageArrearsNotice]:
    return await WageArrearsNotice.filter(active=True).order_by("-published_on", "-id").limit(limit)


# --- Console services ----------------------------------------------------------------------------


async def verify_job(job_id: int, verified_by: str, today: date) -> Job:
    """Mark a notice verified (shown to villagers, pushed once by the job listeners the caller
    notifies). Raises LookupError for an unknown job, JobError when it is no longer open."""
    job = await Job.get_or_none(id=job_id)
    if job is None:
        raise LookupError("no such job")
    if job.expires_on < today or (job.end_date is not None and job.end_date < today):
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


KEEP: Any = object()  # update_arrears: leave this field as it is


async def update_arrears(notice_id: int, *, case_status: Any = KEEP, active: Any = KEEP) -> WageArrearsNotice:
    """Change a warning's case status and/or whether it is shown. Raises LookupError or JobError."""
    notice = await WageArrearsNotice.get_or_none(id=notice_id)
    if notice is None:
        raise LookupError("no such warning")
    if active is not KEEP:
        if not isinstance(active, bool):
            raise JobError("active: expected true or false")
        notice.active = active
    if case_status is not KEEP:
        if not isinstance(case_status, str) or len(case_status.strip()) > 50:
            raise JobError("case_status: expected text of at most 50 characters")
        notice.case_status = case_status.strip()
    await notice.save()
    return notice
