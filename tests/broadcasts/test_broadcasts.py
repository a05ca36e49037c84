"""Broadcasts through the JSON API: approval rules, audiences and previews, schedules, the delivery
engine (retries, pause/resume/cancel, quiet hours) and recovery of rows a dead worker left."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot.app import create_app
from bot.models import Subscriber, pack_set
from bot.web import auth
from broadcasts import schedules
from broadcasts.api import SCHEDULER_WAKE
from broadcasts.models import Broadcast, BroadcastRun, Delivery
from tests.conftest import make_config
from tests.fakes.twilio import FROM_NUMBER, FakeTwilio

pytestmark = pytest.mark.db

FAST = {"poll_seconds": 0.05, "retry_base_seconds": 0.05, "lease_seconds": 1}
TZ = ZoneInfo("Asia/Shanghai")


async def villagers(count: int = 6) -> None:
    towns = ["关防乡", "上津镇"]
    for i in range(count):
        await Subscriber.create(
            phone=f"+86139{i:08d}", township=towns[i % 2], crops=pack_set(["柑橘"] if i % 3 == 0 else ["玉米"]),
            topics=pack_set(["技术", "价格"] if i % 2 == 0 else ["技术"]), preferred_channel="sms")


async def tokens() -> dict[str, str]:
    out = {}
    for name, role in (("writer", "officer"), ("boss", "supervisor"), ("other", "officer")):
        officer = await auth.add_officer(name, role, "password-123")
        out[name] = await auth.create_token(officer)
    return out


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
async def api(aiohttp_client: Any, db_url: str) -> TestClient:
    return await aiohttp_client(create_app(make_config(db_url, broadcasts=FAST)))


async def wait_for(predicate: Any, seconds: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("condition not reached in time")
        await asyncio.sleep(0.05)


async def create(api: TestClient, token: str, **changes: Any) -> dict[str, Any]:
    body = {"kind": "tip", "text": "明早有霜冻，柑橘园请覆盖。", "audience": {}, "schedule": None,
            "spread_minutes": 0, **changes}
    resp = await api.post("/api/v1/broadcasts", json=body, headers=bearer(token))
    assert resp.status == 201, await resp.text()
    return await resp.json()  # type: ignore[no-any-return]


async def test_create_preview_approve_and_deliver(api: TestClient) -> None:
    await villagers(8)  # 关防乡 with 柑橘: numbers …0 (about to opt out) and …6
    opted = await Subscriber.get(phone="+8613900000000")
    opted.status = "opted_out"
    await opted.save()
    keys = await tokens()
    made = await create(api, keys["writer"], audience={"townships": ["关防乡"], "crops": ["柑橘"], "channels": ["sms"]})
    assert made["state"] == "pending_approval"
    assert made["preview"]["recipients"] == 1
    assert made["preview"]["by_channel"] == {"sms": 1} and made["preview"]["sms_segments"] == 1
    resp = await api.post(f"/api/v1/broadcasts/{made['id']}/approve", headers=bearer(keys["writer"]))
    assert resp.status == 403  # officers do not approve, and nobody their own
    resp = await api.post(f"/api/v1/broadcasts/{made['id']}/approve", headers=bearer(keys["boss"]))
    assert (resp.status, (await resp.json())["state"]) == (200, "scheduled")

    async def done() -> bool:
        return (await Broadcast.get(id=made["id"])).state == "done"

    await wait_for(done)
    status = await (await api.get(f"/api/v1/broadcasts/{made['id']}", headers=bearer(keys["other"]))).json()
    (run,) = status["runs"]
    assert {k: run[k] for k in ("targeted", "sent", "failed", "pending")} == {"targeted": 1, "sent": 1, "failed": 0,
                                                                              "pending": 0}


async def test_audience_preview_counts_and_costs(api: TestClient) -> None:
    await villagers(10)
    keys = await tokens()
    text = "柑橘红蜘蛛进入高发期，" * 8
    resp = await api.post("/api/v1/broadcasts/preview", json={"text": text, "audience": {"topics": ["价格"]}},
                          headers=bearer(keys["writer"]))
    shown = await resp.json()
    assert shown["recipients"] == 5 and shown["sms_segments"] == 2
    assert shown["sms_segments_total"] == 10 and shown["estimated_cost_yuan"] == round(10 * 0.045, 2)


@pytest.mark.parametrize(("body", "status", "words"), [
    ({"kind": "gossip", "text": "x"}, 400, "kind"),
    ({"kind": "tip", "text": ""}, 400, "text"),
    ({"kind": "tip", "text": "x", "audience": {"planet": ["mars"]}}, 400, "planet"),
    ({"kind": "tip", "text": "x", "audience": {"channels": ["fax"]}}, 400, "fax"),
    ({"kind": "tip", "text": "x", "schedule": {"cron": "0 8 * *"}}, 400, "cron"),
    ({"kind": "tip", "text": "x", "schedule": {"at": "tomorrow"}}, 400, "at"),
])
async def test_bad_requests_are_json_errors(api: TestClient, body: dict[str, Any], status: int, words: str) -> None:
    keys = await tokens()
    resp = await api.post("/api/v1/broadcasts", json=body, headers=bearer(keys["writer"]))
    assert resp.status == status
    assert words in (await resp.json())["error"]


async def test_auth_is_required_and_checked(api: TestClient) -> None:
    keys = await tokens()
    assert (await api.get("/api/v1/broadcasts")).status == 401
    assert (await api.get("/api/v1/broadcasts", headers=bearer("nb_forged"))).status == 401
    assert (await api.get("/api/v1/broadcasts/999", headers=bearer(keys["writer"]))).status == 404
    resp = await api.post("/api/v1/broadcasts", data=b"{not json", headers=bearer(keys["writer"]))
    assert resp.status == 400 and "JSON" in (await resp.json())["error"]


async def test_self_approval_is_refused_unless_configured(aiohttp_client: Any, db_url: str) -> None:
    client = await aiohttp_client(create_app(make_config(db_url, broadcasts={**FAST, "allow_self_approval": True})))
    boss = await auth.add_officer("solo", "supervisor", "password-123")
    token = await auth.create_token(boss)
    made = await create(client, token)
    resp = await client.post(f"/api/v1/broadcasts/{made['id']}/approve", headers=bearer(token))
    assert resp.status == 200


def test_cron_weekday_means_what_cron_means() -> None:
    monday = schedules.cron_trigger("0 8 * * 1", TZ).get_next_fire_time(None, datetime(2026, 11, 27, tzinfo=TZ))
    assert monday.strftime("%a %H:%M") == "Mon 08:00"
    sunday = schedules.cron_trigger("30 7 * * 0", TZ).get_next_fire_time(None, datetime(2026, 11, 27, tzinfo=TZ))
    assert sunday.strftime("%a %H:%M") == "Sun 07:30"


def test_calendar_firings_group_townships_by_date() -> None:
    plan = schedules.parse({"calendar": {"dates": {"关防乡": "2027-04-10", "上津镇": "2027-04-10",
                                                   "夹河镇": "2027-04-20"}, "offset_days": -3, "time": "08:00"}},
                           TZ, datetime.now(TZ))
    assert [t.run_date.strftime("%F %H:%M") for t in plan.triggers] == ["2027-04-07 08:00", "2027-04-17 08:00"]
    audience = schedules.run_audience({"calendar": {"dates": {"关防乡": "2027-04-10", "夹河镇": "2027-04-20"},
                                                    "offset_days": -3}}, {}, datetime(2027, 4, 7, 8, tzinfo=TZ), TZ)
    assert audience == {"townships": ["关防乡"]}


async def _approved(api: TestClient, keys: dict[str, str], **changes: Any) -> int:
    made = await create(api, keys["writer"], **changes)
    resp = await api.post(f"/api/v1/broadcasts/{made['id']}/approve", headers=bearer(keys["boss"]))
    assert resp.status == 200
    return int(made["id"])


async def test_missed_firing_within_grace_goes_out_once(api: TestClient) -> None:
    await villagers(2)
    keys = await tokens()
    at = (datetime.now(UTC) - timedelta(minutes=10)).isoformat()
    broadcast_id = await _approved(api, keys, schedule={"at": at})

    async def done() -> bool:
        return (await Broadcast.get(id=broadcast_id)).state == "done"

    await wait_for(done)
    assert await BroadcastRun.filter(broadcast_id=broadcast_id).count() == 1
    assert await Delivery.filter(state="sent").count() == 2


async def test_missed_firing_beyond_grace_is_recorded_not_sent(api: TestClient) -> None:
    await villagers(2)
    keys = await tokens()
    at = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    broadcast_id = await _approved(api, keys, schedule={"at": at})

    async def recorded() -> bool:
        return await BroadcastRun.filter(broadcast_id=broadcast_id, state="skipped").exists()

    await wait_for(recorded)
    run = await BroadcastRun.get(broadcast_id=broadcast_id)
    assert "missed by 180 min" in run.note
    assert await Delivery.all().count() == 0


async def test_pause_resume_cancel_take_effect(aiohttp_client: Any, db_url: str) -> None:
    client = await aiohttp_client(create_app(make_config(db_url, broadcasts={**FAST, "sms_rate": 10.0})))
    await villagers(40)
    keys = await tokens()
    broadcast_id = await _approved(client, keys)

    async def some_sent() -> bool:
        return await Delivery.filter(state="sent").count() >= 5

    await wait_for(some_sent)
    assert (await client.post(f"/api/v1/broadcasts/{broadcast_id}/pause", headers=bearer(keys["writer"]))).status == 200
    await asyncio.sleep(0.5)  # batches already claimed finish
    paused_at = await Delivery.filter(state="sent").count()
    await asyncio.sleep(1.0)
    assert await Delivery.filter(state="sent").count() == paused_at < 40
    assert (await client.post(f"/api/v1/broadcasts/{broadcast_id}/resume", headers=bearer(keys["writer"]))).status == 200

    async def more_sent() -> bool:
        return await Delivery.filter(state="sent").count() > paused_at + 3

    await wait_for(more_sent)
    resp = await client.post(f"/api/v1/broadcasts/{broadcast_id}/cancel", json={"reason": "写错了"},
                             headers=bearer(keys["writer"]))
    assert (resp.status, (await resp.json())["state"]) == (200, "cancelled")
    await asyncio.sleep(0.5)
    sent = await Delivery.filter(state="sent").count()
    await asyncio.sleep(1.0)
    assert await Delivery.filter(state="sent").count() == sent < 40
    assert await Delivery.filter(state="queued").count() == 0


async def test_quiet_hours_hold_bulk_sends(aiohttp_client: Any, db_url: str) -> None:
    now = datetime.now(TZ)
    window = f"{(now - timedelta(hours=1)):%H:%M}-{(now + timedelta(hours=1)):%H:%M}"
    client = await aiohttp_client(create_app(make_config(db_url, sms={"quiet_hours": window}, broadcasts=FAST)))
    await villagers(3)
    keys = await tokens()
    broadcast_id = await _approved(client, keys)

    async def enqueued() -> bool:
        return await Delivery.all().count() == 3

    await wait_for(enqueued)
    await asyncio.sleep(0.5)
    assert await Delivery.filter(state="queued").count() == 3
    assert (await Broadcast.get(id=broadcast_id)).state == "sending"


@pytest.fixture
async def fake() -> FakeTwilio:
    return FakeTwilio(hang_seconds=1.0)


async def _twilio_app(aiohttp_client: Any, db_url: str, fake_server: TestServer, fake: FakeTwilio,
                      **broadcasts: Any) -> TestClient:
    config = make_config(db_url, sms={"provider": "twilio"}, broadcasts={**FAST, **broadcasts}, twilio={
        "account_sid": fake.account_sid, "auth_token": fake.auth_token, "from_number": FROM_NUMBER,
        "api_base": str(fake_server.make_url("")).rstrip("/"), "timeout": 0.3})
    return await aiohttp_client(create_app(config))


async def test_rate_limited_then_down_provider_loses_and_doubles_nothing(aiohttp_client: Any, db_url: str,
                                                                         aiohttp_server: Any, fake: FakeTwilio) -> None:
    fake_server = await aiohttp_server(fake.app())
    fake.faults.extend(["429"] * 6 + ["500"] * 4 + ["close"] * 2 + ["timeout"] + ["slow-create"])
    client = await _twilio_app(aiohttp_client, db_url, fake_server, fake, max_attempts=20)
    await villagers(8)
    keys = await tokens()
    broadcast_id = await _approved(client, keys)

    async def done() -> bool:
        return (await Broadcast.get(id=broadcast_id)).state == "done"

    await wait_for(done, 30)
    assert sorted(m["to"] for m in fake.messages.values()) == sorted(f"+86139{i:08d}" for i in range(8))
    assert await Delivery.filter(state="sent").count() == 8


async def test_orphaned_rows_are_reconciled_not_resent(aiohttp_client: Any, db_url: str, aiohttp_server: Any,
                                                       fake: FakeTwilio) -> None:
    """A worker died after Twilio accepted one message and before recording it, and before sending
    another: the first is found in Twilio's log, the second is sent, each exactly once."""
    fake_server = await aiohttp_server(fake.app())
    client = await _twilio_app(aiohttp_client, db_url, fake_server, fake)  # its worker finds the rows below
    officer = await auth.add_officer("boss", "supervisor", "password-123")
    await villagers(2)
    # The state that worker left, built as the scheduler and the engine build it: the run is the
    # broadcast's one firing (fire_at = approved_at), and both go `sending` only once the rows exist.
    # Regression (a flaky test on loaded machines, once blamed on the engine): with approved_at left
    # empty, a scheduler sync took the broadcast for one approved just now and fired it again (both
    # villagers got it twice); and a run `sending` with no rows yet could be finished (done) by the
    # engine before its rows were written, so they were never sent.
    fired = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=2)  # the worker died since
    broadcast = await Broadcast.create(kind="tip", text="今天打药注意防护。", audience={}, state="pending_approval",
                                       created_by=officer, approved_by=officer, approved_at=fired)
    run = await BroadcastRun.create(broadcast=broadcast, fire_at=fired, state="enqueuing", targeted=2)
    past = datetime.now(UTC) - timedelta(minutes=1)
    subs = await Subscriber.all().order_by("id")
    fake._record({"To": subs[0].phone, "Body": "【农技通】今天打药注意防护。", "From": FROM_NUMBER})
    for sub in subs:
        await Delivery.create(run=run, subscriber=sub, channel="sms", state="sending", due_at=past,
                              lease_until=past, attempts=1)
    await BroadcastRun.filter(id=run.id).update(state="sending")
    await Broadcast.filter(id=broadcast.id).update(state="sending")
    client.app[SCHEDULER_WAKE]()  # the scheduler looks at once, while the broadcast is `sending`

    async def done() -> bool:
        return await Delivery.filter(state="sent").count() == 2

    await wait_for(done)
    assert await BroadcastRun.filter(broadcast_id=broadcast.id).count() == 1
    assert sorted(m["to"] for m in fake.messages.values()) == sorted(s.phone for s in subs)


