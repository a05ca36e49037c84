"""Input that was answered with a 500 (issue 15 item 12), each case a test named after it, and the one way
request input is checked (bot/web/params.py): declared query parameters and JSON bodies with types and
bounds, one JSON reader with a size and depth limit, 400 {"error": "<plain Chinese>"} on the API and the
page again with the reason in the console. The fuzz over every route is tests/test_fuzz_routes.py."""

from __future__ import annotations

import json
import re
import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.models import AuditEvent, Subscriber
from bot.prices.models import UnmappedPrice
from bot.web import fields, params
from bot.web.fields import Bool, Int, Invalid, List, Obj, Text
from bot.web.params import Query, declared, loads
from broadcasts.models import Broadcast
from tests.conftest import make_config
from tests.fakes.aliyun import ACCESS_KEY_ID, ACCESS_KEY_SECRET, CALLBACK_SECRET, SIGN_NAME
from tests.fakes.twilio import FakeTwilio
from tests.fakes.wechat import FakeWeChat
from tests.helpers import Console

pytestmark = pytest.mark.db
DEEP = b"[" * 100_000 + b"]" * 100_000
DEEP_OBJECT = b'{"a":' * 5_000 + b"1" + b"}" * 5_000
JUST_TOO_DEEP = json.dumps({"text": "x", "audience": json.loads("[" * 25 + "]" * 25)}).encode()
BROADCAST = {"kind": "tip", "text": "明早有霜冻，柑橘园请覆盖。"}


def _json_routes(console: Console) -> list[tuple[str, str]]:
    """The API routes that take a JSON body (the others read none)."""
    found = []
    for route in console.app.router.routes():
        resource = route.resource
        if (resource is not None and route.method in ("POST", "PUT", "PATCH") and resource.canonical.startswith("/api/")
                and (accepts := declared(route.handler)) is not None and accepts.body is not None):
            found.append((route.method, re.sub(r"\{id[^}]*\}", "1", resource.canonical)))
    return found


async def _error(response: Any, status: int = 400) -> str:
    assert response.status == status, await response.text()
    body = await response.json()
    assert set(body) == {"error"} and "Traceback" not in body["error"], body
    return str(body["error"])


# --- the cases the red team found ------------------------------------------------------------------


@pytest.mark.parametrize("timestamp", ["1" * 20, "9" * 25, "9" * 400, "9" * 5000, "00000000000{now}"])
@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_signed_wechat_request_with_a_timestamp_of_20_or_more_digits(
        aiohttp_client: Any, db_url: str, timestamp: str, mode: str) -> None:
    """Signed with the account's token, so the signature holds: the timestamp is refused as stale (403),
    not turned into a number too big to compare with the clock or to store (500)."""
    fake = FakeWeChat()
    config = make_config(db_url, wechat={
        "enabled": True, "app_id": fake.app_id, "app_secret": fake.app_secret, "token": fake.token,
        "encoding_aes_key": fake.aes_key, "mode": mode, "api_base": "http://127.0.0.1:9", "timeout": 0.5})
    client: TestClient[web.Request, web.Application] = await aiohttp_client(create_app(config))
    ts, nonce = timestamp.format(now=int(time.time())), "424242"
    query = {"signature": fake.signature(fake.token, ts, nonce), "timestamp": ts, "nonce": nonce}
    verify = await client.get("/webhooks/wechat", params={**query, "echostr": "hello"})
    assert verify.status == 403 and "hello" not in await verify.text()
    xml = fake.text_xml("oUser123", "TD")
    if mode == "safe":  # encrypted as WeChat does, the query signed over the long timestamp
        encrypted, body = fake.envelope(xml, "safe", nonce=nonce)
        query = {**encrypted, **query}
    else:
        body = xml
    pushed = await client.post("/webhooks/wechat", params=query, data=body.encode(),
                               headers={"Content-Type": "text/xml"})
    assert pushed.status == 403 and "stale" in await pushed.text()
    assert not await Subscriber.exists()


@pytest.mark.parametrize("body", [DEEP, DEEP_OBJECT, b'[{"content": ' + b"[" * 30 + b"]" * 30 + b"}]",
                                  b"[" + b"9" * 5000 + b"]", b"[NaN]", b"[1e400]", b"\xff\xfe[]",
                                  b'[{"phone_number": "\\u0000", "content": "TD"}]'])
