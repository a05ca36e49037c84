"""Issue 15 item 8: doubled SMS when Twilio answers 5xx after creating the message.

A 5xx (or a reset after the request went out) does not prove the message was not created: such a
send is in doubt, and Twilio's message log is asked before it is sent again, by the sender at once
and by the engine (replies and broadcasts) before each resend."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import outbox
from bot.models import Subscriber
from broadcasts.models import Broadcast, Delivery
from tests.broadcasts.test_broadcasts import _approved, _twilio_app, tokens, villagers, wait_for
from tests.channels.test_twilio import PHONE, client, fake, fake_server  # noqa: F401 (fixtures)
from tests.fakes.twilio import FakeTwilio

pytestmark = pytest.mark.db
TEXT = "明天有霜冻，茶园请盖膜。"


async def test_5xx_after_create_sends_once(client: TestClient, fake: FakeTwilio) -> None:
    """240 of 240 such sends arrived twice before: every one arrives once now."""
    people = [await Subscriber.create(phone=f"+86139{i:08d}") for i in range(240)]
    fake.faults.extend(["500-after-create"] * len(people))
    rows = await asyncio.gather(*(outbox.send_text(client.app, p, TEXT, backoff=0.01) for p in people))
    assert sorted(m["to"] for m in fake.messages.values()) == sorted(p.phone for p in people)
    assert {(r.status, r.attempts) for r in rows} == {("queued", 1)}
    assert {r.provider_id for r in rows} == set(fake.messages)  # each row knows its message's sid
    assert fake.create_calls == 240


@pytest.mark.parametrize("fault", ["500-after-create-late", "close-after-create", "500"])
async def test_in_doubt_reply_is_looked_up_again_before_a_resend(client: TestClient, fake: FakeTwilio,
                                                                 fault: str) -> None:
    """The message shows in Twilio's log only after the sender's own look-up: the retry looks again
    first and finds it; a message that was really not created (plain 500) is sent once more."""
    fake.late_seconds = 0.05
    fake.faults.append(fault)
    sub = await Subscriber.create(phone=PHONE)
    row = await outbox.send_text(client.app, sub, TEXT, backoff=0.2)
    assert row.status == "queued" and len(fake.messages) == 1
    assert row.provider_id in fake.messages
    assert fake.create_calls == (2 if fault == "500" else 1)


async def test_4xx_is_final_proof_and_not_looked_up(client: TestClient, fake: FakeTwilio) -> None:
    fake.faults.append("429")  # a refusal: nothing was created, so it is simply tried again
    sub = await Subscriber.create(phone=PHONE)
    row = await outbox.send_text(client.app, sub, TEXT, backoff=0.01)
    assert (row.status, row.attempts) == ("queued", 2) and len(fake.messages) == 1


async def test_5xx_after_create_broadcast_sends_once(aiohttp_client: Any, db_url: str, aiohttp_server: Any,
                                                     fake: FakeTwilio) -> None:
    fake_server: TestServer = await aiohttp_server(fake.app())
    fake.late_seconds = 0.02  # shorter than the retry wait: the engine's look-up before resending finds it
    fake.faults.extend(["500-after-create"] * 4 + ["500-after-create-late"] * 4)
    client = await _twilio_app(aiohttp_client, db_url, fake_server, fake, max_attempts=5)
    await villagers(8)
    broadcast_id = await _approved(client, await tokens())

    async def done() -> bool:
        return (await Broadcast.get(id=broadcast_id)).state == "done"

    await wait_for(done, 30)
    assert sorted(m["to"] for m in fake.messages.values()) == sorted(f"+86139{i:08d}" for i in range(8))
    assert fake.create_calls == 8
    assert await Delivery.filter(state="sent").count() == 8
    sids = set(await Delivery.all().values_list("provider_id", flat=True))
    assert sids == set(fake.messages)


@pytest.mark.parametrize("log_fault", ["500", "timeout"])
async def test_a_log_that_does_not_answer_is_not_read_as_not_sent(client: TestClient, fake: FakeTwilio,
                                                                   log_fault: str) -> None:
    """Twilio took the message but answered 500, and its message log did not answer either: unknown is not
    "not sent". The reply is not sent again (it stays failed, for an officer to see) rather than doubled."""
    fake.faults.append("500-after-create")
    fake.list_faults.extend([log_fault] * 3)  # the sender's own look-up and the outbox's two
    sub = await Subscriber.create(phone=PHONE)
    row = await outbox.send_text(client.app, sub, TEXT, backoff=0.01)
    assert fake.create_calls == 1 and len(fake.messages) == 1
    assert row.status == "failed"
