"""The WeChat Official Account channel against a fake WeChat: signed and encrypted webhooks in all
three modes (public vectors and fresh keys), events and bad input, the 5-second rule, the 48-hour
window with its template fallback, and the one access token every process shares."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import io
import os
import secrets
import string
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from wechatpy.crypto import WeChatCrypto

from bot import outbox
from bot.app import create_app
from bot.channels import wechat
from bot.config import Config, ConfigError
from bot.keys import CONFIG, ROUTER, SEARCH, SENDERS
from bot.messages import InboundMessage, Reply
from bot.models import AccessToken, ConsentEvent, Message, MessageEvent, Subscriber
from bot.routing import Context, Router
from content import importer
from content.loader import BUNDLED, ArticleData, read_path
from tests.conftest import BACKEND, ROOT, make_config
from tests.fakes.wechat import FakeWeChat, User

pytestmark = pytest.mark.db

OPENID = "oUser123"
URL = "/webhooks/wechat"
TEXT = "明天有霜冻，茶园请盖膜。"


@functools.cache
def bundle() -> list[ArticleData]:
    return read_path(BUNDLED).articles


@pytest.fixture
def fake() -> FakeWeChat:
    return FakeWeChat(hang_seconds=1.5)


@pytest.fixture
async def fake_server(aiohttp_server: Any, fake: FakeWeChat) -> TestServer:
    return await aiohttp_server(fake.app())


def wechat_config(db_url: str, fake: FakeWeChat, server: TestServer | None, **values: Any) -> Config:
    api_base = str(server.make_url("")).rstrip("/") if server is not None else "http://127.0.0.1:9"
    return make_config(db_url, wechat={
        "enabled": True, "app_id": fake.app_id, "app_secret": fake.app_secret, "token": fake.token,
        "encoding_aes_key": fake.aes_key, "mode": "safe", "api_base": api_base, "timeout": 1.0,
        "template_tip": "TPL_TIP", "template_notice": "TPL_NOTICE", **values})


async def start(aiohttp_client: Any, config: Config, *routes: Router) -> TestClient:
    app = create_app(config)
    for router in routes:
        app[ROUTER].include(router)
    client: TestClient = await aiohttp_client(app)
    client.app[SENDERS]["wechat"].tokens.cooldown = 0.05  # type: ignore[attr-defined]
    return client


@pytest.fixture
async def client(aiohttp_client: Any, db_url: str, fake: FakeWeChat, fake_server: TestServer) -> TestClient:
    return await start(aiohttp_client, wechat_config(db_url, fake, fake_server))


async def post(client: TestClient, fake: FakeWeChat, xml: str, mode: str = "safe", **options: Any) -> tuple[int, str]:
    return await fake.post(client, URL, xml, mode, **options)


async def ask(client: TestClient, fake: FakeWeChat, text: str, mode: str = "safe", **options: Any) -> str:
    status, body = await post(client, fake, fake.text_xml(OPENID, text), mode, **options)
    assert status == 200, body
    return str(fake.open_reply(body)["Content"])


async def load_articles(client: TestClient) -> None:
    await importer.upsert(bundle())
    await client.app[SEARCH].refresh()


def signature(*parts: str) -> str:
    return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()


def sender(client: TestClient) -> wechat.WechatSender:
    return client.app[SENDERS]["wechat"]  # type: ignore[return-value]


async def eventually(check: Callable[[], Any], seconds: float = 5.0) -> None:
    deadline = time.monotonic() + seconds
    while not check():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.02)


# --- URL verification and the public vectors (protocols.md §4) ----------------------------------------

OLD = {"max_clock_skew": 2_000_000_000}  # the vectors were signed years ago


async def test_url_verification_official_vector(aiohttp_client: Any, db_url: str) -> None:
    fake = FakeWeChat(token="AAAAA", aes_key="A" * 43, app_id="wx134c8103faa5a59e")
    client = await start(aiohttp_client, wechat_config(db_url, fake, None, **OLD))
    query = {"signature": "899cf89e464efb63f54ddac96b0a0a235f53aa78", "timestamp": "1714037059",
             "nonce": "486452656", "echostr": "8155623473925862543"}
    resp = await client.get(URL, params=query)
    assert (resp.status, await resp.text()) == (200, "8155623473925862543")
    resp = await client.get(URL, params={**query, "nonce": "486452657"})
    assert resp.status == 403


@pytest.mark.parametrize("age", [0, 301])
async def test_url_verification_rejects_stale_requests(client: TestClient, fake: FakeWeChat, age: int) -> None:
    ts = str(int(time.time()) - age)
    resp = await client.get(URL, params={"signature": signature(fake.token, ts, "42"), "timestamp": ts,
                                         "nonce": "42", "echostr": "hello"})
    assert resp.status == (200 if age == 0 else 403)


V_C = ("hyzAe4OzmOMbd6TvGdIOO6uBmdJoD0Fk53REIHvxYtJlE2B655HuD0m8KUePWB3+LrPXo87wzQ1QLvbeUgmBM4x6F8PGHQHFVAFmOD2LdJF9FrXp"
       "bUAh0B5GIItb52sn896wVsMSHGuPE328HnRGBcrS7C41IzDWyWNlZkyyXwon8T332jisa+h6tEDYsVticbSnyU8dKOIbgU6ux5VTjg3yt+WGzjlpK"
       "n6NPhRjpA912xMezR4kw6KWwMrCVKSVCZciVGCgavjIQ6X8tCOp3yZbGpy0VxpAe+77TszTfRd5RJSVO/HTnifJpXgCSUdUue1v6h0EIBYYI1BD1D"
       "lD+C0CR8e6OewpusjZ4uBl9FyJvnhvQl+q5rv1ixrcpCumEPo5MJSgM9ehVsNPfUM669WuMyVWQLCzpu9GhglF2PE=")
V_C_PLAIN = ("<xml><ToUserName><![CDATA[gh_10f6c3c3ac5a]]></ToUserName>\n<FromUserName><![CDATA[oyORnuP8q7ou2gfYjqLzSIWZf0rs]]>"
             "</FromUserName>\n<CreateTime>1409735668</CreateTime>\n<MsgType><![CDATA[text]]></MsgType>\n<Content><![CDATA[abcdteT]]>"
             "</Content>\n<MsgId>6054768590064713728</MsgId>\n</xml>")
V_D = ("mfBCs65c67CeJw22u4VT2TD73q5H06+ocrAIxswCaeZ/d/Lw0msSZFHY0teqgSYiI1zR2gD2DKrB3TIrmX/liNSDrGqS8jSI/WPeKB5VPr7Ezr7gomZ"
       "AyGCwJSgT1TRFWPfONGJMxuj2nk4faTuspAuVIFQ6SHwZuJBZC7mcJp7Cgr9cUhATQWDbOPaE7ukZBTV2YqyzH+UI2AK+J1S47cE79k1RX8t0hcTz/O0"
       "hlK8DGXKnvYv88qKQcI7z4iaajqHfRVZKBNyOODabs+It+ZfM3dWTeFcPgDbGtIEnpt/EDtuuA/zMvtkaKdHdswPnVZQ+xdwbYr3ldGvfT8HlEYEgkgKa"
       "ThxTFobVlwzu2ZkXCjicbP3xdr15Iq48ObgzPpqYuZ3IEoyggZDKClquk0u0orMck4GTF/XyE8yGzc4=")
V_E = ("D7yzvUNAL930rd28wf21s4hvXhz0L6Uit/p2Di6C5DHyYGpEgdBRnKjBec34JwoQXicwaZC7fOVihW80F4VtsdvE//1vr7oAbqjDv8KenVp+ajKYpJny"
       "Q4zMRhIC+a31fCVOMC03FfzV/QuC94kBP55a+Za3sJgvAn+ZbsNqZI5DkyuzkhQN8OBqCzFhizGmy0xpM0MEA4agpvE+RuNO1rhHTtuJB5yltw1FiYze"
       "cSXJ+y/D2r81VkRn2eYjh2ltsoyfbDR7Is6ookXIFxTfyeNyeHxMeT4KN5WpCDmSbTcUYrbBUlkGLJ9n/rU8YOywma6G7aTb7KZKOqCxgfoUlYEZPk4F"
       "UL/TK7ShriFDMVCLyjQJ15Ob++agDWtcxhfUfe6HIoIpRW8mKNBQiY/Jd1svvuskA1wLef1RTtzKfMpagSCX/laZINmdnX4zrF6kIaR9P4xQrWXbsTF"
       "HTYe0Mg==")
V_W = ("RgqEoJj5A4EMYlLvWO1F86ioRjZfaex/gePD0gOXTxpsq5Yj4GNglrBb8I2BAJVODGajiFnXBu7mCPatfjsu6IHCrsTyeDXzF6Bv283dGymzxh6ydJRv"
       "ZsryDyZbLTE7rhnus50qGPMfp2wASFlzEgMW9z1ef/RD8XzaFYgm7iTdaXpXaG4+BiYyolBug/gYNx410cvkKR2/nPwBiT+P4hIiOAQqGp/TywZBtDh1y"
       "CF2KOd0gpiMZ5jSw3e29mTvmUHzkVQiMS6td7vXUaWOMZnYZlF3So2SjHnwh4jYFxdgpkHHqIrH/54SNdshoQgWYEvccTKe7FS709/5t6NMxuGhcUGAPO"
       "QipvWTT4dShyqio7mlsl5noTrb++x6En749zCpQVhDpbV6GDnTbcX2e8K9QaNWHp91eBdCRxthuL0=")
V_B = ("RypEvHKD8QQKFhvQ6QleEB4J58tiPdvo+rtK1I9qca6aM/wvqnLSV5zEPeusUiX5L5X/0lWfrf0QADHHhGd3QczcdCUpj911L3vg3W/sYYvuJTs3TUUk"
       "SUXxaccAS0qhxchrRYt66wiSpGLYL42aM6A8dTT+6k4aSknmPj48kzJs8qLjvd4Xgpue06DOdnLxAUHzM6+kDZ+HMZfJYuR+LtwGc2hgf5gsijff0ekUNXZ"
       "iqATP7PF5mZxZ3Izoun1s4zG4LUMnvw2r+KqCKIw+3IQH03v+BCA9nMELNqbSf6tiWSrXJB3LAVGUcallcrw8V2t9EL4EhzJWrQUax5wLVMNS0+rUPA3k2"
       "2Ncx4XXZS9o0MBH27Bo6BpNelZpS+/uh9KsNlY6bHCmJU9p8g7m3fVKn28H3KDYA5Pl/T8Z1ptDAVe0lXdQ2YoyyH2uyPIGHBZZIs2pDBS8R07+qN+E7Q==")
OWN = ("8Q6sFaw1Cb9qj7RuhNb60hav1rQfNQDqcBiYWiD3fFI8ulkMWNRgQ3YqaoNrvSZNpdLA3oVWPJdPy5YtbPLh5A/iJmCb6suuHmvaETgTZHBc6tvSTE8Nj"
       "i79vc7XjSWL1zdz2PaLY+WWqPWtUCERSGIQZQvkxEDaGuwcFjid2aaiQR0SxiJke9FErqLEJb97TJc4x3X2WtHg/r4sfjHpSEyn5tnlb32/seOUMBUG9"
       "6wJyRK4y9oR979g0LzmIc0BtJLGZAADrAqIZAC/nnF0bN5y6eARS9REvX5A1OoomJ/WuXupatWvc2JZa0JJDfUwHTAgYrACz3YJybw4CgTCx2QPI6FSpT"
       "y0sSgs9Fx9GumEpkCjxrTQmGSDX1h24k9j")
ABC_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"

VECTORS = [
    # (name, mode, token, key, app id, timestamp, nonce, msg_signature, Encrypt, body, sender, MsgId or None for an event)
    ("V-C Tencent Python sample, compatible", "compatible", "spamtest", ABC_KEY, "wx2c2769f8efd9abc2", "1409735669",
     "1320562132", "5d197aaffba7e9b25a30732f161a50dee96bd5fa", V_C, "compatible", "oyORnuP8q7ou2gfYjqLzSIWZf0rs",
     "6054768590064713728"),
    ("V-D Tencent C++ sample, safe", "safe", "spamtest", ABC_KEY, "wx2c2769f8efd9abc2", "1410349438", "298025754",
     "003fee52ecc56afb46c00b5c7721be87860ce785", V_D, "safe", "oyORnuP8q7ou2gfYjqLzSIWZf0rs", "6057404712141979648"),
    ("V-E official docs, all-A key, an event", "safe", "AAAAA", "A" * 43, "wx134c8103faa5a59e", "1715943329",
     "1590219412", "6c12a4205838198b8fa631b3220723bb07f1015c", V_E, "safe", None, None),
    ("V-W wechatpy tests", "safe", "123456", "kWxPEV2UEDyxWpmPdKC3F4dgPDmOvfKX1HGnEUDS1aR", "wx49f0ab532d5d035a",
     "1411525903", "461056294", "74d92dfeb87ba7c714f89d98870ae5eb62dff26d", V_W, "safe", "messense",
     "4363689963896700987"),
    ("V-B Tencent C# sample", "safe", "QDG6eK", "jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", "wx5823bf96d3bd56c7",
     "1409659813", "1372623149", "477715d11cdb4164915debcba66cb864d751f3e6", V_B, "safe", "mycreate",
     "4561255354251345929"),
    ("own §4.3 fixture: 退订", "safe", "testtoken", ABC_KEY, "wx0123456789abcdef", "1700000002", "123456",
     "e5d00f470808eff64f831a7a9756b978e8f7d9ef", OWN, "safe", "oUser123", "24000000000000001"),
]


@pytest.mark.parametrize(("name", "mode", "token", "key", "app_id", "ts", "nonce", "msg_signature", "encrypt", "shape",
                          "sender", "msg_id"), VECTORS, ids=[v[0] for v in VECTORS])
async def test_public_vectors_through_the_webhook(
        aiohttp_client: Any, db_url: str, name: str, mode: str, token: str, key: str, app_id: str, ts: str,
        nonce: str, msg_signature: str, encrypt: str, shape: str, sender: str | None, msg_id: str | None) -> None:
    fake = FakeWeChat(token=token, aes_key=key, app_id=app_id)
    client = await start(aiohttp_client, wechat_config(db_url, fake, None, mode=mode, **OLD))
    body = (V_C_PLAIN.replace("</xml>", f"<Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>") if shape == "compatible"
            else f"<xml><ToUserName><![CDATA[gh_x]]></ToUserName><Encrypt><![CDATA[{encrypt}]]></Encrypt></xml>")
    query = {"signature": signature(token, ts, nonce), "timestamp": ts, "nonce": nonce, "encrypt_type": "aes",
             "msg_signature": msg_signature}
    resp = await client.post(URL, params=query, data=body.encode())
    text = await resp.text()
    assert resp.status == 200, text
    if msg_id is None:
        assert text == "success"  # an event we have nothing to say to
        return
    reply = fake.open_reply(text)  # decrypts with the vector's key and app id, checks MsgSignature
    assert reply["_encrypted"] and reply["MsgType"] == "text" and reply["ToUserName"] == sender and reply["Content"]
    inbound = await Message.get(channel="wechat", direction="in", provider_id=msg_id)
    assert inbound.address == sender
    if "退订" in name:
        assert "退订" in reply["Content"]
    resp = await client.post(URL, params={**query, "msg_signature": "0" * 40}, data=body.encode())
    assert resp.status == 403


def fresh_fake() -> FakeWeChat:
    alphabet = string.ascii_letters + string.digits
    return FakeWeChat(token=secrets.token_urlsafe(24), aes_key="".join(secrets.choice(alphabet) for _ in range(43)),
                      app_id="wx" + secrets.token_hex(8), hang_seconds=1.5)


@pytest.mark.parametrize("mode", ["plain", "compatible", "safe"])
async def test_round_trip_with_fresh_keys(aiohttp_client: Any, aiohttp_server: Any, db_url: str, mode: str) -> None:
    fake = fresh_fake()
    server = await aiohttp_server(fake.app())
    client = await start(aiohttp_client, wechat_config(db_url, fake, server, mode=mode))
    await load_articles(client)
    status, body = await post(client, fake, fake.text_xml(OPENID, "玉米 锈病"), mode)
    assert status == 200
    reply = fake.open_reply(body)
    assert reply.get("_encrypted", False) == (mode != "plain")  # encrypted exactly when the request was
    assert reply["ToUserName"] == OPENID and reply["FromUserName"] == fake.account
    assert "玉米锈病" in reply["Content"] and "戊唑醇" in reply["Content"]
    assert len(reply["Content"].encode()) <= wechat.MAX_TEXT_BYTES
    if mode == "compatible":  # compatible mode may also send plaintext requests
        status, body = await post(client, fake, fake.text_xml(OPENID, "帮助"), "plain")
        assert status == 200 and "订阅" in fake.open_reply(body)["Content"]


# --- events and other message types --------------------------------------------------------------

EVENTS: list[tuple[str, Callable[[FakeWeChat], str], list[str] | None]] = [
    ("subscribe", lambda f: f.event_xml(OPENID, "subscribe"), ["欢迎", "订阅", "TD"]),
    ("subscribe by QR code", lambda f: f.event_xml(OPENID, "subscribe", EventKey="qrscene_123", Ticket="T1"), ["欢迎"]),
    ("scan when already following", lambda f: f.event_xml(OPENID, "SCAN", EventKey="123", Ticket="T1"), None),
    ("unsubscribe", lambda f: f.event_xml(OPENID, "unsubscribe"), None),
    ("menu 使用帮助", lambda f: f.event_xml(OPENID, "CLICK", EventKey="MENU_HELP"), ["订阅", "TD"]),
    ("menu 技术问答", lambda f: f.event_xml(OPENID, "CLICK", EventKey="MENU_ASK"), ["直接发问题"]),
    ("menu 我的订阅", lambda f: f.event_xml(OPENID, "CLICK", EventKey="MENU_MINE"), ["订阅"]),
    ("unknown menu key", lambda f: f.event_xml(OPENID, "CLICK", EventKey="NOPE"), None),
    ("VIEW", lambda f: f.event_xml(OPENID, "VIEW", EventKey="https://example.org/"), None),
    ("LOCATION event", lambda f: f.event_xml(OPENID, "LOCATION", Latitude="32.8", Longitude="110.4", Precision="65"),
     None),
    ("unknown event", lambda f: f.event_xml(OPENID, "user_info_modified"), None),
    ("template job finished, unknown msgid", lambda f: f.job_finished_xml(OPENID, 1, "success"), None),
    ("image", lambda f: f.message_xml(OPENID, "image", {"PicUrl": "http://x/1.jpg", "MediaId": "m1",
                                                        "MsgId": f.new_msg_id()}), ["图片", "文字"]),
    ("voice", lambda f: f.message_xml(OPENID, "voice", {"MediaId": "m1", "Format": "amr", "MsgId": f.new_msg_id()}),
     ["语音", "文字"]),
    ("voice with recognition", lambda f: f.message_xml(OPENID, "voice", {
        "MediaId": "m1", "Format": "amr", "Recognition": "帮助", "MsgId": f.new_msg_id()}), ["订阅", "TD"]),
    ("video", lambda f: f.message_xml(OPENID, "video", {"MediaId": "m1", "ThumbMediaId": "t1",
                                                        "MsgId": f.new_msg_id()}), ["视频"]),
    ("location", lambda f: f.message_xml(OPENID, "location", {
        "Location_X": "32.8", "Location_Y": "110.4", "Scale": 15, "Label": "郧西县", "MsgId": f.new_msg_id()}), ["位置"]),
    ("link", lambda f: f.message_xml(OPENID, "link", {"Title": "t", "Description": "d", "Url": "http://x/",
                                                      "MsgId": f.new_msg_id()}), ["链接"]),
    ("a type WeChat adds later", lambda f: f.message_xml(OPENID, "file", {"Title": "a.pdf", "MsgId": f.new_msg_id()}),
     ["文字"]),
]


@pytest.mark.parametrize(("name", "build", "words"), EVENTS, ids=[e[0] for e in EVENTS])
@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_events_and_message_types(aiohttp_client: Any, db_url: str, fake: FakeWeChat, fake_server: TestServer,
                                        mode: str, name: str, build: Callable[[FakeWeChat], str],
                                        words: list[str] | None) -> None:
    client = await start(aiohttp_client, wechat_config(db_url, fake, fake_server, mode=mode))
    status, body = await post(client, fake, build(fake), mode)
    assert status == 200, body
    if words is None:
        assert body == "success"
        return
    reply = fake.open_reply(body)
    assert reply.get("_encrypted", False) == (mode == "safe")
    for word in words:
        assert word in reply["Content"], reply["Content"]


async def test_subscribe_creates_then_a_retry_changes_nothing(client: TestClient, fake: FakeWeChat) -> None:
    xml = fake.event_xml(OPENID, "subscribe", EventKey="qrscene_123", Ticket="T1")
    first = await post(client, fake, xml)
    again = await post(client, fake, xml)  # WeChat's retry: same FromUserName, CreateTime and Event
    assert first[0] == again[0] == 200
    assert fake.open_reply(first[1])["Content"] == fake.open_reply(again[1])["Content"]
    sub = await Subscriber.get(wechat_openid=OPENID)
    assert (sub.status, sub.wechat_followed, sub.consent_source, sub.preferred_channel) == (
        "active", True, "wechat:qrscene:123", "wechat")
    assert [e.source for e in await ConsentEvent.filter(subscriber=sub)] == ["wechat:qrscene:123"]
    assert await Message.filter(direction="in").count() == 1


async def test_unfollow_then_follow_again(client: TestClient, fake: FakeWeChat) -> None:
    await post(client, fake, fake.event_xml(OPENID, "subscribe", create_time=1))
    unfollow = fake.event_xml(OPENID, "unsubscribe")
    assert await post(client, fake, unfollow) == (200, "success")
    assert await post(client, fake, unfollow) == (200, "success")  # a retry
    sub = await Subscriber.get(wechat_openid=OPENID)
    # Reachable only on WeChat: unfollowing ends every push.
    assert (sub.status, sub.wechat_followed) == ("opted_out", False)
    events = await ConsentEvent.filter(subscriber=sub).order_by("id").values_list("action", "channel", "source")
    assert events == [("opt_in", "wechat", "wechat:subscribe"), ("opt_out", "wechat", "wechat:unsubscribe")]
    row = await outbox.send_text(client.app, sub, TEXT, backoff=0.01)
    assert (row.status, row.error_code) == ("failed", "43004") and fake.api_calls == 0
    await post(client, fake, fake.event_xml(OPENID, "subscribe", create_time=2))
    sub = await Subscriber.get(wechat_openid=OPENID)
    assert (sub.status, sub.wechat_followed, sub.consent_source) == ("active", True, "wechat:subscribe")


async def test_unfollow_keeps_sms_pushes_of_someone_with_a_phone(client: TestClient, fake: FakeWeChat) -> None:
    sub = await Subscriber.create(phone="+8613800138000", wechat_openid=OPENID, wechat_followed=True)
    await post(client, fake, fake.event_xml(OPENID, "unsubscribe"))
    sub = await Subscriber.get(id=sub.id)
    assert (sub.status, sub.wechat_followed) == ("active", False)
    event = await ConsentEvent.get(subscriber=sub)
    assert (event.action, event.channel) == ("opt_out", "wechat")


async def test_follow_reactivates_someone_who_sent_td(client: TestClient, fake: FakeWeChat) -> None:
    assert "已退订" in await ask(client, fake, "TD")
    await post(client, fake, fake.event_xml(OPENID, "subscribe"))
    sub = await Subscriber.get(wechat_openid=OPENID)
    assert (sub.status, sub.consent_source) == ("active", "wechat:subscribe")


async def test_any_message_marks_a_follower_and_opens_the_window(client: TestClient, fake: FakeWeChat) -> None:
    await ask(client, fake, "帮助")
    sub = await Subscriber.get(wechat_openid=OPENID)
    assert sub.wechat_followed and sub.wechat_cs_sent == 0
    assert sub.last_inbound_at is not None and datetime.now(UTC) - sub.last_inbound_at < timedelta(minutes=1)


async def test_a_retry_of_a_message_does_not_open_the_window_again(client: TestClient, fake: FakeWeChat) -> None:
    xml = fake.text_xml(OPENID, "帮助")
    await post(client, fake, xml)
    # Since then: three customer-service texts went out, and the follower left.
    await Subscriber.filter(wechat_openid=OPENID).update(wechat_cs_sent=3, wechat_followed=False)
    await post(client, fake, xml)  # WeChat's retry of the same MsgId
    sub = await Subscriber.get(wechat_openid=OPENID)
    assert (sub.wechat_cs_sent, sub.wechat_followed) == (3, False)
    await ask(client, fake, "我的")  # a new message: the window opens anew
    sub = await Subscriber.get(wechat_openid=OPENID)
    assert (sub.wechat_cs_sent, sub.wechat_followed) == (0, True)


async def test_a_click_marks_a_follower_but_opens_no_window(client: TestClient, fake: FakeWeChat) -> None:
    await ask(client, fake, "帮助")
    await Subscriber.filter(wechat_openid=OPENID).update(wechat_cs_sent=2, wechat_followed=False)
    await post(client, fake, fake.event_xml(OPENID, "CLICK", EventKey="MENU_HELP"))
    sub = await Subscriber.get(wechat_openid=OPENID)
    assert (sub.wechat_cs_sent, sub.wechat_followed) == (2, True)


# --- bad input ---------------------------------------------------------------------------------

BOMB = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">'
        '<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;&b;&b;"><!ENTITY d "&c;&c;&c;&c;&c;&c;&c;&c;&c;&c;">]>'
        '<xml><ToUserName>gh_test</ToUserName><FromUserName>oUser123</FromUserName><CreateTime>1700000000</CreateTime>'
        '<MsgType>text</MsgType><Content>&d;</Content><MsgId>1</MsgId></xml>')
XXE = ('<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
       '<xml><ToUserName>gh_test</ToUserName><FromUserName>oUser123</FromUserName><CreateTime>1700000000</CreateTime>'
       '<MsgType>text</MsgType><Content>&e;</Content><MsgId>1</MsgId></xml>')


def text_with(**fields: str) -> str:
    base = {"ToUserName": "<![CDATA[gh_test]]>", "FromUserName": "<![CDATA[oUser123]]>", "CreateTime": "1700000000",
            "MsgType": "<![CDATA[text]]>", "Content": "<![CDATA[帮助]]>", "MsgId": "24000000000000009"}
    base.update(fields)
    return "<xml>" + "".join(f"<{k}>{v}</{k}>" for k, v in base.items() if v != "-") + "</xml>"


def envelope(f: FakeWeChat, xml: str | None = None, mode: str = "safe", **options: Any) -> tuple[dict[str, str], Any]:
    return f.envelope(xml or f.text_xml(OPENID, "帮助"), mode, **options)


def change(request: tuple[dict[str, str], Any], body: Any = None, **query: str | None) -> tuple[dict[str, str], Any]:
    params = {k: v for k, v in {**request[0], **query}.items() if v is not None}
    return params, request[1] if body is None else body


def flip(encrypt: str) -> str:
    middle = len(encrypt) // 2
    return encrypt[:middle] + ("A" if encrypt[middle] != "A" else "B") + encrypt[middle + 1:]


def badly_timed(f: FakeWeChat, ts: str) -> tuple[dict[str, str], Any]:
    query, body = envelope(f, timestamp=int(time.time()))
    return change((query, body), timestamp=ts, signature=f.signature(f.token, ts, query["nonce"]))


BAD_INPUT: list[tuple[Any, ...]] = [
    ("bad signature", lambda f: change(envelope(f), signature="0" * 40), {403}),
    ("no signature", lambda f: change(envelope(f), signature=None), {403}),
    ("non-ASCII signature", lambda f: change(envelope(f), signature="签名"), {403}),
    ("bad msg_signature", lambda f: envelope(f, msg_signature="0" * 40), {403}),
    ("no msg_signature", lambda f: change(envelope(f), msg_signature=None), {403}),
    ("tampered ciphertext, re-signed", lambda f: envelope(f, tamper=flip), {400, 403}),
    ("truncated ciphertext, re-signed", lambda f: envelope(f, tamper=lambda e: e[:-24]), {400, 403}),
    ("ciphertext shifted, re-signed", lambda f: envelope(f, tamper=lambda e: "!" * 8 + e[8:]), {400, 403}),
    ("encrypted for another AppId", lambda f: envelope(f, app_id="wxffffffffffffffff"), {403}),
    ("stale timestamp", lambda f: envelope(f, timestamp=int(time.time()) - 400), {403}),
    ("timestamp from the future", lambda f: envelope(f, timestamp=int(time.time()) + 400), {403}),
    ("timestamp not a number", lambda f: badly_timed(f, "1e9"), {403}),
    ("entity bomb as the body", lambda f: change(envelope(f), body=BOMB), {400}),
    ("entity bomb inside the ciphertext", lambda f: envelope(f, BOMB), {400}),
    ("external entity (XXE)", lambda f: envelope(f, XXE), {400}),
    ("1 MB body", lambda f: change(envelope(f), body="<xml>" + "好" * 350_000 + "</xml>"), {413}),
    ("not UTF-8", lambda f: change(envelope(f), body=b"<xml>\xff\xfe</xml>"), {400}),
    ("not XML", lambda f: change(envelope(f), body="hello"), {400}),
    ("empty body", lambda f: change(envelope(f), body=""), {400}),
    ("no Encrypt element", lambda f: change(envelope(f), body="<xml><ToUserName>gh_test</ToUserName></xml>"), {400, 403}),
    ("plaintext request in safe mode", lambda f: envelope(f, mode="plain"), {400}),
    ("markup nested in Content", lambda f: envelope(f, text_with(Content="<b>帮助</b>")), {400}),
    ("Content given twice", lambda f: envelope(f, text_with(Content="a</Content><Content>b")), {400}),
    ("no MsgId", lambda f: envelope(f, text_with(MsgId="-")), {400}),
    ("no FromUserName", lambda f: envelope(f, text_with(FromUserName="-")), {400}),
    ("FromUserName that is not an openid", lambda f: envelope(f, text_with(FromUserName="<![CDATA[o<x>'1]]>")), {400}),
    ("CreateTime not a number", lambda f: envelope(f, text_with(CreateTime="soon")), {400}),
    ("no MsgType", lambda f: envelope(f, text_with(MsgType="-")), {400}),
    ("root element is not xml", lambda f: envelope(f, "<a><b>1</b></a>"), {400}),
    ("plain mode: entity bomb", lambda f: envelope(f, BOMB, "plain"), {400}, "plain"),
    ("plain mode: external entity (XXE)", lambda f: envelope(f, XXE, "plain"), {400}, "plain"),
    ("plain mode: bad signature", lambda f: change(envelope(f, mode="plain"), signature="1" * 40), {403}, "plain"),
    ("plain mode: an encrypted request", lambda f: envelope(f), {400}, "plain"),
    ("compatible mode: bad msg_signature", lambda f: envelope(f, mode="compatible", msg_signature="0" * 40), {403},
     "compatible"),
]


@pytest.mark.parametrize(("name", "build", "statuses", "mode"), [(*c, "safe")[:4] for c in BAD_INPUT],
                         ids=[c[0] for c in BAD_INPUT])
async def test_bad_input_is_refused_and_stores_nothing(
        aiohttp_client: Any, db_url: str, fake: FakeWeChat, fake_server: TestServer, name: str,
        build: Callable[[FakeWeChat], tuple[dict[str, str], Any]], statuses: set[int], mode: str) -> None:
    client = await start(aiohttp_client, wechat_config(db_url, fake, fake_server, mode=mode))
    query, body = build(fake)
    data = body.encode() if isinstance(body, str) else body
    resp = await client.post(URL, params=query, data=io.BytesIO(data), headers={"Content-Type": "text/xml"})
    assert resp.status in statuses, await resp.text()
    assert await Message.all().count() == 0 and await Subscriber.all().count() == 0


async def test_compatible_mode_trusts_only_the_encrypted_copy(aiohttp_client: Any, db_url: str, fake: FakeWeChat,
                                                               fake_server: TestServer) -> None:
    client = await start(aiohttp_client, wechat_config(db_url, fake, fake_server, mode="compatible"))
    query, body = fake.envelope(fake.text_xml(OPENID, "帮助"), "compatible")
    forged = body.replace("<Content><![CDATA[帮助]]></Content>", "<Content><![CDATA[TD]]></Content>", 1)
    assert forged != body  # the plaintext copy now says TD; the signed ciphertext still says 帮助
    resp = await client.post(URL, params=query, data=forged.encode())
    assert resp.status == 200
    assert "订阅" in fake.open_reply(await resp.text())["Content"]
    assert (await Subscriber.get(wechat_openid=OPENID)).status == "active"


def echo_router() -> Router:
    echo = Router("echo")

    @echo.keyword(prefix=("回声",))
    async def say_back(msg: InboundMessage, ctx: Context) -> Reply:
        return Reply(msg.text)

    return echo


@pytest.mark.parametrize("mode", ["plain", "safe"])
async def test_cdata_end_in_user_text_cannot_inject_xml(aiohttp_client: Any, db_url: str, fake: FakeWeChat,
                                                        fake_server: TestServer, mode: str) -> None:
    client = await start(aiohttp_client, wechat_config(db_url, fake, fake_server, mode=mode), echo_router())
    evil = "回声 ]]></Content><MsgType><![CDATA[news]]></MsgType><Content><![CDATA[x"
    reply = fake.open_reply((await post(client, fake, fake.text_xml(OPENID, evil), mode))[1])
    assert reply["MsgType"] == "text" and reply["Content"] == evil


async def test_long_answers_are_cut_to_wechats_limit(aiohttp_client: Any, db_url: str, fake: FakeWeChat,
                                                     fake_server: TestServer) -> None:
    client = await start(aiohttp_client, wechat_config(db_url, fake, fake_server), echo_router())
    reply = await ask(client, fake, "回声 " + "稻" * 1000)
    assert len(reply.encode()) <= wechat.MAX_TEXT_BYTES and reply.endswith("…")


# --- the 5-second rule ---------------------------------------------------------------------------


def slow_router(seconds: float, calls: list[str]) -> Router:
    slow = Router("slow")

    @slow.keyword("慢慢说")
    async def answer_slowly(msg: InboundMessage, ctx: Context) -> Reply:
        calls.append(msg.text)
        await asyncio.sleep(seconds)
        return Reply("想好了：多施有机肥。")

    return slow


async def test_duplicate_msgid_runs_handlers_once(client: TestClient, fake: FakeWeChat) -> None:
    xml = fake.text_xml(OPENID, "订阅 价格 柑橘")
    first, again = await post(client, fake, xml), await post(client, fake, xml)
    assert first[0] == again[0] == 200
    assert fake.open_reply(first[1])["Content"] == fake.open_reply(again[1])["Content"]
    assert await Message.filter(direction="in").count() == 1


async def test_slow_answer_says_success_now_and_sends_it_after(aiohttp_client: Any, db_url: str, fake: FakeWeChat,
                                                               fake_server: TestServer) -> None:
    calls: list[str] = []
    config = wechat_config(db_url, fake, fake_server, reply_budget=0.2)
    client = await start(aiohttp_client, config, slow_router(0.8, calls))
    xml = fake.text_xml(OPENID, "慢慢说")
    started = time.monotonic()
    assert await post(client, fake, xml) == (200, "success")
    assert time.monotonic() - started < 0.7
    # WeChat's retry of a message still being answered: handlers do not run again, no second answer.
    assert await post(client, fake, xml) == (200, "success")
    await eventually(lambda: fake.custom)
    await eventually(lambda: not client.app[wechat.PENDING].tasks)
    assert calls == ["慢慢说"]
    assert [(m["touser"], m["text"]["content"]) for m in fake.custom] == [(OPENID, "想好了：多施有机肥。")]
    reply = await Message.get(direction="out")
    assert (reply.status, reply.attempts, reply.body) == ("sent", 1, "想好了：多施有机肥。")
    assert await post(client, fake, xml) == (200, "success")  # a late retry: no second answer either
    await asyncio.sleep(0.1)
    assert len(fake.custom) == 1 and calls == ["慢慢说"]


async def test_fast_answer_is_passive(aiohttp_client: Any, db_url: str, fake: FakeWeChat,
                                      fake_server: TestServer) -> None:
    calls: list[str] = []
    client = await start(aiohttp_client, wechat_config(db_url, fake, fake_server), slow_router(0.05, calls))
    assert await ask(client, fake, "慢慢说") == "想好了：多施有机肥。"
    assert fake.custom == [] and calls == ["慢慢说"]


@pytest.mark.parametrize("hang", [0.3, 30.0])
async def test_app_cleanup_finishes_or_cancels_late_answers(aiohttp_client: Any, db_url: str, fake: FakeWeChat,
                                                            fake_server: TestServer, hang: float) -> None:
    calls: list[str] = []
    client = await start(aiohttp_client, wechat_config(db_url, fake, fake_server, reply_budget=0.1),
                         slow_router(hang, calls))
    assert await post(client, fake, fake.text_xml(OPENID, "慢慢说")) == (200, "success")
    pending = client.app[wechat.PENDING]
    assert len(pending.tasks) == 1
    pending.drain = 2.0
    started = time.monotonic()
    await client.close()
    assert not pending.tasks and time.monotonic() - started < 5
    assert len(fake.custom) == (1 if hang < 1 else 0)  # finished within the drain, or cancelled cleanly


# --- pushes: the 48-hour window, templates, delivery events -------------------------------------------


async def follower(fake: FakeWeChat, openid: str, wrote_ago: timedelta | None, *, cs_sent: int = 0,
                   followed: bool = True) -> Subscriber:
    """A follower in both our database and the fake's model, who last wrote `wrote_ago`."""
    last = datetime.now(UTC) - wrote_ago if wrote_ago is not None else None
    fake.users[openid] = User(followed=followed, last_message=last.timestamp() if last else None, cs_sent=cs_sent)
    return await Subscriber.create(wechat_openid=openid, wechat_followed=True, last_inbound_at=last,
                                   wechat_cs_sent=cs_sent, preferred_channel="wechat")