async def test_deeply_nested_json_on_the_aliyun_callback(aiohttp_client: Any, db_url: str, body: bytes) -> None:
    """Behind the secret URL: nesting past 20 levels (and NaN, 1e400, 5,000-digit numbers, bytes that are
    not UTF-8, a NUL) is refused with 400 before anything is stored."""
    config = make_config(db_url, sms={"provider": "aliyun"}, aliyun={
        "access_key_id": ACCESS_KEY_ID, "access_key_secret": ACCESS_KEY_SECRET, "sign_name": SIGN_NAME,
        "endpoint": "127.0.0.1:9", "protocol": "http", "timeout": 0.5, "template_reply": "SMS_1:p1,p2",
        "callback_secret": CALLBACK_SECRET})
    client: TestClient[web.Request, web.Application] = await aiohttp_client(create_app(config))
    response = await client.post(f"/webhooks/aliyun/{CALLBACK_SECRET}", data=body,
                                 headers={"Content-Type": "application/json"})
    assert response.status == 400, await response.text()
    assert (await response.json())["code"] == 1
    assert not await Subscriber.exists()


async def test_deeply_nested_json_on_all_json_post_and_put_api_routes(console: Console) -> None:
    headers = await console.token("admin")
    routes = _json_routes(console)
    assert len(routes) >= 19
    for method, path in routes:
        for body in (DEEP, DEEP_OBJECT, JUST_TOO_DEEP):
            response = await console.client.request(method, path, data=body, headers=headers)
            message = await _error(response)
            assert "嵌套太深" in message and "20" in message, (method, path, message)
    assert not await AuditEvent.exists()


@pytest.mark.parametrize("path", ["/api/v1/broadcasts", "/api/v1/broadcasts/preview"])
async def test_audience_as_a_list_of_numbers(console: Console, path: str) -> None:
    officer = await console.token("officer")
    response = await console.client.post(path, json={**BROADCAST, "audience": [1]}, headers=officer)
    assert "audience" in await _error(response)
    assert not await Broadcast.exists()


@pytest.mark.parametrize("path", ["/api/v1/broadcasts", "/api/v1/broadcasts/preview"])
async def test_audience_as_a_number(console: Console, path: str) -> None:
    officer = await console.token("officer")
    response = await console.client.post(path, json={**BROADCAST, "audience": 5}, headers=officer)
    assert "audience" in await _error(response)
    assert not await Broadcast.exists()


@pytest.mark.parametrize("ids", [b"[1e30]", b"[1000000000000000000000000000000]", b"[4294967296]", b"[0]",
                                 b"[true]", b'["1"]'])
async def test_subscriber_ids_1e30(console: Console, ids: bytes) -> None:
    body = b'{"kind": "tip", "text": "x", "audience": {"subscriber_ids": ' + ids + b"}}"
    headers = {**await console.token("officer"), "Content-Type": "application/json"}
    for path in ("/api/v1/broadcasts", "/api/v1/broadcasts/preview"):
        message = await _error(await console.client.post(path, data=body, headers=headers))
        assert "subscriber_ids" in message or "整数" in message, message
    assert not await Broadcast.exists()


async def test_article_ref_over_100_characters(console: Console) -> None:
    headers = await console.token("officer")
    response = await console.client.post("/api/v1/broadcasts", json={**BROADCAST, "article_ref": "r" * 101},
                                         headers=headers)
    assert "article_ref" in await _error(response) and not await Broadcast.exists()
    made = await console.client.post("/api/v1/broadcasts", json={**BROADCAST, "article_ref": "r" * 100},
                                     headers=headers)
    assert made.status == 201, await made.text()
    # Attaching a villager's wording to an article named by a ref that long is refused too.
    reply = await console.client.post("/api/v1/questions/1/reply", json={"text": "好", "attach_ref": "r" * 101},
                                      headers=headers)
    assert "attach_ref" in await _error(reply)