@pytest.mark.postgres
async def test_concurrent_claims_are_disjoint_regression_values_drops_for_update(app: Any) -> None:
    """Regression: Tortoise dropped FOR UPDATE SKIP LOCKED from a .values() claim query, so two
    workers claimed the same rows and sent 568 messages to 300 people."""
    from broadcasts.dispatcher import Dispatcher

    officer = await auth.add_officer("boss", "supervisor", "password-123")
    await villagers(60)
    broadcast = await Broadcast.create(kind="tip", text="x", audience={}, state="sending", created_by=officer)
    run = await BroadcastRun.create(broadcast=broadcast, fire_at=datetime.now(UTC), state="sending", targeted=60)
    now = datetime.now(UTC)
    for sub in await Subscriber.all():
        await Delivery.create(run=run, subscriber=sub, channel="sms", due_at=now)
    one, two = Dispatcher(app), Dispatcher(app)
    first, second = await asyncio.gather(one.claim(), two.claim())
    ids = [j.id for j in first] + [j.id for j in second]
    assert len(ids) == len(set(ids)) == 60


@pytest.mark.postgres
async def test_an_approval_in_another_process_wakes_the_elected_scheduler(app: Any) -> None:
    """On PostgreSQL the console may run in a process without the scheduler: its wake() reaches the
    elected one by NOTIFY, so a send-now broadcast goes out at once, not at the next sync (2 s)."""
    from aiohttp.test_utils import make_mocked_request

    from broadcasts.api import wake
    from broadcasts.scheduler import Scheduler

    scheduler = Scheduler(app)
    assert await scheduler._elect()
    try:
        assert not scheduler._wake.is_set()
        await wake(make_mocked_request("POST", "/api/v1/broadcasts/1/approve", app=app))
        await asyncio.wait_for(scheduler._wake.wait(), timeout=5)
    finally:
        await scheduler._resign()


async def test_token_bucket_paces_one_process() -> None:
    from broadcasts.ratelimit import TokenBucket

    bucket = TokenBucket("sms", rate=100, burst=1)
    loop = asyncio.get_running_loop()
    started = loop.time()
    for _ in range(51):
        await bucket.take()
    assert 0.45 <= loop.time() - started <= 0.8


@pytest.mark.postgres
async def test_rate_limit_is_shared_by_all_workers(app: Any) -> None:
    from broadcasts.ratelimit import SharedBucket

    first, second = SharedBucket("sms", 20), SharedBucket("sms", 20)  # two workers' limiters
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(bucket.take() for bucket in [first, second] * 10))
    assert 0.85 <= loop.time() - started <= 1.6  # 20 sends at 20/s in all, not 20/s each
