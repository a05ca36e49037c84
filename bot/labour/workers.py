"""Migrant workers' wishes: the skills and places a villager registers for job pushes, and how many
pushes a day they want."""

from __future__ import annotations

from collections.abc import Iterable

from bot.labour.matching import LOCAL_WORDS, is_place, place_stem
from bot.labour.models import WorkerProfile
from bot.models import Subscriber, pack_set

MAX_PUSHES = 5
ANY = ("不限", "都行", "随便", "都可以")


def split_profile_words(words: Iterable[str], county: str) -> tuple[list[str], list[str]]:
    """['电工', '十堰'] -> skills ['电工'], destinations ['十堰']."""
    skills: list[str] = []
    places: list[str] = []
    for word in words:
        word = word[:20]
        if word in ANY:
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


async def active_profile(subscriber_id: int) -> WorkerProfile | None:
    return await WorkerProfile.get_or_none(subscriber_id=subscriber_id, active=True)


async def set_daily_pushes(profile: WorkerProfile, wanted: int) -> int:
    """At most `wanted` job pushes a day (1 to MAX_PUSHES); returns the number kept."""
    profile.max_pushes_per_day = min(max(wanted, 1), MAX_PUSHES)
    await profile.save(update_fields=["max_pushes_per_day", "updated_at"])
    return profile.max_pushes_per_day