async def test_push_inside_and_outside_the_window_and_the_job_finish_event(client: TestClient,
                                                                           fake: FakeWeChat) -> None:
    inside = await follower(fake, "oInside", timedelta(hours=2))
    outside = await follower(fake, "oOutside", timedelta(days=3))
    near = await outbox.send_text(client.app, inside, TEXT, backoff=0.01)
    far = await outbox.send_text(client.app, outside, TEXT, backoff=0.01)
    assert (near.status, near.provider_id) == ("sent", None)
    assert fake.custom == [{"touser": "oInside", "msgtype": "text", "text": {"content": TEXT}}]
    assert far.status == "sent" and far.provider_id is not None
    msgid = int(far.provider_id.removeprefix("tmpl:"))
    sent = fake.sent_templates[msgid]
    assert (sent["touser"], sent["template_id"]) == ("oOutside", "TPL_NOTICE")
    assert sent["data"]["thing1"] == {"value": "通知"} and sent["data"]["thing2"] == {"value": TEXT}
    assert (await Subscriber.get(id=inside.id)).wechat_cs_sent == 1

    finished = fake.job_finished_xml("oOutside", msgid, "success")
    assert await post(client, fake, finished) == (200, "success")
    assert await post(client, fake, finished) == (200, "success")  # WeChat's retry
    assert (await Message.get(id=far.id)).status == "delivered"
    assert await MessageEvent.filter(message_id=far.id).values_list("status", "error_code") == [("delivered", None)]


