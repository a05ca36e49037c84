"""Issue 15 item 14: WeChat past its 5 seconds under overload.

At saturation replies took up to 5.3 s and nothing was deferred: the reply budget started when the
handler ran, not when the request arrived, and every answer was worked out at once, so each took
longer as more came in. Now the budget counts from arrival, answers are worked out in a bounded
number of slots (newest message first), and a message whose answer cannot start in time is stored,
answered "success" at once and sent as a customer-service message when a slot is free.
benchmarks/overload.py measures it against a real server at 1x and 2x saturation."""

from __future__ import annotations

import asyncio
import time
from datetime import timedelta
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot import intake
from bot.app import create_app
from bot.channels import wechat
from bot.keys import ROUTER
from bot.messages import InboundMessage, Reply
from bot.models import Message, PushItem
from bot.routing import Context, Router
from tests.channels.test_wechat import URL, eventually, fake, fake_server, post, start, wechat_config  # noqa: F401
from tests.fakes.wechat import FakeWeChat

pytestmark = pytest.mark.db
ANSWER = "想好了：多施有机肥。"


def working_router(seconds: float, calls: list[str]) -> Router:
    """An answer that takes `seconds` to work out."""
    router = Router("work")

    @router.keyword(prefix=("问",))
    async def think(msg: InboundMessage, ctx: Context) -> Reply:
        calls.append(msg.text)
        await asyncio.sleep(seconds)
        return Reply(ANSWER)

    return router


def queued_before_the_handler(seconds: float) -> Any:
    """What a busy server does to a request before its handler runs (other middleware, a long turn
    of the event loop): here, a plain wait inside the arrival stamp."""

    @web.middleware
    async def queued(request: web.Request, handler: Any) -> web.StreamResponse:
        if request.path == URL:
            await asyncio.sleep(seconds)
        return await handler(request)

    return queued


async def test_budget_counted_from_arrival(aiohttp_client: Any, db_url: str, fake: FakeWeChat,
                                           fake_server: TestServer) -> None:
    calls: list[str] = []
    app = create_app(wechat_config(db_url, fake, fake_server, reply_budget=1.0))
    app[ROUTER].include(working_router(0.5, calls))
    app.middlewares.append(queued_before_the_handler(0.8))  # inside the arrival stamp (the outermost)
    assert app.middlewares[0] is wechat.arrival
    client = await aiohttp_client(app)
    started = time.monotonic()
    status, body = await post(client, fake, fake.text_xml("oQueued", "问 霜冻"))
    elapsed = time.monotonic() - started
    # Counted from the handler's start, the answer (ready 1.3 s after arrival) would have been the reply.
    assert (status, body) == (200, "success") and elapsed < 1.2
    await eventually(lambda: fake.custom)
    assert [m["text"]["content"] for m in fake.custom] == [ANSWER] and calls == ["问 霜冻"]


async def test_unqueued_answer_in_time_is_still_passive(aiohttp_client: Any, db_url: str, fake: FakeWeChat,
                                                        fake_server: TestServer) -> None:
    calls: list[str] = []
    app = create_app(wechat_config(db_url, fake, fake_server, reply_budget=1.0))
    app[ROUTER].include(working_router(0.5, calls))
    app.middlewares.append(queued_before_the_handler(0.1))
    client = await aiohttp_client(app)
    status, body = await post(client, fake, fake.text_xml("oQueued", "问 霜冻"))
    assert status == 200 and fake.open_reply(body)["Content"] == ANSWER and fake.custom == []


