"""Which job notices fit: a villager's words ("建筑 武汉", "本地") or a worker's wishes against a
notice's work type and place, with the county's everyday names for both."""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import date

from bot.labour.models import Job, WorkerProfile
from bot.labour.notices import current
from bot.models import unpack_set

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
            or (bool(county) and stem == place_stem(county)))


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
    return not (profile.available_from and job.end_date and profile.available_from > job.end_date)


async def find_jobs(words: Iterable[str], today: date, local: tuple[str, ...], limit: int = 20) -> list[Job]:
    """Current notices every word fits, newest first."""
    wanted = [w for w in words if w]
    found: list[Job] = []
    for job in await current(today).order_by("-created_at", "-id").limit(500):
        if job_matches(job, wanted, local):
            found.append(job)
            if len(found) >= limit:
                break
    return found