async def test_job_finish_failure_is_recorded(client: TestClient, fake: FakeWeChat) -> None:
    outside = await follower(fake, "oOutside", None)
    row = await outbox.send_text(client.app, outside, TEXT, backoff=0.01)
    msgid = int(str(row.provider_id).removeprefix("tmpl:"))
    await post(client, fake, fake.job_finished_xml("oOutside", msgid, "failed:user block"))
    row = await Message.get(id=row.id)
    assert (row.status, row.error_code) == ("failed", "user_block")


async def test_window_quota_of_five_then_templates(client: TestClient, fake: FakeWeChat) -> None:
    sub = await follower(fake, "oBusy", timedelta(minutes=5))
    rows = [await outbox.send_text(client.app, sub, f"{TEXT}{i}", backoff=0.01) for i in range(7)]
    assert [r.provider_id is None for r in rows] == [True] * 5 + [False] * 2
    assert len(fake.custom) == 5 and len(fake.sent_templates) == 2
    assert fake.api_calls == 7  # our count spared WeChat the calls it would refuse
    assert (await Subscriber.get(id=sub.id)).wechat_cs_sent == 5


@pytest.mark.parametrize(("wechat_says", "cs_sent"), [("45015", 5), ("45047", 5)])
async def test_wechat_window_errors_switch_to_a_template(client: TestClient, fake: FakeWeChat, wechat_says: str,
                                                         cs_sent: int) -> None:
    sub = await follower(fake, "oUser", timedelta(hours=1))
    fake.faults.append(wechat_says)  # WeChat disagrees with our count (another tool used the window)
    row = await outbox.send_text(client.app, sub, TEXT, backoff=0.01)
    assert row.status == "sent" and str(row.provider_id).startswith("tmpl:") and row.attempts == 1
    assert (await Subscriber.get(id=sub.id)).wechat_cs_sent == cs_sent


