"""首页: villagers, messages, questions, deliveries and topics as cards, tables and SVG charts; also JSON."""

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
from bot.keys import CONFIG
from bot.models import CHANNELS, Message, Subscriber
from bot.questions.models import Question
from bot.web import auth, charts
from bot.web.auth import requires
from bot.web.simulator import SIMULATOR
from bot.web.view import render
from broadcasts.models import BroadcastRun, Delivery
from broadcasts.service import run_stats
from content.vocab import vocabulary

DAYS = 14  # the deliveries chart
WEEK = 7  # "this week" means the last seven days, today included
RUNS = 5
CHANNEL_NAMES = {"sms": "短信", "wechat": "微信"}
# What villagers texted, by the handler module that answered (Message.handler is "module.function").
HANDLER_GROUPS = {
    "search.answer_question": "技术提问", "search.more": "看下一页", "search.open_choice": "看下一页",
    "prices": "价格行情", "labour": "务工", "help": "帮助菜单", "subscribe": "订阅设置", "optout": "退订/恢复",
    "register": "登记信息", "profile": "查看登记", "error": "系统出错", "": "未回复",
}
RUN_STATES = {"enqueuing": "准备中", "sending": "发送中", "paused": "已暂停", "done": "已完成",
              "cancelled": "已取消", "skipped": "已错过"}
# Stacked in this order in the chart; outbound Message statuses fold into these three.
OUTCOMES = (("delivered", "已送达", "#2e7d32"), ("sent", "已发出（未回执）", "#90caf9"), ("failed", "失败", "#c62828"))
MESSAGE_OUTCOME = {"delivered": "delivered", "sent": "sent", "undelivered": "failed", "failed": "failed"}


# The numbers scan a week or two of messages and deliveries (about 1.3 s at 100,000 villagers on
# SQLite): computed at most once per STATS_SECONDS per process, however many officers look.
STATS_SECONDS = 30.0
STATS = web.AppKey("dashboard_stats", dict)


def setup(app: web.Application) -> None:
    app[STATS] = {"at": 0.0, "value": None, "lock": asyncio.Lock()}
    app.router.add_get("/admin/", dashboard_page)
    app.router.add_get("/api/v1/stats", stats_api)


def _midnight(config: Config, days_ago: int = 0) -> datetime:
    today = datetime.now(config.tz).date() - timedelta(days=days_ago)
    return datetime.combine(today, time(), tzinfo=config.tz).astimezone(UTC)


def _group(handler: str) -> str:
    return HANDLER_GROUPS.get(handler) or HANDLER_GROUPS.get(handler.split(".", 1)[0], "其他")


async def _subscribers() -> dict[str, Any]:
    rows = await (Subscriber.filter(sandbox.real(), status="active").group_by("township", "preferred_channel")
                  .annotate(n=Count("id")).values_list("township", "preferred_channel", "n"))
    towns: dict[str, dict[str, int]] = {}
    for town, channel, n in rows:
        counts = towns.setdefault(town or "未填乡镇", {c: 0 for c in CHANNELS})
        counts[channel] = counts.get(channel, 0) + n
    by_channel = {c: sum(t.get(c, 0) for t in towns.values()) for c in CHANNELS}
    table = sorted(({"township": t, **c, "total": sum(c.values())} for t, c in towns.items()),
                   key=lambda r: (-r["total"], r["township"]))
    opted_out = await Subscriber.filter(sandbox.real(), status="opted_out").count()
    return {"active": sum(by_channel.values()), "by_channel": by_channel, "opted_out": opted_out,
            "by_township": table}


async def _messages_today(config: Config) -> dict[str, int]:
    rows = await (Message.filter(created_at__gte=_midnight(config)).exclude(provider=SIMULATOR)
                  .group_by("direction").annotate(n=Count("id")).values_list("direction", "n"))
    counts = dict(rows)
    return {"in": counts.get("in", 0), "out": counts.get("out", 0)}


def _per_day(bounds: list[datetime], within: Callable[[datetime, datetime], Q]) -> dict[str, Count]:
    """d0, d1, …: one filtered count per day, all in one grouped query."""
    return {f"d{i}": Count("id", _filter=within(bounds[i], bounds[i + 1])) for i in range(len(bounds) - 1)}


def _delivery_day(start: datetime, end: datetime) -> Q:
    """Sent in [start, end), or failed without being sent with its last try due then."""
    return Q(sent_at__gte=start, sent_at__lt=end) | Q(sent_at__isnull=True, due_at__gte=start, due_at__lt=end)


def _message_day(start: datetime, end: datetime) -> Q:
    return Q(created_at__gte=start, created_at__lt=end)


