"""The Alibaba Cloud SMS channel against a fake dysmsapi that the official SDK talks to: template
splitting, opt-out words, replies pushed in and answered by template sends, receipts pushed or pulled,
classified send failures that are never blindly repeated, and a broadcast in one batch request."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import outbox
from bot.app import create_app
from bot.channels import aliyun
from bot.channels.templates import Template, TemplateError, split
from bot.config import ConfigError, load_config
from bot.keys import SENDERS
from bot.models import Message, MessageEvent, Subscriber, TemplateSend
from bot.web import auth
from broadcasts.dispatcher import Dispatcher
from broadcasts.models import Broadcast, BroadcastRun, Delivery
from tests.conftest import ROOT, make_config
from tests.fakes.aliyun import (
    ACCESS_KEY_ID,
    ACCESS_KEY_SECRET,
    CALLBACK_SECRET,
    SIGN_NAME,
    FakeAliyun,
    acs3_signature,
    canonical_request,
)

PHONE = "+8613800138000"
REPLY = "SMS_900000001:p1,p2,p3,p4,p5,p6"
TIP = "SMS_900000002:p1,p2,p3,p4"
NOTICE = "SMS_900000003:p1,p2,p3,p4"

# --- template splitting (no database) -------------------------------------------------------------

SPLITS = [
    # (text, limit, pieces)
    ("明天有霜冻。", 35, ["明天有霜冻。"]),
    ("明天有霜冻，茶园请盖膜。玉米播种前要晒种两天，每亩用种三公斤左右，播深五厘米。", 20,
     ["明天有霜冻，茶园请盖膜。", "玉米播种前要晒种两天，", "每亩用种三公斤左右，播深五厘米。"]),
    ("Spray at dusk, not at noon, and wear gloves.", 16, ["Spray at dusk,", "not at noon,", "and wear gloves."]),
    ("第一行\n第二行", 5, ["第一行", "第二行"]),
    ("  空白   太多  ", 35, ["空白 太多"]),
    ("", 35, []),
]


@pytest.mark.parametrize(("text", "limit", "pieces"), SPLITS)
def test_split_at_clause_ends(text: str, limit: int, pieces: list[str]) -> None:
    got = split(text, limit)
    assert got == pieces
    assert all(len(p) <= limit for p in got)


REFUSALS = [
    # (text, words in the reason)
    ("一" * 40, ["no sentence or clause end", "never cut mid-word"]),
    ("，".join(["玉米要晒种"] * 40), ["too long", "needs 8 variables", "has 6"]),
    ("详见 https://example.cn/a", ["links"]),
    ("   ", ["empty"]),
]


@pytest.mark.parametrize(("text", "words"), REFUSALS)
def test_texts_that_cannot_fit_are_refused_with_a_reason(text: str, words: list[str]) -> None:
    with pytest.raises(TemplateError) as caught:
        Template.parse(REPLY).fill(text, 35)
    for word in words:
        assert word in str(caught.value)


def test_fill_pads_unused_variables_and_replaces_signature_brackets() -> None:
    params = Template.parse(NOTICE).fill("【通知】明天停水。", 35)
    assert params == {"p1": "「通知」明天停水。", "p2": " ", "p3": " ", "p4": " "}


@pytest.mark.parametrize("layout", ["SMS_1", "SMS_1:", "SMS_1:a,a", "SMS-1:a", "SMS_1:1a"])
def test_bad_layouts_are_config_errors(layout: str) -> None:
    env = {"NONGBOT_SMS_PROVIDER": "aliyun", "NONGBOT_ALIYUN_ACCESS_KEY_ID": "ak",
           "NONGBOT_ALIYUN_ACCESS_KEY_SECRET": "sk", "NONGBOT_ALIYUN_SIGN_NAME": SIGN_NAME,
           "NONGBOT_ALIYUN_TEMPLATE_REPLY": layout}
    with pytest.raises(ConfigError, match=r"aliyun\.template_reply"):
        load_config(ROOT / "config.toml", env=env)


def test_secrets_only_from_environment(tmp_path: Any) -> None:
    path = tmp_path / "c.toml"
    path.write_text('[aliyun]\naccess_key_secret = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="NONGBOT_ALIYUN_ACCESS_KEY_SECRET"):
        load_config(path, env={})


def test_signature_vector_from_china_sms_doc() -> None:
    headers = {"host": "127.0.0.1:8081", "x-acs-action": "SendSms", "x-acs-version": "2017-05-25",
               "x-acs-date": "2026-01-01T00:00:00Z", "x-acs-signature-nonce": "0123456789abcdef",
               "x-acs-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
               "accept": "application/json"}
    query = {"PhoneNumbers": "13800000000", "SignName": "某县农技站", "TemplateCode": "SMS_123456789",
             "TemplateParam": '{"crop":"玉米"}'}
    canon = canonical_request("POST", query, headers, sorted(headers), headers["x-acs-content-sha256"])
    assert acs3_signature("test-secret", canon) == "ea59e28a6df498033a040d4d91b674a4d2a856e2c1875c01f3d831b185bcd949"


# --- against the fake -----------------------------------------------------------------------------

@pytest.fixture
async def fake() -> FakeAliyun:
    return FakeAliyun(hang_seconds=1.5)


@pytest.fixture
async def fake_server(aiohttp_server: Any, fake: FakeAliyun) -> TestServer:
    return await aiohttp_server(fake.app())


def aliyun_config(db_url: str, fake_server: TestServer, **aliyun_keys: Any) -> Any:
    return make_config(db_url, sms={"provider": "aliyun"}, aliyun={
        "access_key_id": ACCESS_KEY_ID, "access_key_secret": ACCESS_KEY_SECRET, "sign_name": SIGN_NAME,
        "endpoint": f"127.0.0.1:{fake_server.port}", "protocol": "http", "timeout": 0.5,
        "template_reply": REPLY, "template_tip": TIP, "template_notice": NOTICE,
        "callback_secret": CALLBACK_SECRET, **aliyun_keys})


@pytest.fixture
async def client(aiohttp_client: Any, db_url: str, fake_server: TestServer) -> TestClient:
    return await aiohttp_client(create_app(aliyun_config(db_url, fake_server)))



URL = f"/webhooks/aliyun/{CALLBACK_SECRET}"


async def push(client: TestClient, items: list[dict[str, Any]], tries: int = 5) -> tuple[int, Any]:
    """Push as Alibaba Cloud does: again (up to `tries` in all) while the answer is 503, which a store
    slower than the push budget gets on a loaded machine."""
    resp = await FakeAliyun.push(client.session, str(client.make_url(URL)), items, tries)
    return resp.status, await resp.json()


async def wait_for(predicate: Any, seconds: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    while not await predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


async def sent_count(fake: FakeAliyun, n: int) -> None:
    async def enough() -> bool:
        return len(fake.sent) >= n
    await wait_for(enough)


@pytest.mark.db
async def test_round_trip_reply_pushed_answered_by_template_then_receipt(client: TestClient,
                                                                          fake: FakeAliyun) -> None:
    status, body = await push(client, [fake.up_item("13800138000", "帮助", sequence_id=42)])
    assert (status, body) == (200, {"code": 0, "msg": "接收成功"})
    await sent_count(fake, 1)
    sent = fake.sent[0]
    assert (sent.phone, sent.template, sent.sign) == ("13800138000", "SMS_900000001", SIGN_NAME)
    assert all(1 <= len(v) <= 35 for v in sent.params.values())
    inbound = await Message.get(direction="in")
    assert (inbound.provider, inbound.provider_id, inbound.address) == ("aliyun", "up:13800138000:42", PHONE)

    async def answered() -> bool:
        return await Message.filter(direction="out", status="sent", provider_id__not_isnull=True).exists()
    await wait_for(answered)
    answer = await Message.get(direction="out")
    assert answer.reply_to_id == inbound.id and answer.provider_id == aliyun.provider_id(sent.out_id, PHONE)
    assert "".join(v.strip() for v in sent.params.values()).replace(" ", "") in answer.body.replace(" ", "").replace("\n", "")

    again = await push(client, [fake.up_item("13800138000", "帮助", sequence_id=42)])  # the provider re-pushes
    assert again[0] == 200
    await asyncio.sleep(0.3)
    assert len(fake.sent) == 1 and await Message.filter(direction="in").count() == 1

    fake.settle(sent)
    for _ in range(2):  # receipts are pushed again until acknowledged: applied once
        assert (await push(client, [fake.report_item(sent)]))[0] == 200
    await asyncio.sleep(0.1)
    assert (await Message.get(id=answer.id)).status == "delivered"
    assert [e.status for e in await MessageEvent.filter(message_id=answer.id)] == ["delivered"]


OPT_OUT = ["R", "T", "TD", "退订", "拒收", "td", " r "]


@pytest.mark.db
@pytest.mark.parametrize("word", OPT_OUT)
async def test_opt_out_words_on_this_channel(client: TestClient, fake: FakeAliyun, word: str) -> None:
    await Subscriber.create(phone=PHONE, status="active")
    assert (await push(client, [fake.up_item("13800138000", word)]))[0] == 200
    await sent_count(fake, 1)
    assert (await Subscriber.get(phone=PHONE)).status == "opted_out"
    assert "已退订" in "".join(fake.sent[0].params.values())


@pytest.mark.db
async def test_receipt_pulled_when_configured(aiohttp_client: Any, db_url: str, fake: FakeAliyun,
                                              fake_server: TestServer) -> None:
    client = await aiohttp_client(create_app(aliyun_config(db_url, fake_server, pull_receipts=True,
                                                           pull_seconds=3600.0)))
    sub = await Subscriber.create(phone=PHONE)
    row = await outbox.send_text(client.app, sub, "明天有霜冻，茶园请盖膜。", backoff=0.01)
    assert row.status == "sent"
    assert await aliyun.pull_receipts(client.app) == 0  # the carrier has not answered yet
    fake.settle(fake.sent[0], delivered=False, err_code="MK:0004")
    assert await aliyun.pull_receipts(client.app) == 1
    assert await aliyun.pull_receipts(client.app) == 0  # nothing left to ask about
    row = await Message.get(id=row.id)
    assert (row.status, row.error_code) == ("undelivered", "MK:0004")
    assert fake.calls.count("QuerySendDetails") == 2


@pytest.mark.db
async def test_push_url_secret_shape_and_connectivity_check(client: TestClient, fake: FakeAliyun) -> None:
    assert (await client.get(URL)).status == 200
    assert await (await client.get(URL)).json() == {"code": 0, "msg": "成功"}
    assert (await client.post("/webhooks/aliyun/" + "x" * 43, json=[fake.up_item("13800138000", "帮助")])).status == 404
    assert (await client.post(URL, data=b"{not json")).status == 400
    assert (await client.post(URL, json={"phone_number": "1"})).status == 400
    assert (await client.post(URL, json=[{"what": "ever"}])).status == 400
    assert await Message.all().count() == 0


SENDS = [
    # (faults, final status, error code, sends at the fake, SDK calls, retryable)
    ([], "sent", None, 1, 1, False),
    (["isv.BUSINESS_LIMIT_CONTROL"] * 3, "failed", "isv.BUSINESS_LIMIT_CONTROL", 0, 3, True),
    (["isv.BUSINESS_LIMIT_CONTROL"], "sent", None, 1, 2, True),
    (["isv.SMS_SIGNATURE_ILLEGAL"], "failed", "isv.SMS_SIGNATURE_ILLEGAL", 0, 1, False),
    (["500"], "failed", "unknown", 0, 1, False),  # unclear: looked up, not found, never resent
    (["isp.SYSTEM_ERROR"], "failed", "unknown", 0, 1, False),
    (["timeout"], "failed", "unknown", 0, 1, False),
    (["slow-accept"], "sent", None, 1, 1, False),  # accepted but unanswered: found by OutId, not resent
]


@pytest.mark.db
@pytest.mark.parametrize(("faults", "status", "code", "count", "calls", "retryable"), SENDS)
async def test_send_outcomes_are_classified_and_never_blindly_repeated(
        client: TestClient, fake: FakeAliyun, faults: list[str], status: str, code: str | None, count: int,
        calls: int, retryable: bool) -> None:
    fake.faults.extend(faults)
    sub = await Subscriber.create(phone=PHONE)
    row = await outbox.send_text(client.app, sub, "今天打药注意防护。", backoff=0.01)
    assert (row.status, row.error_code) == (status, code)
    assert len(fake.sent) == count
    assert [c for c in fake.calls if c == "SendSms"] == ["SendSms"] * calls
    if status == "failed":
        assert row.error


@pytest.mark.db
async def test_refused_before_sending(client: TestClient, fake: FakeAliyun) -> None:
    sub = await Subscriber.create(phone=PHONE)
    row = await outbox.send_text(client.app, sub, "一" * 300, backoff=0.01)
    assert (row.status, row.error_code, row.attempts) == ("failed", "template", 1)
    assert "never cut mid-word" in (row.error or "") and fake.calls == []


@pytest.mark.db
async def test_daily_limit_per_number_is_respected(aiohttp_client: Any, db_url: str, fake: FakeAliyun,
                                                   fake_server: TestServer) -> None:
    client = await aiohttp_client(create_app(aliyun_config(db_url, fake_server, daily_limit=2)))
    sender = client.app[SENDERS]["sms"]
    results = [await sender.send(PHONE, f"第{i}条通知。", kind="notice") for i in range(3)]
    assert [r.status for r in results] == ["sent", "sent", "failed"]
    assert results[2].error_code == "daily_limit" and results[2].retryable
    assert len(fake.sent) == 2
    assert (await sender.send(PHONE, "另一个模板的提示。", kind="tip")).status == "sent"  # counted per template


@pytest.mark.db
async def test_numbers_outside_mainland_need_twilio(client: TestClient, fake: FakeAliyun) -> None:
    result = await client.app[SENDERS]["sms"].send("+14155550100", "hello")
    assert (result.status, result.error_code) == ("failed", "no_route") and fake.calls == []


@pytest.mark.db
async def test_send_batch_sms_gives_each_number_its_own_text(client: TestClient, fake: FakeAliyun) -> None:
    sender = client.app[SENDERS]["sms"].domestic
    phones = [f"+861380013800{i}" for i in range(3)]
    results = await sender.send_batch([(p, f"您订阅的柑橘今天{i + 3}元一斤。") for i, p in enumerate(phones)], kind="price")
    assert [r.status for r in results] == ["sent"] * 3
    assert fake.calls == ["SendBatchSms"]
    assert [s.params["p1"] for s in fake.sent] == [f"您订阅的柑橘今天{i + 3}元一斤。" for i in range(3)]
    assert fake.sent[0].template == "SMS_900000003"  # no price template: the notice one


@pytest.mark.db
async def test_broadcast_goes_in_one_batch_request_and_receipts_reach_deliveries(
        aiohttp_client: Any, db_url: str, fake_server: TestServer, fake: FakeAliyun) -> None:
    # role "web": no background dispatcher racing the tick below for the same rows (PostgreSQL)
    client = await aiohttp_client(create_app(aliyun_config(db_url, fake_server), role="web"))
    officer = await auth.add_officer("boss", "supervisor", "password-123")
    broadcast = await Broadcast.create(kind="tip", text="今天打药注意防护，戴好口罩手套。", audience={},
                                       state="sending", created_by=officer, approved_by=officer)
    run = await BroadcastRun.create(broadcast=broadcast, fire_at=datetime.now(UTC), state="sending", targeted=5)
    for i in range(5):
        sub = await Subscriber.create(phone=f"+861390013900{i}", status="opted_out" if i == 4 else "active")
        await Delivery.create(run=run, subscriber=sub, channel="sms", due_at=datetime.now(UTC))
    await Dispatcher(client.app).tick()
    assert fake.calls == ["SendSms"] and len(fake.sent) == 4  # one request, the opted-out person skipped
    assert fake.sent[0].template == "SMS_900000002"
    assert await Delivery.filter(state="sent").count() == 4
    assert await Delivery.filter(state="skipped").count() == 1
    for sent in fake.sent:
        fake.settle(sent, delivered=sent.phone != "13900139000")
    assert (await push(client, [fake.report_item(s) for s in fake.sent]))[0] == 200

    async def settled() -> bool:
        return await Delivery.filter(state__in=("delivered", "failed")).count() == 4
    await wait_for(settled)
    assert await Delivery.filter(state="failed").count() == 1
    assert await TemplateSend.filter(state="delivered").count() == 3


@pytest.mark.db
async def test_reclaimed_broadcast_row_is_found_not_resent(client: TestClient, fake: FakeAliyun) -> None:
    sender = client.app[SENDERS]["sms"]
    fake.faults.append("slow-accept")
    since = datetime.now(UTC)
    result = await sender.send(PHONE, "今天打药注意防护。", kind="tip")
    assert result.status == "sent"
    found = await sender.find_sent(PHONE, "【农技通】今天打药注意防护。", since)
    assert found == (result.provider_id, "sent")
    assert await sender.find_sent(PHONE, "【农技通】别的内容。", since) is None
