"""Daily forecast digests: one `weather` (天气预报) broadcast per township, on a daily schedule, to its
villagers subscribed to 天气 (订阅 天气), whose text is {天气:<township>} (filled at each firing, frozen for
it). Made from the console in one go, pending a supervisor's approval like any broadcast; a township
that already has one is left alone."""

from __future__ import annotations

from bot import sandbox
from bot.config import Config
from bot.models import Officer, Subscriber
from bot.weather import places
from broadcasts import service
from broadcasts.models import Broadcast

LIVE = ("pending_approval", "scheduled", "sending", "paused")


def digest_text(township: str) -> str:
    return f"{{天气:{township}}}"


async def create_daily(config: Config, officer: Officer, at: str) -> list[Broadcast]:
    """One daily digest at `at` (HH:MM, county time) for each township with villagers subscribed to 天气 and
    none yet."""
    made = []
    for town in places.townships(config.weather.townships):
        if not await Subscriber.filter(sandbox.real(), status="active", township=town.name,
                                       topics__contains=",天气,").exists():
            continue
        if await Broadcast.filter(kind="weather", state__in=LIVE, text=digest_text(town.name)).exists():
            continue
        broadcast, _ = await service.create({
            "kind": "weather", "text": digest_text(town.name), "audience": {"townships": [town.name], "topics": ["天气"]},
            "schedule": {"daily": at}}, officer, config)
        made.append(broadcast)
    return made