async def test_overload_answers_every_message_within_the_budget(aiohttp_client: Any, db_url: str,
                                                               fake: FakeWeChat, fake_server: TestServer,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """30 messages at once, 2 answer slots, 0.3 s per answer: about 6 fit in a 1 s budget. Every
    request is answered within it, the rest are deferred, and each message is answered exactly once."""
    monkeypatch.setattr(wechat.slots, "WORKERS", 2)
    calls: list[str] = []
    client = await start(aiohttp_client, wechat_config(db_url, fake, fake_server, reply_budget=1.0),
                         working_router(0.3, calls))
    users = [f"oUser{i:03d}" for i in range(30)]

    async def one(openid: str) -> tuple[float, int, str]:
        started = time.monotonic()
        status, body = await post(client, fake, fake.text_xml(openid, f"问 {openid}"))
        return time.monotonic() - started, status, body

    results = await asyncio.gather(*(one(u) for u in users))
    assert {status for _, status, _ in results} == {200}
    assert max(t for t, _, _ in results) < 1.3
    passive = [fake.open_reply(body)["ToUserName"] for _, _, body in results if body != "success"]
    deferred = [u for u, (_, _, body) in zip(users, results, strict=True) if body == "success"]
    assert passive and len(deferred) >= 15
    await eventually(lambda: len(fake.custom) >= len(deferred), 30)
    await eventually(lambda: not client.app[wechat.PENDING].tasks, 30)
    assert sorted(passive + [m["touser"] for m in fake.custom]) == users  # each exactly once
    assert sorted(calls) == sorted(f"问 {u}" for u in users)
    assert await Message.filter(direction="in").count() == 30
    assert not await PushItem.filter(processed_at__isnull=True).exists()


async def test_deferred_message_survives_a_crash(aiohttp_client: Any, db_url: str, fake: FakeWeChat,
                                                 fake_server: TestServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """Answered "success" because no slot was free, then the process died before working it out: the
    next start answers it, once."""
    monkeypatch.setattr(intake, "LEASE", timedelta(0))  # PostgreSQL: the dead process's hold ends at once
    calls: list[str] = []
    config = wechat_config(db_url, fake, fake_server, reply_budget=0.4)
    first = await start(aiohttp_client, config, working_router(0.05, calls))
    pending = first.app[wechat.PENDING]
    pending.slots.free = 0  # every slot busy
    monkeypatch.setattr(pending, "spawn", lambda work: work.close())  # dies before the work starts
    assert await post(first, fake, fake.text_xml("oLate", "问 霜冻")) == (200, "success")
    assert await PushItem.filter(provider="wechat", processed_at__isnull=True).count() == 1
    assert calls == [] and await Message.all().count() == 0
    await first.close()

    second = await start(aiohttp_client, config, working_router(0.05, calls))
    await eventually(lambda: fake.custom, 10)
    assert [(m["touser"], m["text"]["content"]) for m in fake.custom] == [("oLate", ANSWER)]
    await eventually(lambda: not second.app[wechat.PENDING].tasks)
    assert calls == ["问 霜冻"] and await Message.filter(direction="in").count() == 1
    # The start's sweep answered it (not a task of PENDING): its row is marked done just after the send.
    deadline = time.monotonic() + 5
    while await PushItem.filter(processed_at__isnull=True).exists():
        assert time.monotonic() < deadline, "the deferred message's row was never marked done"
        await asyncio.sleep(0.02)
    assert [(m["touser"], m["text"]["content"]) for m in fake.custom] == [("oLate", ANSWER)]  # still once


async def test_slots_newest_urgent_first_then_deferred_in_order() -> None:
    slots = wechat.Slots(1)
    assert slots.try_acquire() and not slots.try_acquire()
    order: list[str] = []

    async def wait(name: str, urgent: bool) -> None:
        await slots.acquire(urgent)
        order.append(name)

    tasks = []
    for name, urgent in (("later-1", False), ("old", True), ("later-2", False), ("new", True)):
        tasks.append(asyncio.create_task(wait(name, urgent)))
        await asyncio.sleep(0)
    gave_up = asyncio.create_task(wait("gave-up", True))
    await asyncio.sleep(0)
    gave_up.cancel()  # a message that gave up waiting leaves no hole
    for _ in range(4):
        slots.release()
        await asyncio.sleep(0)
    await asyncio.gather(*tasks)
    assert order == ["new", "old", "later-1", "later-2"]
    slots.release()
    assert slots.free == 1
