"""首页: villagers, messages and topics, plus the features' cards, as tables and SVG charts; also JSON."""

from __future__ import annotations

import asyncio
import copy
import time as clock
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from functools import reduce
from operator import or_
from typing import Any

from aiohttp import web
from tortoise.expressions import Q
from tortoise.functions import Count

from bot import sandbox
from bot.config import Config
from bot.extend import Card, Event, emit, extensions
from bot.keys import CONFIG
from bot.labels import CHANNEL_NAMES, HANDLER_GROUPS
from bot.models import CHANNELS, Message, Subscriber
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


# The numbers scan a week or two of messages and deliveries (about 1.3 s at 100,000 villagers on
# SQLite): computed at most once per STATS_SECONDS per process, however many officers look.
STATS_SECONDS = 30.0
STATS = web.AppKey("dashboard_stats", dict)
# What features add to the core's numbers; the answers of all listeners are summed.
# Sent besides direct replies, per county day: called with the days' bounds (the oldest midnight first,
# the next one last), a listener returns {"delivered" | "sent" | "failed": [count per day]}.
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
    rows = await (Subscriber.filter(sandbox.real(), status="active").group_by("township", "preferred_channel")
                  .annotate(n=Count("id")).values_list("township", "preferred_channel", "n"))
    towns: dict[str, dict[str, int]] = {}
    for town, channel, n in rows:
        counts = towns.setdefault(town or "未填乡镇", dict.fromkeys(CHANNELS, 0))
        counts[channel] = counts.get(channel, 0) + n
    by_channel = {c: sum(t.get(c, 0) for t in towns.values()) for c in CHANNELS}
    table: list[dict[str, Any]] = sorted(
        ({"township": t, **c, "total": sum(c.values())} for t, c in towns.items()),
        key=lambda r: (-r["total"], r["township"]))
    opted_out = await Subscriber.filter(sandbox.real(), status="opted_out").count()
    return {"active": sum(by_channel.values()), "by_channel": by_channel, "opted_out": opted_out,
            "by_township": table}


async def _messages_today(config: Config) -> dict[str, int]:
    rows = await (Message.filter(created_at__gte=midnight(config)).exclude(provider=SIMULATOR)
                  .group_by("direction").annotate(n=Count("id")).values_list("direction", "n"))
    counts = dict(rows)
    return {"in": counts.get("in", 0), "out": counts.get("out", 0)}


def per_day(bounds: list[datetime], within: Callable[[datetime, datetime], Q]) -> dict[str, Count]:
    """d0, d1, …: one filtered count per day, all in one grouped query."""
    return {f"d{i}": Count("id", _filter=within(bounds[i], bounds[i + 1])) for i in range(len(bounds) - 1)}


def _message_day(start: datetime, end: datetime) -> Q:
    return Q(created_at__gte=start, created_at__lt=end)


async def _outbound_days(app: web.Application) -> dict[str, Any]:
    """Direct outbound messages plus what features sent (OUTBOUND_DAYS) per county day, by outcome."""
    config = app[CONFIG]
    bounds = [midnight(config, DAYS - i) for i in range(1, DAYS + 1)] + [midnight(config, -1)]
    keys = [f"d{i}" for i in range(DAYS)]
    series = {key: [0] * DAYS for key, _, _ in OUTCOMES}
    for sent in await emit(app, OUTBOUND_DAYS, bounds):
        for outcome, counts in sent.items():
            series[outcome] = [a + b for a, b in zip(series[outcome], counts, strict=True)]
    messages = await (Message.filter(_message_day(bounds[0], bounds[-1]), direction="out",
                                     status__in=tuple(MESSAGE_OUTCOME)).exclude(provider=SIMULATOR)
                      .group_by("status").annotate(**per_day(bounds, _message_day)).values("status", *keys))
    for row in messages:
        for i, key in enumerate(keys):
            series[MESSAGE_OUTCOME[row["status"]]][i] += row[key]
    labels = [b.astimezone(config.tz).strftime("%m-%d") for b in bounds[:-1]]
    return {"days": labels, **series}


async def _topics(app: web.Application) -> dict[str, Any]:
    """This week's inbound texts by what answered them, and the knowledge questions by the crop they
    name (any of its local names): aggregate queries only, whatever the volume."""
    since = midnight(app[CONFIG], WEEK - 1)
    inbound = Message.filter(direction="in", created_at__gte=since).exclude(provider=SIMULATOR)
    rows = await inbound.group_by("handler").annotate(n=Count("id")).values_list("handler", "n")
    kinds: dict[str, int] = {}
    for handler, n in rows:
        kinds[_group(handler)] = kinds.get(_group(handler), 0) + n
    vocab = vocabulary()
    names: dict[str, list[str]] = {crop: [crop] for crop in vocab.crops}
    for alias, standard in vocab.aliases.items():
        if standard in names:
            names[standard].append(alias)
    mentions = {f"c{i}": Count("id", _filter=reduce(or_, (Q(body__contains=w) for w in words)))
                for i, words in enumerate(names.values())}
    counted = await inbound.filter(handler="search.answer_question").annotate(**mentions).values(*mentions)
    crops = sorted(((crop, counted[0][f"c{i}"] if counted else 0) for i, crop in enumerate(names)),
                   key=lambda c: (-c[1], c[0]))
    handed = sum(await emit(app, HANDED_OVER, since))
    return {"by_kind": sorted(kinds.items(), key=lambda k: -k[1]),
            "by_crop": [(c, n) for c, n in crops if n][:10], "handed_to_officers": handed}


def cards(app: web.Application, place: str) -> list[Card]:
    return sorted((card for card in extensions(app).cards if card.place == place), key=lambda card: card.order)


async def collect(app: web.Application) -> dict[str, Any]:
    """Every number on the 首页, as plain data (the page and /api/v1/stats show the same)."""
    config = app[CONFIG]
    stats: dict[str, Any] = {"subscribers": await _subscribers(), "messages_today": await _messages_today(config)}
    for card in cards(app, "tile") + cards(app, "card"):
        stats[card.name] = await card.collect(app)
    stats["outbound_days"] = await _outbound_days(app)
    stats["topics"] = await _topics(app)
    stats["as_of"] = datetime.now(config.tz).isoformat(timespec="seconds")
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