async def _outbound_days(config: Config) -> dict[str, Any]:
    """Broadcast deliveries plus direct outbound messages per county day, by outcome."""
    bounds = [_midnight(config, DAYS - i) for i in range(1, DAYS + 1)] + [_midnight(config, -1)]
    keys = [f"d{i}" for i in range(DAYS)]
    series = {key: [0] * DAYS for key, _, _ in OUTCOMES}
    deliveries = await (Delivery.filter(_delivery_day(bounds[0], bounds[-1]), state__in=("sent", "delivered", "failed"))
                        .group_by("state").annotate(**_per_day(bounds, _delivery_day)).values("state", *keys))
    for row in deliveries:
        for i, key in enumerate(keys):
            series[row["state"]][i] += row[key]
    broadcast_today = {state: series[state][-1] for state in series}
    messages = await (Message.filter(_message_day(bounds[0], bounds[-1]), direction="out",
                                     status__in=tuple(MESSAGE_OUTCOME)).exclude(provider=SIMULATOR)
                      .group_by("status").annotate(**_per_day(bounds, _message_day)).values("status", *keys))
    for row in messages:
        for i, key in enumerate(keys):
            series[MESSAGE_OUTCOME[row["status"]]][i] += row[key]
    labels = [b.astimezone(config.tz).strftime("%m-%d") for b in bounds[:-1]]
    return {"days": labels, "series": series,
            "deliveries_today": {**broadcast_today, "total": sum(broadcast_today.values())}}


async def _runs(config: Config) -> list[dict[str, Any]]:
    runs = await BroadcastRun.all().order_by("-id").limit(RUNS).prefetch_related("broadcast")
    found = []
    for run in runs:
        stats = await run_stats(run)
        text = run.text or run.broadcast.text
        found.append({**stats, "broadcast_id": run.broadcast_id, "kind": run.broadcast.kind,
                      "fire_at_local": run.fire_at.astimezone(config.tz).strftime("%m-%d %H:%M"),
                      "text": text[:40] + ("…" if len(text) > 40 else "")})
    return found


async def _topics(config: Config) -> dict[str, Any]:
    """This week's inbound texts by what answered them, and the knowledge questions by the crop they
    name (any of its local names): aggregate queries only, whatever the volume."""
    since = _midnight(config, WEEK - 1)
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
    handed = await (Question.filter(sandbox.not_from_sandbox(), created_at__gte=since)
                    .exclude(reason="feedback").count())
    return {"by_kind": sorted(kinds.items(), key=lambda k: -k[1]),
            "by_crop": [(c, n) for c, n in crops if n][:10], "handed_to_officers": handed}


async def collect(config: Config) -> dict[str, Any]:
    """Every number on the 首页, as plain data (the page and /api/v1/stats show the same)."""
    outbound = await _outbound_days(config)
    return {
        "subscribers": await _subscribers(),
        "messages_today": await _messages_today(config),
        "open_questions": await Question.filter(sandbox.not_from_sandbox(), status="open").count(),
        "deliveries_today": outbound["deliveries_today"],
        "outbound_days": {"days": outbound["days"], **outbound["series"]},
        "runs": await _runs(config),
        "topics": await _topics(config),
        "as_of": datetime.now(config.tz).isoformat(timespec="seconds"),
    }


async def cached(app: web.Application) -> dict[str, Any]:
    """collect(), reused for STATS_SECONDS (the page says when the numbers were counted)."""
    cache = app[STATS]
    async with cache["lock"]:  # one count at a time; who waited gets its result
        if cache["value"] is None or clock.monotonic() - cache["at"] > STATS_SECONDS:
            cache["value"] = await collect(app[CONFIG])
            cache["at"] = clock.monotonic()
        return copy.deepcopy(cache["value"])


@auth.page("officer")
async def dashboard_page(request: web.Request) -> web.Response:
    stats = await cached(request.app)
    days = stats["outbound_days"]
    towns = stats["subscribers"]["by_township"]
    return render(request, "dashboard.html", {
        "s": stats, "channel_names": CHANNEL_NAMES, "channels": CHANNELS, "run_states": RUN_STATES,
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
    console's phone simulator and its sandbox villagers (and their questions) are not counted. Counted at most every 30 s; `as_of` says when."""
    stats = await cached(request.app)
    topics = stats["topics"]
    stats["topics"] = {**topics, "by_kind": [{"kind": k, "count": n} for k, n in topics["by_kind"]],
                       "by_crop": [{"crop": c, "count": n} for c, n in topics["by_crop"]]}
    return web.json_response(stats)