async def test_template_kind_and_missing_template(aiohttp_client: Any, db_url: str, fake: FakeWeChat,
                                                  fake_server: TestServer) -> None:
    client = await start(aiohttp_client, wechat_config(db_url, fake, fake_server))
    await follower(fake, "oFar", timedelta(days=5))
    result = await sender(client).send("oFar", TEXT, kind="tip")
    assert result.status == "sent"
    assert [t["template_id"] for t in fake.sent_templates.values()] == ["TPL_TIP"]
    assert next(iter(fake.sent_templates.values()))["data"]["thing1"] == {"value": "农技提示"}
    result = await sender(client).send("oFar", "长" * 40, kind="price")  # no template_price: the notice one
    last = list(fake.sent_templates.values())[-1]
    assert last["template_id"] == "TPL_NOTICE" and last["data"]["thing2"]["value"] == "长" * 19 + "…"


async def test_no_template_configured(aiohttp_client: Any, db_url: str, fake: FakeWeChat,
                                      fake_server: TestServer) -> None:
    client = await start(aiohttp_client, wechat_config(db_url, fake, fake_server, template_tip="", template_notice=""))
    await follower(fake, "oFar", timedelta(days=5))
    result = await sender(client).send("oFar", TEXT, kind="tip")
    assert (result.status, result.error_code, result.retryable) == ("failed", "no_template", False)
    assert "wechat.template_tip" in str(result.error) and fake.api_calls == 0


