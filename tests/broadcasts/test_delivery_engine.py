"""The delivery engine's batched writes (issue 21) keep exactly-once: a batch's outcomes are written
before tick() returns, even when a write is slow; a live worker's rows are never reclaimed however
long its batch; a provider log that does not answer never leads to a resend. Each test drives
Dispatcher objects by hand against an in-process fake Twilio."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from aiohttp import web

from bot.app import create_app
from bot.keys import SENDERS
from bot.models import Subscriber
from bot.web import auth
from broadcasts import dispatcher, store
from broadcasts.dispatcher import Dispatcher
from broadcasts.models import Broadcast, BroadcastRun, Delivery
from tests.conftest import make_config
from tests.fakes.twilio import FROM_NUMBER, FakeTwilio

pytestmark = pytest.mark.db
BODY = "今天打药注意防护。"


@pytest.fixture
async def fake() -> FakeTwilio:
    return FakeTwilio()


@contextlib.asynccontextmanager
async def engine_app(db_url: str, aiohttp_server: Any, fake: FakeTwilio, **broadcasts: Any) -> AsyncIterator[
        web.Application]:
    server = await aiohttp_server(fake.app())
    config = make_config(db_url, sms={"provider": "twilio"}, broadcasts={"retry_base_seconds": 0.05, **broadcasts},
                         twilio={"account_sid": fake.account_sid, "auth_token": fake.auth_token,
                                 "from_number": FROM_NUMBER, "api_base": str(server.make_url("")).rstrip("/"),
                                 "timeout": 5})
    application = create_app(config, role="cli")  # no worker of its own: the tests drive Dispatchers
    runner = web.AppRunner(application)
    await runner.setup()
    try:
        yield application
    finally:
        await runner.cleanup()


async def a_run(people: int, state: str = "queued", **row: Any) -> list[Subscriber]:
    """A run being sent to `people` villagers, one delivery row each in `state`."""
    officer = await auth.add_officer("boss", "supervisor", "password-123")
    for i in range(people):
        await Subscriber.create(phone=f"+86139{i:08d}", township="关防乡", preferred_channel="sms")
    broadcast = await Broadcast.create(kind="tip", text=BODY, audience={}, state="sending", created_by=officer,
                                       approved_by=officer)
    run = await BroadcastRun.create(broadcast=broadcast, fire_at=datetime.now(UTC), state="sending", targeted=people)
    subs = await Subscriber.all().order_by("id")
    for sub in subs:
        await Delivery.create(run=run, subscriber=sub, channel="sms", state=state,
                              due_at=datetime.now(UTC) - timedelta(minutes=1), **row)
    return list(subs)


def sent_once(fake: FakeTwilio, subs: list[Subscriber]) -> None:
    assert sorted(m["to"] for m in fake.messages.values()) == sorted(s.phone for s in subs)


async def test_tick_returns_only_once_its_outcomes_are_written(db_url: str, aiohttp_server: Any, fake: FakeTwilio,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression (the first batched engine, reverted): the keeper took the outcomes and wrote them
    slowly while the batch ended; the batch's own flush found nothing left and tick() returned with
    rows still `sending`, so the next claim or reclaim could run before they were written."""
    real_record = store.record
    calls = 0

    async def slow_first_write(*args: Any) -> None:
        nonlocal calls
        calls += 1
        if calls == 1:
            await asyncio.sleep(1.0)
        await real_record(*args)

    monkeypatch.setattr(store, "record", slow_first_write)
    monkeypatch.setattr(dispatcher, "FLUSH_SECONDS", 0.05)
    async with engine_app(db_url, aiohttp_server, fake, sms_rate=40.0) as app:
        subs = await a_run(60)  # 60 sends at 40 a second: the keeper writes while the batch is out
        assert await Dispatcher(app).tick() == 60
        assert calls >= 2  # the slow write was the keeper's, not the last one
        assert await Delivery.filter(state="sent").count() == 60
        sent_once(fake, subs)


async def test_a_live_workers_rows_are_not_reclaimed_however_long_its_batch(
        db_url: str, aiohttp_server: Any, fake: FakeTwilio) -> None:
    """Regression: a batch that outlived its lease (a low rate limit, a loaded machine) looked
    abandoned; another worker's reclaim() queued its unsent rows again and both sent them."""
    async with engine_app(db_url, aiohttp_server, fake, lease_seconds=1, sms_rate=10.0, batch_size=30) as app:
        subs = await a_run(30)  # 30 sends at 10 a second: about 2 s, twice the lease
        worker, other = Dispatcher(app), Dispatcher(app)
        batch = asyncio.create_task(worker.tick())
        reclaimed = 0
        while not batch.done():
            await asyncio.sleep(0.1)
            reclaimed += await other.reclaim()
        assert await batch == 30
        assert reclaimed == 0
        while await other.tick():  # anything left over would go out now
            pass
        assert await Delivery.filter(state="sent").count() == 30
        sent_once(fake, subs)


async def test_a_provider_log_that_does_not_answer_causes_no_resend(db_url: str, aiohttp_server: Any,
                                                                     fake: FakeTwilio) -> None:
    """An orphaned row and a row in doubt, both already at Twilio: while the lookup fails, neither is
    sent again; once it answers, both are marked sent, each message still sent once."""
    async with engine_app(db_url, aiohttp_server, fake) as app:
        past = datetime.now(UTC) - timedelta(minutes=1)
        subs = await a_run(2, state="sending", lease_until=past, attempts=1)
        for sub in subs:
            fake._record({"To": sub.phone, "Body": "【农技通】" + BODY, "From": FROM_NUMBER})
        doubt = await Delivery.get(subscriber_id=subs[1].id)
        await Delivery.filter(id=doubt.id).update(state="queued", error_code=dispatcher.IN_DOUBT, lease_until=None)
        sender = app[SENDERS]["sms"]
        answers = sender.find_sent
        failing = True

        async def find_sent(address: str, body: str, since: datetime) -> Any:
            if failing:
                raise TimeoutError("no answer from the provider's log")
            return await answers(address, body, since)

        sender.find_sent = find_sent
        engine = Dispatcher(app)
        await engine.reclaim()
        await engine.tick()
        assert await Delivery.filter(state="sent").count() == 0
        assert len(fake.messages) == 2 and fake.create_calls == 0
        failing = False
        await engine.reclaim()
        await asyncio.sleep(0.2)  # the row in doubt was handed back with a short backoff
        await engine.tick()
        assert await Delivery.filter(state="sent").count() == 2
        assert fake.create_calls == 0
        sent_once(fake, subs)
