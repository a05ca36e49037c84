"""首页: villagers, messages and topics, plus the features' cards, as tables and SVG charts; also JSON."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import time as clock
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from aiohttp import web
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.functions import Count

from bot import sandbox
from bot.config import Config
from bot.extend import Card, Event, emit, extensions
from bot.keys import CONFIG
from bot.labels import CHANNEL_NAMES, HANDLER_GROUPS
from bot.models import CHANNELS, DashboardDay, Message, Subscriber
from bot.web import auth, charts
from bot.web.auth import requires
from bot.web.simulator import SIMULATOR
from bot.web.view import render
from content.vocab import vocabulary

DAYS = 14  # the deliveries chart
WEEK = 7  # "this week" means the last seven days, today included
# Stacked in this order in the chart; outbound Message statuses fold into these three.
OUTCOMES = (("delivered", "已送达", "#2e7d32"), ("sent", "已发出（未回执）", "#90caf9"), ("failed", "失败", "#c62828"))
MESSAGE_OUTCOME = {"delivered": "delivered", "sent": "sent", "undelivered": "failed", "failed": "failed"}
KNOWLEDGE = "search.answer_question"  # the handler of farming questions (counted by crop)
# A day's outbound numbers still change this long after it ended (receipts come late); inbound ones once
# its last texts are answered, a text stamped just before midnight being stored up to INBOUND_GRACE later.
SETTLE_DAYS = 2
INBOUND_GRACE = timedelta(minutes=10)
INBOUND, OUTBOUND = "inbound", "outbound"  # DashboardDay.part
BASIS_VERSION = "1"  # raise when what a stored day holds changes: every day is counted again
SANDBOX_RANGE = ("sim", "sin")  # holds every sandbox.PREFIX address


# Settled days are read from DashboardDay, the open ones counted (0.15–0.2 s at 100,000 villagers):
# computed at most once per STATS_SECONDS per process, however many officers look.
STATS_SECONDS = 30.0
STATS = web.AppKey("dashboard_stats", dict)
# What features add to the core's numbers; the answers of all listeners are summed.
# Sent besides direct replies, per county day: called with the days' bounds (the oldest midnight first,
# the next one last), a listener returns {"delivered" | "sent" | "failed": [count per day]}. Only the days
# not yet settled are asked for: a listener's day must be settled SETTLE_DAYS after it ended.
OUTBOUND_DAYS: Event[[list[datetime]]] = Event("dashboard.outbound_days")
# How many of the texts since the given moment were handed to officers (the topics card says it).
HANDED_OVER: Event[[datetime]] = Event("dashboard.handed_over")


def setup(app: web.Application) -> None:
    app[STATS] = {"at": 0.0, "value": None, "lock": asyncio.Lock()}
    app.router.add_get("/admin/", dashboard_page)
    app.router.add_get("/api/v1/stats", stats_api)


def midnight(config: Config, days_ago: int = 0) -> datetime:
    """The start of a county day (days_ago=-1: tomorrow) as a UTC moment."""
    today = datetime.now(config.tz).date() - timedelta(days=days_ago)
    return datetime.combine(today, time(), tzinfo=config.tz).astimezone(UTC)


def _group(handler: str) -> str:
    return HANDLER_GROUPS.get(handler) or HANDLER_GROUPS.get(handler.split(".", 1)[0], "其他")


async def _subscribers() -> dict[str, Any]:
    """Active villagers by township and channel, counted from one index (every villager, then the few
    sandbox ones taken away), and how many opted out."""
    rows = await (Subscriber.filter(status__in=("active", "opted_out")).group_by("status", "township", "preferred_channel")
                  .annotate(n=Count("id")).values_list("status", "township", "preferred_channel", "n"))
    counted: dict[tuple[str, str, str], int] = {(status, town, channel): n for status, town, channel, n in rows}
    # Sandbox villagers through the unique index on their address: every "sim:…" lies between "sim" and
    # "sin" whatever the database's collation (punctuation ignored or not); exactly as sandbox.real() then.
    for status, town, channel, address in await (
            Subscriber.filter(wechat_openid__gte=SANDBOX_RANGE[0], wechat_openid__lt=SANDBOX_RANGE[1])
            .values_list("status", "township", "preferred_channel", "wechat_openid")):
        if sandbox.is_address(address) and (status, town, channel) in counted:
            counted[(status, town, channel)] -= 1
    towns: dict[str, dict[str, int]] = {}
    for (status, town, channel), n in counted.items():
        if status == "active" and n:
            counts = towns.setdefault(town or "未填乡镇", dict.fromkeys(CHANNELS, 0))
            counts[channel] = counts.get(channel, 0) + n
    by_channel = {c: sum(t.get(c, 0) for t in towns.values()) for c in CHANNELS}
    table: list[dict[str, Any]] = sorted(
        ({"township": t, **c, "total": sum(c.values())} for t, c in towns.items()),
        key=lambda r: (-r["total"], r["township"]))
    opted_out = sum(n for (status, _, _), n in counted.items() if status == "opted_out")
    return {"active": sum(by_channel.values()), "by_channel": by_channel, "opted_out": opted_out,
            "by_township": table}


def per_day(bounds: list[datetime], within: Callable[[datetime, datetime], Q]) -> dict[str, Count]:
    """d0, d1, …: one filtered count per day, all in one grouped query."""
    return {f"d{i}": Count("id", _filter=within(bounds[i], bounds[i + 1])) for i in range(len(bounds) - 1)}


def _message_day(start: datetime, end: datetime) -> Q:
    return Q(created_at__gte=start, created_at__lt=end)


def county_midnight(config: Config, day: date) -> datetime:
    """The start of county day `day` as a UTC moment."""
    return datetime.combine(day, time(), tzinfo=config.tz).astimezone(UTC)


def scratch() -> dict[Any, Any]:
    """Numbers one part of this counting of the 首页 leaves for another (the deliveries tile reads today
    from what the chart counted); outside a counting, an empty dict nobody else sees."""
    found = _SCRATCH.get()
    return {} if found is None else found


_SCRATCH: ContextVar[dict[Any, Any] | None] = ContextVar("dashboard_scratch", default=None)


def _crop_names() -> dict[str, list[str]]:
    """Each crop with its local names (苞谷 is 玉米)."""
    vocab = vocabulary()
    return {crop: list(vocab.forms(crop)) for crop in vocab.crops}


class _CropCounter:
    """Which crops a text names, as `body LIKE '%word%'` for each name would say (crop names are
    Chinese, so the backends' case rules do not enter): only names starting with a character of the
    text are looked for."""

    def __init__(self, names: dict[str, list[str]]) -> None:
        self.by_first: dict[str, list[tuple[str, str]]] = {}
        for crop, words in names.items():
            for word in words:
                if word:
                    self.by_first.setdefault(word[0], []).append((word, crop))

    def crops(self, body: str) -> set[str]:
        return {crop for first in set(body) & self.by_first.keys() for word, crop in self.by_first[first]
                if word in body}


def _basis(*parts: str) -> str:
    return hashlib.sha256("\n".join((BASIS_VERSION, *parts)).encode()).hexdigest()[:32]


async def _messages(direction: str, bounds: list[datetime], *by: str) -> list[dict[str, dict[str, int]]]:
    """Texts in one direction per county day between consecutive bounds, simulator aside, by each of
    the fields `by` (status, handler), in one grouped query over the (direction, created_at) index."""
    keys = [f"d{i}" for i in range(len(bounds) - 1)]
    rows = await (Message.filter(direction=direction, created_at__gte=bounds[0], created_at__lt=bounds[-1])
                  .exclude(provider=SIMULATOR).group_by(*by)
                  .annotate(**per_day(bounds, _message_day)).values(*by, *keys))
    days: list[dict[str, dict[str, int]]] = [{field: {} for field in by} for _ in keys]
    for row in rows:
        for i, key in enumerate(keys):
            if row[key]:
                for field in by:
                    counts = days[i][field]
                    counts[row[field]] = counts.get(row[field], 0) + row[key]
    return days


async def _crops(start: datetime, end: datetime, counter: _CropCounter) -> dict[str, int]:
    """The knowledge questions of [start, end) by the crop they name (a text naming two counts for both)."""
    bodies = await (Message.filter(direction="in", handler=KNOWLEDGE, created_at__gte=start, created_at__lt=end)
                    .exclude(provider=SIMULATOR).values_list("body", flat=True))
    counts: dict[str, int] = {}
    for body in bodies:
        for crop in counter.crops(str(body)):
            counts[crop] = counts.get(crop, 0) + 1
    return counts


async def _days(app: web.Application, now: datetime) -> tuple[list[date], dict[date, dict[str, Any]], dict[date, dict[str, Any]]]:
    """The last DAYS county days, oldest first, with their inbound numbers (the last WEEK days: texts by
    handler and status, knowledge questions by crop) and outbound numbers (texts out by status, and
    what features sent by outcome).

    A day's numbers are counted once it can no longer change and kept in DashboardDay: inbound once the
    day is over by INBOUND_GRACE and none of its texts is still being answered, outbound SETTLE_DAYS
    after it ended (late receipts). The days still open are counted live, each direction in one query
    over its time index, so a counting reads about a day of inbound and three days of outbound rows."""
    config = app[CONFIG]
    today = now.astimezone(config.tz).date()
    days = [today - timedelta(days=DAYS - 1 - i) for i in range(DAYS)]
    week = days[-WEEK:]
    names = _crop_names()
    listeners = extensions(app).listeners.get(OUTBOUND_DAYS, [])
    basis = {INBOUND: _basis(str(config.tz), json.dumps(names, ensure_ascii=False, sort_keys=True)),
             OUTBOUND: _basis(str(config.tz), *(f"{f.__module__}.{f.__qualname__}" for f in listeners))}
    inbound: dict[date, dict[str, Any]] = {}
    outbound: dict[date, dict[str, Any]] = {}
    kept = {INBOUND: inbound, OUTBOUND: outbound}
    for row in await DashboardDay.filter(day__gte=days[0], day__lte=today):
        if row.part in kept and row.basis == basis[row.part]:
            kept[row.part][row.day] = row.numbers
    keep: list[tuple[date, str, dict[str, Any]]] = []

    def over(day: date, after: timedelta) -> bool:
        return now >= county_midnight(config, day + timedelta(days=1)) + after

    missing = [day for day in week if day not in inbound]
    if missing:
        first = days.index(missing[0])
        bounds = [county_midnight(config, day) for day in days[first:]]
        bounds.append(county_midnight(config, today + timedelta(days=1)))
        counter = _CropCounter(names)
        for i, counted in enumerate(await _messages("in", bounds, "status", "handler")):
            day = days[first + i]
            if day in inbound:
                continue
            counted["crop"] = await _crops(bounds[i], bounds[i + 1], counter)
            inbound[day] = counted
            if over(day, INBOUND_GRACE) and not counted["status"].get("processing"):
                keep.append((day, INBOUND, counted))
    missing = [day for day in days if day not in outbound]
    if missing:
        first = days.index(missing[0])
        bounds = [county_midnight(config, day) for day in days[first:]]
        bounds.append(county_midnight(config, today + timedelta(days=1)))
        texts = await _messages("out", bounds, "status")
        sent = {key: [0] * (len(bounds) - 1) for key, _, _ in OUTCOMES}
        for answer in await emit(app, OUTBOUND_DAYS, bounds):
            for outcome, counts in answer.items():
                sent[outcome] = [a + b for a, b in zip(sent[outcome], counts, strict=True)]
        for i, day in enumerate(days[first:]):
            if day in outbound:
                continue
            counted = {"status": texts[i]["status"], "sent": {key: sent[key][i] for key in sent}}
            outbound[day] = counted
            if over(day, timedelta(days=SETTLE_DAYS)):
                keep.append((day, OUTBOUND, counted))
    for day, part, numbers in keep:
        await _keep(day, part, basis[part], numbers, now)
    return days, inbound, outbound


async def _keep(day: date, part: str, basis: str, numbers: dict[str, Any], now: datetime) -> None:
    """Store a settled day's numbers (another process storing the same day at once is as good)."""
    with contextlib.suppress(IntegrityError):
        await DashboardDay.update_or_create(day=day, part=part,
                                            defaults={"basis": basis, "numbers": numbers, "counted_at": now})


def _messages_today(today: dict[str, Any], sent: dict[str, Any]) -> dict[str, int]:
    return {"in": sum(today["status"].values()), "out": sum(sent["status"].values())}


def _outbound_days(days: list[date], outbound: dict[date, dict[str, Any]]) -> dict[str, Any]:
    """Direct outbound messages plus what features sent (OUTBOUND_DAYS) per county day, by outcome."""
    series = {key: [0] * len(days) for key, _, _ in OUTCOMES}
    for i, day in enumerate(days):
        for outcome, n in outbound[day]["sent"].items():
            series[outcome][i] += n
        for status, n in outbound[day]["status"].items():
            if status in MESSAGE_OUTCOME:
                series[MESSAGE_OUTCOME[status]][i] += n
    return {"days": [day.strftime("%m-%d") for day in days], **series}


async def _topics(app: web.Application, since: datetime, week: list[dict[str, Any]]) -> dict[str, Any]:
    """This week's inbound texts by what answered them, and the knowledge questions by the crop they
    name (any of its local names)."""
    kinds: dict[str, int] = {}
    mentions: dict[str, int] = dict.fromkeys(_crop_names(), 0)
    for day in week:
        for handler, n in day["handler"].items():
            kinds[_group(handler)] = kinds.get(_group(handler), 0) + n
        for crop, n in day["crop"].items():
            if crop in mentions:
                mentions[crop] += n
    crops = sorted(mentions.items(), key=lambda c: (-c[1], c[0]))
    handed = sum(await emit(app, HANDED_OVER, since))
    return {"by_kind": sorted(kinds.items(), key=lambda k: -k[1]),
            "by_crop": [(c, n) for c, n in crops if n][:10], "handed_to_officers": handed}


def cards(app: web.Application, place: str) -> list[Card]:
    return sorted((card for card in extensions(app).cards if card.place == place), key=lambda card: card.order)


async def collect(app: web.Application, now: datetime | None = None) -> dict[str, Any]:
    """Every number on the 首页, as plain data (the page and /api/v1/stats show the same); `now` for
    tests (the features' cards count at the clock's time)."""
    config = app[CONFIG]
    now = now or datetime.now(UTC)
    token = _SCRATCH.set({})
    try:
        days, inbound, outbound = await _days(app, now)
        stats: dict[str, Any] = {"subscribers": await _subscribers(),
                                 "messages_today": _messages_today(inbound[days[-1]], outbound[days[-1]])}
        for card in cards(app, "tile") + cards(app, "card"):
            stats[card.name] = await card.collect(app)
        stats["outbound_days"] = _outbound_days(days, outbound)
        stats["topics"] = await _topics(app, county_midnight(config, days[-WEEK]), [inbound[day] for day in days[-WEEK:]])
    finally:
        _SCRATCH.reset(token)
    stats["as_of"] = now.astimezone(config.tz).isoformat(timespec="seconds")
    return stats


async def cached(app: web.Application) -> dict[str, Any]:
    """collect(), reused for STATS_SECONDS (the page says when the numbers were counted)."""
    cache = app[STATS]
    async with cache["lock"]:  # one count at a time; who waited gets its result
        if cache["value"] is None or clock.monotonic() - cache["at"] > STATS_SECONDS:
            cache["value"] = await collect(app)
            cache["at"] = clock.monotonic()
        return copy.deepcopy(cache["value"])


@auth.page("officer")
async def dashboard_page(request: web.Request) -> web.Response:
    stats = await cached(request.app)
    days = stats["outbound_days"]
    towns = stats["subscribers"]["by_township"]
    return render(request, "dashboard.html", {
        "s": stats, "channel_names": CHANNEL_NAMES, "channels": CHANNELS,
        "tiles": cards(request.app, "tile"), "cards": cards(request.app, "card"),
        "outbound_chart": charts.stacked_columns(
            days["days"], [(name, colour, days[key]) for key, name, colour in OUTCOMES],
            title=f"近 {DAYS} 天每天发出的消息（群发和回复）"),
        "crop_chart": charts.bar_chart(stats["topics"]["by_crop"], title="近 7 天技术提问涉及的作物", unit=" 条"),
        "town_chart": charts.bar_chart([(t["township"], t["total"]) for t in towns[:12]],
                                       title="各乡镇在订农户数", unit=" 户"),
    })


@requires("officer")
async def stats_api(request: web.Request) -> web.Response:
    """The 首页 numbers: villagers, today's messages and deliveries, open questions, recent runs, topics.

    Days are county days (server.timezone); "this week" is the last seven days; messages from the
    console's phone simulator and its sandbox villagers (and their questions) are not counted.
    Counted at most every 30 s; `as_of` says when."""
    stats = await cached(request.app)
    topics = stats["topics"]
    stats["topics"] = {**topics, "by_kind": [{"kind": k, "count": n} for k, n in topics["by_kind"]],
                       "by_crop": [{"crop": c, "count": n} for c, n in topics["by_crop"]]}
    return web.json_response(stats)