async def test_unfollowed_on_wechat_side_is_learned(client: TestClient, fake: FakeWeChat) -> None:
    sub = await follower(fake, "oGone", timedelta(days=3), followed=False)
    row = await outbox.send_text(client.app, sub, TEXT, backoff=0.01)
    assert (row.status, row.error_code, row.attempts) == ("failed", "43004", 1)
    assert not (await Subscriber.get(id=sub.id)).wechat_followed


# --- the access token ---------------------------------------------------------------------------


async def other_process(config: Config, session: aiohttp.ClientSession) -> wechat.TokenStore:
    api = wechat.WechatApi(session, config.wechat.api_base, config.wechat.timeout)
    return wechat.TokenStore(config.wechat, api, postgres=BACKEND == "postgres")


async def test_one_token_shared_by_every_process(client: TestClient, fake: FakeWeChat) -> None:
    sub = await follower(fake, "oUser", timedelta(hours=1))
    await outbox.send_text(client.app, sub, TEXT, backoff=0.01)
    await outbox.send_text(client.app, sub, TEXT, backoff=0.01)
    assert fake.token_calls == 1
    row = await AccessToken.get(app_id=fake.app_id)
    async with aiohttp.ClientSession() as session:
        stores = [await other_process(client.app[CONFIG], session) for _ in range(3)]
        got = await asyncio.gather(*(store.get() for store in stores for _ in range(3)))
    assert set(got) == {row.token} and fake.token_calls == 1