@pytest.mark.parametrize("query", ["officer=" + "张" * 51, "officer=" + "x" * 5000])
async def test_audit_with_officer_over_50_characters(console: Console, query: str) -> None:
    api = await console.client.get(f"/api/v1/audit?{query}", headers=await console.token("supervisor"))
    assert "officer" in await _error(api)
    await console.login("supervisor")
    page = await console.client.get(f"/admin/audit?{query}&action=login", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"].startswith("/admin/audit?action=login&err=")
    shown = await console.client.get(page.headers["Location"])
    assert shown.status == 200 and "officer（账号名）：最多 50 个字" in await shown.text()


@pytest.mark.parametrize("before", ["1e26", "99999999999999999999999999", "-99999999999999999999", "NaN", "0"])
async def test_audit_with_before_1e26(console: Console, before: str) -> None:
    api = await console.client.get(f"/api/v1/audit?before={before}", headers=await console.token("supervisor"))
    assert "before" in await _error(api) and "整数" in await _error(
        await console.client.get(f"/api/v1/audit?before={before}", headers=await console.token("admin")))
    await console.login("supervisor")
    page = await console.client.get(f"/admin/audit?before={before}", allow_redirects=False)
    assert page.status == 303 and page.headers["Location"].startswith("/admin/audit?err=")


@pytest.mark.parametrize("name", ["channel", "status"])
@pytest.mark.parametrize("value", ["x" * 17, "苞" * 600, "sms" * 10])
async def test_subscriber_pages_with_a_long_channel_or_status(console: Console, name: str, value: str) -> None:
    api = await console.client.get(f"/api/v1/subscribers?{name}={value}", headers=await console.token("officer"))
    assert name in await _error(api)
    await console.login("officer")
    for path in ("/admin/subscribers", "/admin/subscribers/export.csv"):
        page = await console.client.get(f"{path}?{name}={value}&township=关防乡", allow_redirects=False)
        assert page.status == 303, (path, await page.text())
        assert page.headers["Location"].startswith(f"{path}?township=") and "err=" in page.headers["Location"]
    shown = await console.client.get(f"/admin/subscribers?{name}={value}")
    assert shown.status == 200 and "只能是" in await shown.text()


@pytest.mark.parametrize("page", ["1e26", "99999999999999999999999999", "0", "-1", "1.5"])
async def test_subscriber_page_1e26(console: Console, page: str) -> None:
    await console.login("officer")
    response = await console.client.get(f"/admin/subscribers?page={page}", allow_redirects=False)
    assert response.status == 303 and "err=" in response.headers["Location"]
    shown = await console.client.get(f"/admin/subscribers?page={page}")
    assert shown.status == 200 and "page（第几页）：应是 1 到 100000 之间的整数" in await shown.text()
    after = await console.client.get(f"/api/v1/subscribers?after={page}e9", headers=await console.token("officer"))
    assert "after" in await _error(after)


@pytest.mark.parametrize("before", ["1e26", "99999999999999999999999999", "-1"])
async def test_broadcasts_before_1e26(console: Console, before: str) -> None:
    await console.login("officer")
    response = await console.client.get(f"/admin/broadcasts?before={before}", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/admin/broadcasts?err=")


@pytest.mark.parametrize("commodity", ["柑" * 31, "x" * 5000])
async def test_prices_page_with_a_long_commodity(console: Console, commodity: str) -> None:
    await console.login("officer")
    response = await console.client.get(f"/admin/prices?commodity={commodity}&days=30", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/admin/prices?days=30&err=")
    api = await console.client.get(f"/api/v1/prices?commodity={commodity}", headers=await console.token("officer"))
    assert "commodity" in await _error(api)


@pytest.mark.parametrize("market", ["1e26", "99999999999999999999999999", "-1", "abc"])
async def test_prices_page_with_market_1e26(console: Console, market: str) -> None:
    await console.login("officer")
    response = await console.client.get(f"/admin/prices?market={market}", allow_redirects=False)
    assert response.status == 303 and "err=" in response.headers["Location"]
    # A form posted to the page's address with such a filter is refused with a page, not a 500.
    form = await console.post_form(f"/admin/prices?market={market}", {"price_1": ""})
    assert form.status in (303, 400)


# --- what else the fuzz found ------------------------------------------------------------------------------


async def test_price_names_longer_than_their_column_are_not_held(console: Console) -> None:
    headers = await console.token("officer")
    name = "果" * 40  # a market name may be this long, a commodity name not
    drop = await console.client.post("/api/v1/prices/unmapped/drop", json={"kind": "commodity", "name": name},
                                      headers=headers)
    assert drop.status == 404
    mapped = await console.client.post("/api/v1/prices/unmapped/map", headers=headers, json={
        "kind": "commodity", "name": name, "target": "柑橘"})
    assert mapped.status == 404
    await console.login("officer")
    form = await console.post_form("/admin/prices/unmapped/drop", {"kind": "commodity", "name": name})
    assert form.status < 500
    assert not await UnmappedPrice.exists()


async def test_broadcast_form_with_a_5000_character_township(console: Console) -> None:
    await console.login("officer")
    response = await console.post_form("/admin/broadcasts", {"kind": "tip", "text": "明早有霜冻",
                                                             "townships": "关" * 5000, "schedule": "now"})
    assert response.status == 400 and "收件人条件不对" in await response.text()
    assert not await Broadcast.exists()


@pytest.mark.parametrize("value", ["\x00", "a\x00b"])
async def test_console_form_with_a_nul(console: Console, value: str) -> None:
    await console.login("admin")
    response = await console.post_form("/admin/officers", {"name": value, "role": "officer",
                                                           "password": "long-enough-1"})
    assert response.status == 400 and "不能保存的字符" in await response.text()
    assert await AuditEvent.exclude(action="login").count() == 0


async def test_reply_form_about_a_missing_question_with_an_empty_text(console: Console) -> None:
    """The empty text was refused first, and showing the form again found no question: 404, not a 500."""
    await console.login("officer")
    response = await console.post_form("/admin/questions/2147483647/reply", {"text": ""})
    assert response.status == 404 and "没有这个问题" in await response.text()


@pytest.mark.parametrize("path", ["/api/v1/articles/99999999999", "/api/v1/broadcasts/2147483648",
                                  "/api/v1/questions/" + "9" * 30, "/admin/subscribers/" + "9" * 30])
async def test_ids_beyond_any_table_are_not_found(console: Console, path: str) -> None:
    await console.login("admin")
    response = await console.client.get(path, headers=await console.token("admin"), allow_redirects=False)
    assert response.status == 404
    if path.startswith("/api/"):
        assert await _error(response, 404) == "没有这条记录"
    else:
        assert "没有这条记录" in await response.text()


@pytest.mark.parametrize(("path", "field"), [("/webhooks/twilio/sms", "MessageSid"),
                                           ("/webhooks/twilio/status", "ErrorCode")])
async def test_signed_twilio_fields_longer_than_their_columns(aiohttp_client: Any, db_url: str, path: str,
                                                              field: str) -> None:
    """Signed with the auth token, but no SID or error code is 5,000 characters: 400, not a 503 that
    Twilio would retry for ever."""
    twilio = FakeTwilio()
    config = make_config(db_url, server={"public_url": "https://nongbot.example.org"}, sms={"provider": "twilio"},
                         twilio={"account_sid": twilio.account_sid, "auth_token": twilio.auth_token,
                                 "from_number": "+15005550006", "api_base": "http://127.0.0.1:9", "timeout": 0.5})
    client: TestClient[web.Request, web.Application] = await aiohttp_client(create_app(config))
    form = {**twilio.inbound_params("+8613800138000", "帮助"), "MessageStatus": "failed", field: "x" * 5000}
    signature = twilio.sign("https://nongbot.example.org" + path, form)
    response = await client.post(path, data=form, headers={"X-Twilio-Signature": signature})
    assert response.status == 400 and field in await response.text()
    assert not await Subscriber.exists()


async def test_signed_wechat_request_with_a_nul_in_its_nonce(aiohttp_client: Any, db_url: str) -> None:
    fake = FakeWeChat()
    config = make_config(db_url, wechat={
        "enabled": True, "app_id": fake.app_id, "app_secret": fake.app_secret, "token": fake.token,
        "encoding_aes_key": fake.aes_key, "mode": "plain", "api_base": "http://127.0.0.1:9", "timeout": 0.5})
    client: TestClient[web.Request, web.Application] = await aiohttp_client(create_app(config))
    ts, nonce = str(int(time.time())), "4\x002"
    query = {"signature": fake.signature(fake.token, ts, nonce), "timestamp": ts, "nonce": nonce}
    response = await client.post("/webhooks/wechat", params=query, data=fake.text_xml("oUser123", "帮助").encode())
    assert response.status == 400 and not await Subscriber.exists()


# --- the declarations ----------------------------------------------------------------------------------


async def test_every_json_post_and_put_api_route_declares_its_body(console: Console) -> None:
    """A route taking a JSON body says what it takes (the confirm, verify, withdraw, close, delete, reset,
    resend and wrong actions take none)."""
    without = []
    for route in console.app.router.routes():
        resource = route.resource
        if (resource is None or route.method not in ("POST", "PUT", "PATCH")
                or not resource.canonical.startswith("/api/")):
            continue
        accepts = declared(route.handler)
        if accepts is None or accepts.body is None:
            without.append(resource.canonical.rsplit("/", 1)[-1])
    assert set(without) <= {"confirm", "verify", "withdraw", "close", "reset", "resend", "wrong"}, without


async def test_openapi_describes_the_declared_parameters_and_bodies(console: Console) -> None:
    spec = await (await console.client.get("/api/v1/openapi.json")).json()
    audit = {p["name"]: p for p in spec["paths"]["/api/v1/audit"]["get"]["parameters"]}
    assert audit["before"]["schema"]["maximum"] == fields.MAX_ID and audit["officer"]["schema"]["maxLength"] == 50
    body = spec["paths"]["/api/v1/broadcasts"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    audience = body["properties"]["audience"]
    assert body["required"] == ["kind"] and audience["additionalProperties"] is False
    assert audience["properties"]["subscriber_ids"]["items"]["maximum"] == fields.MAX_ID
    assert body["properties"]["article_ref"]["maxLength"] == 100
    one = spec["paths"]["/api/v1/articles/{id}"]["get"]["parameters"][0]
    assert one["schema"] == {"type": "integer", "minimum": 1, "maximum": fields.MAX_ID}


# --- the reader and the types -------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "words"), [
    (DEEP, "嵌套太深"), (JUST_TOO_DEEP, "嵌套太深"), (b"NaN", "有效的 JSON"), (b"[Infinity]", "有效的 JSON"),
    (b"[1e400]", "有效的 JSON"), (b"[" + b"9" * 20 + b"]", "19 位"), (b"\xff", "UTF-8"), (b"{", "有效的 JSON"),
    (b'["\\u0000"]', "不能保存"), (b'{"\\ud800": 1}', "不能保存"), (b" " * (params.MAX_JSON_BYTES + 1), "太大"),
])
def test_the_json_reader_refuses(data: bytes, words: str) -> None:
    with pytest.raises(Invalid) as refused:
        loads(data)
    assert words in refused.value.message


def test_the_json_reader_takes() -> None:
    nested = json.loads("[" * 19 + "]" * 19)
    assert loads(json.dumps({"a": nested}).encode()) == {"a": nested}  # 20 levels
    assert loads('\ufeff{"a": "[{\\"b\\": 1}]", "n": -9223372036854775807, "x": 1.5e300}'.encode()) == {
        "a": '[{"b": 1}]', "n": -9223372036854775807, "x": 1.5e300}  # brackets inside strings do not count


@pytest.mark.parametrize("raw", ["1e26", "1.5", "NaN", "inf", "0x10", "1_000", "9" * 40, "-1", "0", "101", "٣"])
def test_a_query_number_must_be_written_as_one_within_bounds(raw: str) -> None:
    with pytest.raises(Invalid) as refused:
        Query(page=Int(1, 100, label="第几页")).parse({"page": raw})
    assert refused.value.message == "page（第几页）：应是 1 到 100 之间的整数" and refused.value.param == "page"


def test_query_values() -> None:
    query = Query(n=Int(1, 10, default=3), t=Text(5, choices=("a", "b")), b=Bool(), s=Text(3))
    assert query.parse({}) == {"n": 3, "t": None, "b": None, "s": None}
    parsed = query.parse({"n": " 7 ", "t": "b", "b": "true", "s": "苞谷地"})
    assert parsed == {"n": 7, "t": "b", "b": True, "s": "苞谷地"}
    assert query.parse({"n": "", "b": "0"})["b"] is False
    for bad in ({"t": "c"}, {"b": "maybe"}, {"s": "1234"}, {"s": "a\x00"}, {"s": "\ud800"}):
        with pytest.raises(Invalid):
            query.parse(bad)


def test_body_types() -> None:
    body = Obj(closed=True, name=Text(5, required=True), ids=List(Int(1, 9), max_items=2), on=Bool())
    assert body.check({"name": "x", "ids": [1, 9], "on": None}, "") == {"name": "x", "ids": [1, 9], "on": None}
    for bad, where in (({}, "name"), ({"name": 5}, "name"), ({"name": "x", "ids": [10]}, "ids[0]"),
                       ({"name": "x", "ids": [1.0]}, "ids[0]"), ({"name": "x", "ids": [True]}, "ids[0]"),
                       ({"name": "x", "ids": 1}, "ids"), ({"name": "x", "on": "yes"}, "on"),
                       ({"name": "x", "other": 1}, "other"), ([], "JSON 对象")):
        with pytest.raises(Invalid) as refused:
            body.check(bad, "")
        assert where in refused.value.message, (bad, refused.value.message)
    with pytest.raises(Invalid) as too_many:
        body.check({"name": "x", "ids": [1, 2, 3]}, "")
    assert too_many.value.status == 413
