"""Pacing and quiet hours on tests/fakes' FakeClock: time moves when the test says, nothing really sleeps."""

from __future__ import annotations

import asyncio
from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web

from bot.config import Config
from bot.keys import SENDERS
from bot.models import Officer, Subscriber
from broadcasts import dispatcher, ratelimit
from broadcasts.dispatcher import BULK, Dispatcher
from broadcasts.models import Broadcast, BroadcastRun, Delivery
from tests.conftest import make_config
from tests.fakes.clock import FakeClock
from tests.fakes.sender import InMemorySender

TZ = ZoneInfo("Asia/Shanghai")
EVENING = datetime(2026, 3, 2, 22, 0, tzinfo=TZ)  # inside quiet hours
MORNING = datetime(2026, 3, 3, 7, 30, tzinfo=TZ)  # the first minute after them
POLL = 5.0


@pytest.fixture
def config(db_url: str) -> Config:
    return make_config(db_url, sms={"quiet_hours": "21:00-07:30"},
                       broadcasts={"poll_seconds": POLL, "sms_rate": 0})


async def test_token_bucket_waits_for_its_rate_on_the_clock(clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    clock.install(monkeypatch, ratelimit)
    bucket = ratelimit.TokenBucket("sms", rate=2, burst=1)  # one send every half second
    await bucket.take()  # the burst: at once
    second = asyncio.create_task(bucket.take())
    await clock.until_sleeping()
    await clock.advance(0.4)
    assert not second.done()
    await clock.advance(0.1)
    await second
    assert clock.monotonic() == 1000.5


async def _queued(count: int, clock: FakeClock, *, priority: int = BULK) -> None:
    officer = await Officer.create(name="审核员老李", role="supervisor", password_hash="x")
    broadcast = await Broadcast.create(kind="tip", text="明早有霜冻，柑橘园请覆盖。", audience={}, state="sending",
                                       created_by=officer)
    run = await BroadcastRun.create(broadcast=broadcast, fire_at=clock.now(TZ), state="sending", targeted=count)
    for i in range(count):
        sub = await Subscriber.create(phone=f"+86139{i:08d}", preferred_channel="sms")
        await Delivery.create(run=run, subscriber=sub, channel="sms", due_at=clock.now(TZ), priority=priority)


@pytest.fixture
def evening(quick_app: web.Application, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> InMemorySender:
    """The dispatcher on the fake clock at 22:00 Beijing time (quiet hours); its SMS sender."""
    clock.install(monkeypatch, dispatcher)
    clock.set(EVENING)
    sender = quick_app[SENDERS]["sms"]
    assert isinstance(sender, InMemorySender)
    return sender


async def test_quiet_hours_hold_bulk_sends_until_morning(
    quick_app: web.Application, clock: FakeClock, evening: InMemorySender,
) -> None:
    await _queued(3, clock)
    engine = Dispatcher(quick_app)
    assert await engine.tick() == 0
    assert await Delivery.filter(state="queued").count() == 3
    clock.set(MORNING)
    assert await engine.tick() == 3
    assert sorted(s.address for s in evening.sent) == [f"+86139{i:08d}" for i in range(3)]
    assert await Delivery.filter(state="sent").count() == 3


async def test_the_polling_dispatcher_wakes_on_the_clock(
    quick_app: web.Application, clock: FakeClock, evening: InMemorySender,
) -> None:
    await _queued(2, clock)
    task = asyncio.create_task(Dispatcher(quick_app).run_forever())
    try:
        await clock.until_sleeping()  # polled once, found nothing it may send, waits POLL seconds
        assert evening.sent == []
        clock.set(MORNING)
        await clock.advance(POLL)
        await evening.wait_for(2)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


async def test_an_audience_by_a_dialect_crop_name_reaches_its_growers(quick_app: web.Application) -> None:
    from bot.models import pack_set
    from broadcasts.audience import Audience, matching

    grower = await Subscriber.create(phone="+8613800000011", crops=pack_set(["马铃薯"]))
    await Subscriber.create(phone="+8613800000012", crops=pack_set(["柑橘"]))
    audience = Audience.from_json({"crops": ["洋芋", "苞谷"]})
    assert audience.crops == ("马铃薯", "玉米")  # stored and shown under their standard names
    assert [s.id for s in await matching(audience)] == [grower.id]