async def test_concurrent_first_fetch_across_processes(client: TestClient, fake: FakeWeChat) -> None:
    async with aiohttp.ClientSession() as session:
        stores = [await other_process(client.app[CONFIG], session) for _ in range(4)]
        got = await asyncio.gather(*(store.get() for store in stores for _ in range(2)))
    assert len(set(got)) == 1
    # PostgreSQL: an advisory lock lets one process fetch. SQLite serves one process, whose own lock
    # is per store here; stable_token hands every caller the same token anyway.
    assert fake.token_calls == 1 if BACKEND == "postgres" else fake.token_calls <= 4


@pytest.mark.parametrize("stable", [True, False])
async def test_token_renewed_ahead_of_expiry(aiohttp_client: Any, db_url: str, fake: FakeWeChat,
                                             fake_server: TestServer, stable: bool) -> None:
    client = await start(aiohttp_client, wechat_config(db_url, fake, fake_server, stable_token=stable))
    first = await sender(client).tokens.get()
    await AccessToken.filter(app_id=fake.app_id).update(expires_at=datetime.now(UTC) + timedelta(seconds=120))
    fake.tokens[first] = time.time() + 120  # WeChat agrees it is nearly spent
    second = await sender(client).tokens.get()
    row = await AccessToken.get(app_id=fake.app_id)
    assert second != first and row.token == second and fake.token_calls == 2
    assert row.expires_at > datetime.now(UTC) + timedelta(hours=1)


