"""首页 numbers kept per settled county day equal counting every row anew: on random data, across county
midnight (a zone with summer time), with late receipts and texts answered after their day ended."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, time, timedelta
from functools import reduce
from itertools import pairwise
from operator import or_
from typing import Any

import pytest
from aiohttp import web
from tortoise.expressions import Q
from tortoise.functions import Count

from bot import sandbox
from bot.config import Config
from bot.keys import CONFIG
from bot.labels import HANDLER_GROUPS
from bot.models import CHANNELS, DashboardDay, Message, Subscriber
from bot.questions.models import Question
from bot.web import dashboard
from broadcasts.models import Broadcast, BroadcastRun, Delivery
from content.vocab import vocabulary
from tests.conftest import make_config
from tests.helpers import Console

pytestmark = pytest.mark.db
ZONE = "America/New_York"  # not UTC, and its days are 23 or 25 hours long twice a year
KNOWLEDGE = "search.answer_question"
HANDLERS = [KNOWLEDGE, KNOWLEDGE, "prices.price_of", "greeting.hello", "", "error"]
OUT_STATES = ["queued", "sending", "sent", "delivered", "undelivered", "failed"]
DELIVERY_STATES = ["queued", "sending", "sent", "delivered", "failed", "skipped"]


@pytest.fixture
def config(db_url: str) -> Config:
    return make_config(db_url, server={"timezone": ZONE})


def _midnight(config: Config, day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=config.tz).astimezone(UTC)


def _crop_names() -> dict[str, list[str]]:
    vocab = vocabulary()
    names: dict[str, list[str]] = {crop: [crop] for crop in vocab.crops}
    for alias, standard in vocab.aliases.items():
        if standard in names:
            names[standard].append(alias)
    return names


def _group(handler: str) -> str:
    return HANDLER_GROUPS.get(handler) or HANDLER_GROUPS.get(handler.split(".", 1)[0], "其他")


async def anew(app: web.Application, now: datetime) -> dict[str, Any]:
    """The 首页's own numbers counted from every row, plainly (one query per day and outcome, the crops
    with SQL LIKE): what the page showed before any day was kept."""
    config = app[CONFIG]
    today = now.astimezone(config.tz).date()
    days = [today - timedelta(days=dashboard.DAYS - 1 - i) for i in range(dashboard.DAYS)]
    bounds = [_midnight(config, day) for day in days] + [_midnight(config, today + timedelta(days=1))]
    texts = Message.exclude(provider=sandbox.PROVIDER)
    messages_today = {direction: await texts.filter(direction=direction, created_at__gte=bounds[-2],
                                                    created_at__lt=bounds[-1]).count() for direction in ("in", "out")}
    series: dict[str, list[int]] = {outcome: [] for outcome, _, _ in dashboard.OUTCOMES}
    for start, end in pairwise(bounds):
        for outcome in series:
            statuses = [s for s, o in dashboard.MESSAGE_OUTCOME.items() if o == outcome]
            direct = await texts.filter(direction="out", status__in=statuses, created_at__gte=start,
                                        created_at__lt=end).count()
            sent = await Delivery.filter(Q(sent_at__gte=start, sent_at__lt=end)
                                         | Q(sent_at__isnull=True, due_at__gte=start, due_at__lt=end),
                                         state=outcome).count()
            series[outcome].append(direct + sent)
    since = bounds[-1 - dashboard.WEEK]
    week = texts.filter(direction="in", created_at__gte=since, created_at__lt=bounds[-1])
    kinds: dict[str, int] = {}
    for handler, n in await week.group_by("handler").annotate(n=Count("id")).values_list("handler", "n"):
        kinds[_group(handler)] = kinds.get(_group(handler), 0) + n
    crops = []
    for crop, words in _crop_names().items():
        n = await week.filter(reduce(or_, (Q(body__contains=w) for w in words)), handler=KNOWLEDGE).count()
        if n:
            crops.append((crop, n))
    crops.sort(key=lambda c: (-c[1], c[0]))
    handed = await Question.filter(sandbox.not_from_sandbox(), created_at__gte=since).exclude(reason="feedback").count()
    active = Subscriber.filter(sandbox.real(), status="active")
    towns: dict[str, dict[str, int]] = {}
    for town, channel, n in await (active.group_by("township", "preferred_channel").annotate(n=Count("id"))
                                   .values_list("township", "preferred_channel", "n")):
        counts = towns.setdefault(town or "未填乡镇", dict.fromkeys(CHANNELS, 0))
        counts[channel] += n
    by_channel = {c: sum(t[c] for t in towns.values()) for c in CHANNELS}
    return {
        "subscribers": {"active": sum(by_channel.values()), "by_channel": by_channel,
                        "opted_out": await Subscriber.filter(sandbox.real(), status="opted_out").count(),
                        "by_township": sorted(({"township": t, **c, "total": sum(c.values())} for t, c in towns.items()),
                                              key=lambda r: (-r["total"], r["township"]))},
        "messages_today": messages_today,
        "outbound_days": {"days": [day.strftime("%m-%d") for day in days], **series},
        "topics": {"by_kind": sorted(kinds.items(), key=lambda k: -k[1]), "by_crop": crops[:10],
                   "handed_to_officers": handed},
    }


def _core(stats: dict[str, Any]) -> dict[str, Any]:
    topics = stats["topics"]
    return {"subscribers": stats["subscribers"], "messages_today": stats["messages_today"],
            "outbound_days": stats["outbound_days"],
            "topics": {**topics, "by_kind": sorted(topics["by_kind"], key=lambda k: (-k[1], k[0]))}}


async def same(app: web.Application, now: datetime) -> dict[str, Any]:
    """collect() at `now`, checked against counting anew (kinds of equal count in either order)."""
    counted = _core(await dashboard.collect(app, now))
    expected = _core(await anew(app, now))
    assert counted == expected
    return counted


async def _world(console: Console, now: datetime, rng: random.Random) -> None:
    """Villagers (some in the sandbox, some opted out), texts and deliveries over the last 16 days,
    some stamped at a county midnight exactly or just before it."""
    config = console.app[CONFIG]
    towns = ["关防乡", "东川村", "", "土门镇"]
    people = []
    for i in range(40):
        simulated = i % 9 == 0
        people.append(await Subscriber.create(
            phone=None if simulated else f"+8613900{i:05d}", township=rng.choice(towns),
            wechat_openid=sandbox.address_for(1000 + i) if simulated else (f"o{i:027d}" if rng.random() < 0.5 else None),
            preferred_channel=rng.choice(CHANNELS), status="opted_out" if rng.random() < 0.2 else "active"))
    words = [w for ws in _crop_names().values() for w in ws]
    today = now.astimezone(config.tz).date()

    def when() -> datetime:
        if rng.random() < 0.15:  # a county midnight exactly, or a microsecond before one
            edge = _midnight(config, today - timedelta(days=rng.randrange(16)))
            return edge - timedelta(microseconds=rng.choice([0, 1]))
        return now - timedelta(seconds=rng.randrange(16 * 24 * 3600))

    rows = []
    for _ in range(500):
        person = rng.choice(people)
        inbound = rng.random() < 0.6
        body = "".join(rng.choice(words) if rng.random() < 0.5 else rng.choice(["咋办", "叶子黄", "好多钱", "谢谢"])
                       for _ in range(rng.randrange(1, 4)))
        rows.append(Message(
            direction="in" if inbound else "out", channel=person.preferred_channel,
            provider=sandbox.PROVIDER if rng.random() < 0.1 else "twilio", address=f"+86139{rng.randrange(10**8):08d}",
            subscriber_id=person.id, body=body, handler=rng.choice(HANDLERS), created_at=when(),
            status=rng.choice(["answered", "answered", "failed"]) if inbound else rng.choice(OUT_STATES)))
    await Message.bulk_create(rows)
    for _ in range(30):
        await Question.create(subscriber=rng.choice(people), channel="sms", text="核桃树流黑水",
                              reason=rng.choice(["no_match", "human", "feedback"]), created_at=when())
    broadcast = await Broadcast.create(kind="tip", text="今天下午有冰雹。", audience={}, state="done",
                                       created_by=console.officers["officer"])
    for r in range(3):
        run = await BroadcastRun.create(broadcast=broadcast, fire_at=now - timedelta(hours=r), state="done",
                                        targeted=len(people))
        await Delivery.bulk_create([Delivery(
            run=run, subscriber_id=person.id, channel=person.preferred_channel, state=rng.choice(DELIVERY_STATES),
            due_at=when(), sent_at=when() if rng.random() < 0.7 else None) for person in people])


async def test_kept_days_equal_counting_anew_across_midnight_and_late_changes(console: Console) -> None:
    app = console.app
    config = app[CONFIG]
    now = datetime.now(UTC)
    await _world(console, now, random.Random(21))
    today = now.astimezone(config.tz).date()

    # yesterday's delivery and direct reply, sent; their receipts come late
    yesterday = (_midnight(config, today - timedelta(days=1)), _midnight(config, today))
    person = await Subscriber.filter(status="active").first()
    assert person is not None
    run = await BroadcastRun.filter().first()
    assert run is not None
    at = yesterday[0] + timedelta(hours=5)
    delivery = await Delivery.create(run=run, subscriber=await Subscriber.create(phone="+8613700000001"),
                                     channel="sms", state="sent", due_at=at, sent_at=at)
    reply = await Message.create(direction="out", channel="sms", provider="twilio", address="+8613700000001",
                                 body="回复", status="sent", created_at=at)
    first = await same(app, now)
    assert sum(first["outbound_days"]["delivered"]) > 0 and first["topics"]["by_crop"]
    kept = {(row.day, row.part) for row in await DashboardDay.all()}
    # settled: outbound SETTLE_DAYS after the day ended; inbound once the day ended (nothing is processing)
    assert (today - timedelta(days=dashboard.SETTLE_DAYS + 1), "outbound") in kept
    assert (today - timedelta(days=dashboard.SETTLE_DAYS), "outbound") not in kept
    assert (today - timedelta(days=2), "inbound") in kept and (today, "inbound") not in kept
    assert await same(app, now) == first  # read back from the kept days

    # A late receipt on a day still open: yesterday's delivery and reply move from sent to delivered.
    await Delivery.filter(id=delivery.id).update(state="delivered")
    await Message.filter(id=reply.id).update(status="delivered")
    late = await same(app, now)
    assert late["outbound_days"]["delivered"][-2] == first["outbound_days"]["delivered"][-2] + 2

    # A text of yesterday still being answered keeps yesterday open until it is answered.
    await DashboardDay.filter(day=today - timedelta(days=1), part="inbound").delete()
    waiting = await Message.create(direction="in", channel="sms", provider="twilio", address="+8613900000001",
                                   body="苞谷生虫了", status="processing", handler="",
                                   created_at=yesterday[1] - timedelta(minutes=30))
    await same(app, now)
    assert not await DashboardDay.filter(day=today - timedelta(days=1), part="inbound").exists()
    await Message.filter(id=waiting.id).update(status="answered", handler=KNOWLEDGE)
    await same(app, now)
    assert await DashboardDay.filter(day=today - timedelta(days=1), part="inbound").exists()

    # The county clock passes midnight (and again a day later): days close and are kept, the chart moves.
    for hours in (25, 49):
        later = now + timedelta(hours=hours)
        moved = await same(app, later)
        assert moved["outbound_days"]["days"][-1] == later.astimezone(config.tz).strftime("%m-%d")
        closed = later.astimezone(config.tz).date() - timedelta(days=dashboard.SETTLE_DAYS + 1)
        assert await DashboardDay.filter(day=closed, part="outbound").exists()


async def test_a_kept_day_is_not_counted_again_unless_counted_another_way(console: Console) -> None:
    """What makes the page cheap: a settled day is read, not counted (a change older than the settling
    time is not seen), until the way of counting changes (another time zone, other crop names)."""
    app = console.app
    config = app[CONFIG]
    now = datetime.now(UTC)
    await _world(console, now, random.Random(7))
    first = await same(app, now)
    old = now.astimezone(config.tz).date() - timedelta(days=6)
    start = _midnight(config, old)
    await Message.create(direction="out", channel="sms", provider="twilio", address="+8613900000001", body="迟到的",
                         status="delivered", created_at=start + timedelta(hours=3))
    stats = await dashboard.collect(app, now)
    assert _core(stats)["outbound_days"] == first["outbound_days"]  # the kept day, not the rows
    assert (await anew(app, now))["outbound_days"]["delivered"][-7] == first["outbound_days"]["delivered"][-7] + 1
    await DashboardDay.filter(day=old).update(basis="counted another way")
    await same(app, now)  # counted again, and kept again
    assert await DashboardDay.filter(day=old, part="outbound").exclude(basis="counted another way").exists()


async def test_the_page_and_its_cache_use_the_kept_days(console: Console) -> None:
    app = console.app
    now = datetime.now(UTC)
    await _world(console, now, random.Random(3))
    await console.login("officer")
    api = await (await console.api("GET", "/api/v1/stats")).json()
    assert await DashboardDay.all().count() > 0
    expected = await anew(app, datetime.now(UTC))
    assert api["subscribers"] == expected["subscribers"]
    assert api["messages_today"] == expected["messages_today"]
    assert api["outbound_days"] == expected["outbound_days"]
    assert sorted((k["kind"], k["count"]) for k in api["topics"]["by_kind"]) == sorted(expected["topics"]["by_kind"])
    assert [(c["crop"], c["count"]) for c in api["topics"]["by_crop"]] == expected["topics"]["by_crop"]
    assert (await console.client.get("/admin/")).status == 200
