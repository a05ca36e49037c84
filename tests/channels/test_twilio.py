"""The Twilio SMS channel against a fake Twilio: signed webhooks, TwiML replies, delivery states,
and sends that end delivered exactly once or failed with a reason."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer

from bot import outbox
from bot.app import create_app
from bot.models import ConsentEvent, Message, MessageEvent, Subscriber
from tests.conftest import make_config
from tests.fakes.twilio import FROM_NUMBER, FakeTwilio

pytestmark = pytest.mark.db

PUBLIC = "https://nongbot.example.org"  # what Twilio calls: nongbot sits behind a proxy
PHONE = "+8613800138000"


@pytest.fixture
async def fake() -> FakeTwilio:
    return FakeTwilio(hang_seconds=1.5)


@pytest.fixture
async def fake_server(aiohttp_server: Any, fake: FakeTwilio) -> TestServer:
    return await aiohttp_server(fake.app())


@pytest.fixture
async def client(aiohttp_client: Any, db_url: str, fake: FakeTwilio, fake_server: TestServer) -> TestClient:
    config = make_config(
        db_url,
        server={"public_url": PUBLIC},
        sms={"provider": "twilio"},
        twilio={"account_sid": fake.account_sid, "auth_token": fake.auth_token, "from_number": FROM_NUMBER,
                "api_base": str(fake_server.make_url("")).rstrip("/"), "timeout": 0.5},
    )
    return await aiohttp_client(create_app(config))


async def post_sms(client: TestClient, fake: FakeTwilio, body: str, *, sid: str | None = None,
                   sign_url: str = PUBLIC + "/webhooks/twilio/sms", tamper: dict[str, str] | None = None,
                   signature: str | None = None, drop: str | None = None) -> tuple[int, str]:
    params = fake.inbound_params(PHONE, body, sid)
    headers = {"X-Twilio-Signature": signature if signature is not None else fake.sign(sign_url, params)}
    if signature == "":
        headers = {}
    params = {**params, **(tamper or {})}
    if drop:
        params.pop(drop)
        headers = {"X-Twilio-Signature": fake.sign(sign_url, params)}
    resp = await client.post("/webhooks/twilio/sms", data=params, headers=headers)
    return resp.status, await resp.text()


INBOUND = [
    # (name, body, options, status, words in the reply)
    ("valid", "帮助", {}, 200, ["<Message>【农技通】", "订阅"]),
    ("chinese body", "苞谷叶子发黄咋办", {}, 200, ["<Response>"]),
    ("empty body", "", {}, 200, ["空消息"]),
    ("退订", "退订", {}, 200, ["已退订"]),
    ("STOP: Twilio answers it itself", "STOP", {}, 200, ["<Response />"]),
    ("bad signature", "帮助", {"signature": "bm90IGEgc2lnbmF0dXJl"}, 403, []),
    ("missing signature", "帮助", {"signature": ""}, 403, []),
    ("signed for the local URL, not the public one", "帮助",
     {"sign_url": "http://127.0.0.1/webhooks/twilio/sms"}, 403, []),
    ("body altered after signing", "帮助", {"tamper": {"Body": "退订"}}, 403, []),
    ("missing From", "帮助", {"drop": "From"}, 400, []),
]


@pytest.mark.parametrize(("name", "body", "options", "status", "words"), INBOUND, ids=[c[0] for c in INBOUND])
async def test_inbound_cases(client: TestClient, fake: FakeTwilio, name: str, body: str, options: dict[str, Any],
                             status: int, words: list[str]) -> None:
    got, text = await post_sms(client, fake, body, **options)
    assert got == status, text
    for word in words:
        assert word in text
    stored = await Message.filter(direction="in").count()
    assert stored == (1 if status == 200 else 0)  # rejected requests store nothing


async def test_stop_opts_out_even_though_twilio_replies(client: TestClient, fake: FakeTwilio) -> None:
    await post_sms(client, fake, "STOP")
    sub = await Subscriber.get(phone=PHONE)
    assert sub.status == "opted_out"


async def test_duplicate_message_sid_returns_same_twiml_once(client: TestClient, fake: FakeTwilio) -> None:
    first = await post_sms(client, fake, "订阅 价格 柑橘", sid="SM" + "1" * 32)
    again = await post_sms(client, fake, "订阅 价格 柑橘", sid="SM" + "1" * 32)
    assert first == again and first[0] == 200
    assert await Message.filter(direction="in").count() == 1
    assert await ConsentEvent.all().count() == 1  # handlers ran once


async def test_oversized_and_non_utf8_are_refused(client: TestClient, fake: FakeTwilio) -> None:
    params = fake.inbound_params(PHONE, "好" * 30_000)
    resp = await client.post("/webhooks/twilio/sms", data=params,
                             headers={"X-Twilio-Signature": fake.sign(PUBLIC + "/webhooks/twilio/sms", params)})
    assert resp.status == 400
    raw = b"MessageSid=SM1&From=%2B8613800138000&Body=%FF%FE"
    resp = await client.post("/webhooks/twilio/sms", data=raw, headers={
        "X-Twilio-Signature": "x", "Content-Type": "application/x-www-form-urlencoded"})
    assert resp.status == 400
    assert await Message.all().count() == 0


async def _sent(client: TestClient) -> Message:
    sub, _ = await Subscriber.get_or_create(phone=PHONE)
    return await outbox.send_text(client.app, sub, "明天有霜冻，茶园请盖膜。", backoff=0.01)


async def test_round_trip_inbound_twiml_send_and_delivered(client: TestClient, fake: FakeTwilio) -> None:
    status, twiml = await post_sms(client, fake, "帮助")
    assert status == 200 and "<Message>" in twiml
    row = await _sent(client)
    assert row.status == "queued" and row.provider_id in fake.messages
    sent = fake.messages[row.provider_id]
    assert sent["body"] == "【农技通】明天有霜冻，茶园请盖膜。" and sent["from"] == FROM_NUMBER
    assert sent["status_callback"] == PUBLIC + "/webhooks/twilio/status"
    async with aiohttp.ClientSession() as session:
        for state in ("sending", "sent", "delivered"):
            async with await fake.report(session, row.provider_id, state, via=str(client.make_url(""))) as resp:
                assert resp.status == 200
    assert (await Message.get(id=row.id)).status == "delivered"
    assert [e.status for e in await MessageEvent.filter(message_id=row.id).order_by("id")] == [
        "sending", "sent", "delivered"]


CALLBACKS = [
    # (statuses reported in this order, final status, final error code)
    (["sent", "delivered"], "delivered", None),
    (["delivered", "sent"], "delivered", None),  # a late "sent" never overwrites "delivered"
    (["sending", "undelivered:30003"], "undelivered", "30003"),
    (["failed:30007", "sent"], "failed", "30007"),
    (["queued"], "queued", None),
]


@pytest.mark.parametrize(("reports", "final", "code"), CALLBACKS)
async def test_status_callbacks(client: TestClient, fake: FakeTwilio, reports: list[str], final: str,
                                code: str | None) -> None:
    row = await _sent(client)
    async with aiohttp.ClientSession() as session:
        for report in reports:
            state, _, error = report.partition(":")
            async with await fake.report(session, row.provider_id, state, error or None,
                                         via=str(client.make_url(""))) as resp:
                assert resp.status == 200
    row = await Message.get(id=row.id)
    assert (row.status, row.error_code) == (final, code)
    assert await MessageEvent.filter(message_id=row.id).count() == len(reports)


async def test_callback_21610_opts_the_person_out(client: TestClient, fake: FakeTwilio) -> None:
    row = await _sent(client)
    async with aiohttp.ClientSession() as session:
        await fake.report(session, row.provider_id, "failed", "21610", via=str(client.make_url("")))
    assert (await Subscriber.get(phone=PHONE)).status == "opted_out"


async def test_forged_or_unknown_callbacks(client: TestClient, fake: FakeTwilio) -> None:
    params = {"MessageSid": "SM" + "9" * 32, "MessageStatus": "delivered"}
    resp = await client.post("/webhooks/twilio/status", data=params, headers={"X-Twilio-Signature": "forged"})
    assert resp.status == 403
    signed = fake.sign(PUBLIC + "/webhooks/twilio/status", params)
    resp = await client.post("/webhooks/twilio/status", data=params, headers={"X-Twilio-Signature": signed})
    assert resp.status == 200  # acknowledged, logged, nothing to update
    assert await MessageEvent.all().count() == 0


SENDS = [
    # (faults the fake plays, final status, messages at Twilio, attempts, error code)
    ([], "queued", 1, 1, None),
    (["429"], "queued", 1, 2, None),
    (["500"], "queued", 1, 2, None),
    (["429", "429", "429"], "failed", 0, 3, "20429"),
    (["timeout"], "queued", 1, 2, None),
    (["slow-create"], "queued", 1, 1, None),  # created but unanswered: found, not sent again
    (["close"], "queued", 1, 2, None),
    (["close-after-create"], "queued", 1, 1, None),
]


@pytest.mark.parametrize(("faults", "status", "count", "attempts", "code"), SENDS)
async def test_send_faults_end_exactly_once_or_failed(client: TestClient, fake: FakeTwilio, faults: list[str],
                                                      status: str, count: int, attempts: int, code: str | None) -> None:
    fake.faults.extend(faults)
    row = await _sent(client)
    assert (row.status, row.attempts, row.error_code) == (status, attempts, code)
    assert len(fake.messages) == count
    if status == "failed":
        assert row.error


@pytest.mark.parametrize(("setup", "code"), [("unsubscribed", "21610"), ("bad number", "21211")])
async def test_final_errors_are_not_retried(client: TestClient, fake: FakeTwilio, setup: str, code: str) -> None:
    if setup == "unsubscribed":
        fake.unsubscribed.add(PHONE)
        sub = await Subscriber.create(phone=PHONE)
    else:
        sub = await Subscriber.create(phone="+86123")
    row = await outbox.send_text(client.app, sub, "你好", backoff=0.01)
    assert (row.status, row.error_code, row.attempts) == ("failed", code, 1)
    assert fake.create_calls == 1


async def test_twilio_down_fails_with_reason(aiohttp_client: Any, db_url: str, fake: FakeTwilio) -> None:
    config = make_config(db_url, sms={"provider": "twilio"}, twilio={
        "account_sid": fake.account_sid, "auth_token": fake.auth_token, "from_number": FROM_NUMBER,
        "api_base": "http://127.0.0.1:9", "timeout": 0.5})
    client = await aiohttp_client(create_app(config))
    row = await _sent(client)
    assert row.status == "failed" and "no answer" in (row.error or "") and row.attempts == 3


async def test_wrong_credentials_are_final(aiohttp_client: Any, db_url: str, fake: FakeTwilio,
                                           fake_server: TestServer) -> None:
    config = make_config(db_url, sms={"provider": "twilio"}, twilio={
        "account_sid": fake.account_sid, "auth_token": "wrong", "from_number": FROM_NUMBER,
        "api_base": str(fake_server.make_url("")).rstrip("/"), "timeout": 0.5})
    client = await aiohttp_client(create_app(config))
    row = await _sent(client)
    assert (row.status, row.error_code, row.attempts) == ("failed", "20003", 1)


def test_signature_vectors_from_protocols_doc() -> None:
    from twilio.request_validator import RequestValidator

    params = {"CallSid": "CA1234567890ABCDE", "Caller": "+12349013030", "Digits": "1234",
              "From": "+12349013030", "To": "+18005551212"}
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    assert RequestValidator("12345").compute_signature(url, params) == "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


async def test_webhooks_absent_with_log_provider(aiohttp_client: Any, config: Any) -> None:
    client = await aiohttp_client(create_app(config))
    assert (await client.post("/webhooks/twilio/sms", data={})).status == 404
    await asyncio.sleep(0)




@pytest.mark.parametrize("text", ["a & b < c > d \"q\" 'x'", "换行\n第二行\r\n", "😀", "]]>", "&amp;", ""])
def test_twiml_reply_is_what_the_sdk_writes(text: str) -> None:
    from twilio.twiml.messaging_response import MessagingResponse

    from bot.channels.twilio import twiml_message

    response = MessagingResponse()
    response.message(text)
    assert twiml_message(text) == str(response)


def test_signature_one_hmac_then_the_sdks_full_check() -> None:
    from multidict import MultiDict
    from twilio.request_validator import RequestValidator

    from bot.channels.twilio import _signed

    validator = RequestValidator("12345")
    pairs = [("Body", "你好"), ("From", "+8613800138000"), ("Body", "再见")]
    form = MultiDict(pairs)
    url = "https://example.org/webhooks/twilio/sms"
    assert _signed("12345", url, pairs, validator.compute_signature(url, form))
    # Signed with the default port written out: the SDK's check still accepts it.
    assert _signed("12345", url, pairs, validator.compute_signature("https://example.org:443/webhooks/twilio/sms",
                                                                    form))
    assert not _signed("12345", url, pairs, validator.compute_signature(url + "?x=1", form))
    assert not _signed("12345", url, pairs, "forged")
    assert not _signed("54321", url, pairs, validator.compute_signature(url, form))


@pytest.mark.parametrize("pairs", [
    [], [("Body", "")], [("Body", "你好"), ("Body", "你好"), ("Body", "再见")], [("a", "2"), ("a", "1"), ("ab", "")],
    [("From", "+8613800138000"), ("To", "+15005550006"), ("Body", "洋芋 叶子 有 黑斑 & 100% = ?"),
     ("MessageSid", "SM" + "0" * 32), ("NumMedia", "0"), ("FromCountry", "CN")],
])
def test_our_signature_is_the_sdks(pairs: list[tuple[str, str]]) -> None:
    from multidict import MultiDict
    from twilio.request_validator import RequestValidator

    from bot.channels.twilio import signature_of

    url = "https://example.org/webhooks/twilio/sms?x=1"
    for token in ("12345", "密钥", ""):
        assert signature_of(token, url, pairs) == RequestValidator(token).compute_signature(url, MultiDict(pairs))


@pytest.mark.parametrize("body", [
    "", "&", "&&a=1&", "a", "a=", "=b", "a=1&a=2&b=", "Body=%E4%BD%A0%E5%A5%BD+%2B86&From=%2B8613800138000",
    "a+b=c+d&%41=%42", "a=1=2", "a=%", "a=%zz&b=%4", "x=%E4%BD", "k%E4=v", "a=+&+=b",
])
def test_form_fields_are_read_as_parse_qsl_reads_them(body: str) -> None:
    from urllib.parse import parse_qsl

    from bot.channels.twilio import form_pairs

    try:
        expected: list[tuple[str, str]] | type[Exception] = parse_qsl(body, keep_blank_values=True, errors="strict")
    except UnicodeDecodeError as exc:
        expected = type(exc)
    if isinstance(expected, list):
        assert form_pairs(body) == expected
    else:
        with pytest.raises(expected):
            form_pairs(body)