async def aged_token(client: TestClient) -> str:
    """A token fetched a while ago (renewing one fetched seconds ago is refused, see below)."""
    token = await sender(client).tokens.get()
    await AccessToken.all().update(updated_at=datetime.now(UTC) - timedelta(minutes=10))
    return token


async def test_rejected_token_is_renewed_once(client: TestClient, fake: FakeWeChat) -> None:
    sub = await follower(fake, "oUser", timedelta(hours=1))
    await aged_token(client)
    fake.faults.append("40001")
    row = await outbox.send_text(client.app, sub, TEXT, backoff=0.01)
    assert (row.status, row.attempts) == ("sent", 1) and fake.token_calls == 2 and len(fake.custom) == 1


async def test_token_rejected_forever_fails_without_a_loop(client: TestClient, fake: FakeWeChat) -> None:
    sub = await follower(fake, "oUser", timedelta(hours=1))
    await aged_token(client)
    fake.reject_tokens = True
    row = await outbox.send_text(client.app, sub, TEXT, backoff=0.01)
    assert (row.status, row.error_code, row.attempts) == ("failed", "40001", 1)
    assert "after renewing" in str(row.error)
    assert (fake.token_calls, fake.api_calls) == (2, 2)
    # Right after, the fresh token is rejected too: retried a few times, never fetched again.
    row = await outbox.send_text(client.app, sub, TEXT, backoff=0.01)
    assert (row.status, row.attempts) == ("failed", 3) and "fetched" in str(row.error)
    assert (fake.token_calls, fake.api_calls) == (2, 5)
    assert (await Subscriber.get(id=sub.id)).wechat_cs_sent == 0  # failed sends gave their slot back


async def test_token_endpoint_down_backs_off(client: TestClient, fake: FakeWeChat) -> None:
    sub = await follower(fake, "oUser", timedelta(hours=1))
    sender(client).tokens.cooldown = 60.0
    fake.token_faults.extend(["500"] * 10)
    row = await outbox.send_text(client.app, sub, TEXT, backoff=0.01)
    assert (row.status, row.attempts) == ("failed", 3) and "next try in" in str(row.error)
    assert fake.token_calls == 1 and fake.api_calls == 0


@pytest.mark.parametrize(("fault", "code"), [("-1", "-1"), ("40013", "40013")])
async def test_token_endpoint_errors(client: TestClient, fake: FakeWeChat, fault: str, code: str) -> None:
    sub = await follower(fake, "oUser", timedelta(hours=1))
    fake.token_faults.extend([fault] * 3)
    row = await outbox.send_text(client.app, sub, TEXT, backoff=0.1)
    assert (row.status, row.error_code) == ("failed", code) and "access token" in str(row.error)
    assert row.attempts == (3 if fault == "-1" else 1)  # system busy is retried; a wrong AppID is not
    assert fake.token_calls <= 3


async def test_wrong_app_secret_is_final(aiohttp_client: Any, db_url: str, fake: FakeWeChat,
                                         fake_server: TestServer) -> None:
    client = await start(aiohttp_client, wechat_config(db_url, fake, fake_server, app_secret="wrong"))
    sub = await follower(fake, "oUser", timedelta(hours=1))
    row = await outbox.send_text(client.app, sub, TEXT, backoff=0.01)
    assert (row.status, row.error_code, row.attempts) == ("failed", "40125", 1) and fake.token_calls == 1


@pytest.mark.parametrize(("faults", "status", "attempts"), [
    (["45009", "45009"], "sent", 3), (["45009"] * 3, "failed", 3), (["-1"], "sent", 2), (["500"], "sent", 2),
    (["timeout"], "sent", 2)])
async def test_rate_limits_and_outages_are_retried_a_bounded_number_of_times(
        aiohttp_client: Any, db_url: str, fake: FakeWeChat, fake_server: TestServer, faults: list[str], status: str,
        attempts: int) -> None:
    fake.hang_seconds = 0.6
    client = await start(aiohttp_client, wechat_config(db_url, fake, fake_server, timeout=0.3))
    sub = await follower(fake, "oUser", timedelta(hours=1))
    fake.faults.extend(faults)
    row = await outbox.send_text(client.app, sub, TEXT, backoff=0.01)
    assert (row.status, row.attempts) == (status, attempts)
    assert fake.api_calls == attempts
    if status == "failed":
        assert row.error_code == "45009" and "quota" in str(row.error)


async def test_wechat_unreachable_fails_with_reason(aiohttp_client: Any, db_url: str, fake: FakeWeChat) -> None:
    client = await start(aiohttp_client, wechat_config(db_url, fake, None, timeout=0.3))
    sub = await follower(fake, "oUser", timedelta(hours=1))
    row = await outbox.send_text(client.app, sub, TEXT, backoff=0.01)
    assert row.status == "failed" and "no answer from WeChat" in str(row.error)


# --- the menu, configuration and mounting ----------------------------------------------------------


async def run_cli(db_url: str, fake: FakeWeChat, server: TestServer | None, *args: str,
                  **env: str) -> tuple[int, str, str]:
    api_base = str(server.make_url("")).rstrip("/") if server is not None else "http://127.0.0.1:9"
    environ = {**os.environ, "NONGBOT_DATABASE_URL": db_url, "NONGBOT_WECHAT_ENABLED": "true",
               "NONGBOT_WECHAT_APP_ID": fake.app_id, "NONGBOT_WECHAT_APP_SECRET": fake.app_secret,
               "NONGBOT_WECHAT_TOKEN": fake.token, "NONGBOT_WECHAT_ENCODING_AES_KEY": fake.aes_key,
               "NONGBOT_WECHAT_API_BASE": api_base, **env}
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml"), "wechat", "menu", *args, env=environ,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_menu_command_publishes_the_default_menu(db_url: str, fake: FakeWeChat, fake_server: TestServer) -> None:
    code, _, err = await run_cli(db_url, fake, fake_server)
    assert code == 0, err
    assert fake.menu is not None
    names = [b["name"] for b in fake.menu["button"]]
    subs = [s["name"] for s in fake.menu["button"][2]["sub_button"]]
    assert names == ["技术问答", "今日价格", "更多"] and subs == ["务工信息", "我的订阅", "使用帮助"]
    assert {b.get("key") for b in fake.menu["button"][:2]} == {"MENU_ASK", "MENU_PRICES"}


@pytest.mark.parametrize(("env", "code", "words"), [
    ({"NONGBOT_WECHAT_MENU": "技术问答=NOPE"}, 2, "wechat.menu"),
    ({"NONGBOT_WECHAT_MENU": "a=MENU_HELP; b=MENU_HELP; c=MENU_HELP; d=MENU_HELP"}, 2, "1 to 3"),
    ({"NONGBOT_WECHAT_MENU": "很长很长的菜单名字=MENU_HELP"}, 2, "bytes"),
    ({"NONGBOT_WECHAT_ENABLED": "false"}, 2, "wechat.enabled"),
    ({"NONGBOT_WECHAT_APP_SECRET": "wrong"}, 1, "40125"),
])
async def test_menu_command_errors_are_one_line(db_url: str, fake: FakeWeChat, fake_server: TestServer,
                                                env: dict[str, str], code: int, words: str) -> None:
    got, _, err = await run_cli(db_url, fake, fake_server, **env)
    assert got == code and words in err and "Traceback" not in err
    assert fake.menu is None


def test_menu_spec_parsing() -> None:
    buttons = wechat.menu_buttons("问答=MENU_ASK;  更多: 帮助=MENU_HELP ,我的=MENU_MINE ;")
    assert buttons == [{"type": "click", "name": "问答", "key": "MENU_ASK"},
                       {"name": "更多", "sub_button": [{"type": "click", "name": "帮助", "key": "MENU_HELP"},
                                                        {"type": "click", "name": "我的", "key": "MENU_MINE"}]}]
    for bad in ("", "更多:", "问答", "更多: a=MENU_HELP, b=MENU_HELP, c=MENU_HELP, d=MENU_HELP, e=MENU_HELP, f=MENU_HELP"):
        with pytest.raises(ValueError):
            wechat.menu_buttons(bad)


@pytest.mark.parametrize(("values", "words"), [
    ({"reply_budget": 5.0}, "wechat.reply_budget"), ({"reply_budget": 0.0}, "wechat.reply_budget"),
    ({"max_clock_skew": 0}, "wechat.max_clock_skew"), ({"timeout": 0.0}, "wechat.timeout")])
def test_config_checks(db_url: str, values: dict[str, Any], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        make_config(db_url, wechat=values)


async def test_webhook_absent_when_disabled(aiohttp_client: Any, config: Config) -> None:
    client = await aiohttp_client(create_app(config))
    assert (await client.post(URL, data=b"<xml/>")).status == 404


def test_reply_crypto_matches_the_official_reply_vector() -> None:
    crypto = WeChatCrypto("AAAAA", "A" * 43, "wx134c8103faa5a59e")
    encrypt = ("hE8R6mGXHkJJjU72KxzKUd1GEkKJaEZq7vRL8XgK3o+00k8JGq6+pZJUIlTSyhsX+bxIBQ72g3GyvDdIZcr6+3HAZbSvPT9t/o11MI7d6WE"
               "LwqrGd7jMnV0zv3Zc9Nq7")
    plain = crypto.decrypt_message({"Encrypt": encrypt}, "03e0812039325c2712ef5f0f980fd14c70d6e307", "1713424427",
                                   "415670741")
    assert plain == "<xml><demo_resp>[CDATA[good luck]]</demo_resp></xml>"
