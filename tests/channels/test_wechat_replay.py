"""Issue 15 item 6: a captured plaintext signature (timestamp, nonce) replayed with a forged body.

WeChat's plaintext signature covers the token, timestamp and nonce but not the body, so within
max_clock_skew a captured query string could carry another FromUserName and "TD". Each pair is
accepted once, in a table every web process shares."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from bot import inbox
from bot.channels import wechat
from bot.models import Message, SeenNonce, Subscriber
from tests.channels.test_wechat import OPENID, URL, client, fake, fake_server, start, wechat_config  # noqa: F401 (fixtures)
from tests.fakes.wechat import FakeWeChat

pytestmark = pytest.mark.db

VICTIM = "oVictim456"


@pytest.mark.parametrize("mode", ["plain", "compatible"])
async def test_replayed_signature_refused(aiohttp_client: Any, db_url: str, fake: FakeWeChat,
                                          fake_server: TestServer, mode: str) -> None:
    config = wechat_config(db_url, fake, fake_server, mode=mode)
    first = await start(aiohttp_client, config)
    await Subscriber.create(wechat_openid=VICTIM, wechat_followed=True, preferred_channel="wechat")
    # A plaintext request (compatible mode accepts those too), as captured on the wire.
    query, body = fake.envelope(fake.text_xml(OPENID, "帮助"), "plain")
    resp = await first.post(URL, params=query, data=body.encode())
    assert resp.status == 200 and "订阅" in fake.open_reply(await resp.text())["Content"]

    forged = fake.text_xml(VICTIM, "TD")  # same signature, timestamp and nonce; another sender
    resp = await first.post(URL, params=query, data=forged.encode())
    assert resp.status == 403 and "replayed" in await resp.text()
    resp = await first.post(URL, params=query, data=body.encode())  # even the very same request
    assert resp.status == 403
    # Nothing is kept in the process: another one (here, a restarted one) on the database refuses it too.
    await first.close()
    other_process = await start(aiohttp_client, config)
    resp = await other_process.post(URL, params=query, data=forged.encode())
    assert resp.status == 403
    victim = await Subscriber.get(wechat_openid=VICTIM)
    assert victim.status == "active" and victim.opted_out_at is None
    assert await Message.filter(direction="in").count() == 1

    # A fresh nonce from WeChat is fine, and so is the same nonce with another (signed) timestamp.
    status, _ = await fake.post(other_process, URL, fake.text_xml(OPENID, "帮助"), "plain")
    assert status == 200
    ts = str(int(query["timestamp"]) - 1)
    again = {**query, "timestamp": ts, "signature": fake.signature(fake.token, ts, query["nonce"])}
    resp = await other_process.post(URL, params=again, data=fake.text_xml(OPENID, "帮助").encode())
    assert resp.status == 200


async def test_encrypted_requests_need_no_nonce_record(client: Any, fake: FakeWeChat) -> None:
    """Safe mode: msg_signature covers the ciphertext, so a replay is the same message, answered once."""
    xml = fake.text_xml(OPENID, "帮助")
    query, body = fake.envelope(xml, "safe")
    for _ in range(2):
        resp = await client.post(URL, params=query, data=body.encode())
        assert resp.status == 200
    assert await Message.filter(direction="in").count() == 1
    assert await SeenNonce.all().count() == 0


async def test_seen_pairs_are_pruned_once_too_old_to_pass(quick_app: web.Application) -> None:
    # The database alone: a running app prunes on its own at start, which would race this count.
    now = int(time.time())
    await SeenNonce.create(channel="wechat", timestamp=now - 400, nonce="1")
    await SeenNonce.create(channel="wechat", timestamp=now - 10, nonce="2")
    assert await wechat.prune_nonces(300) == 1
    assert await SeenNonce.all().values_list("nonce", flat=True) == ["2"]


async def test_a_request_answered_503_can_be_retried_with_its_nonce(aiohttp_client: Any, db_url: str,
                                                                    fake: FakeWeChat, fake_server: TestServer,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    client = await start(aiohttp_client, wechat_config(db_url, fake, fake_server, mode="plain"))
    query, body = fake.envelope(fake.text_xml(OPENID, "帮助"), "plain")

    async def down(*args: Any, **kwargs: Any) -> Any:
        raise inbox.InboxUnavailable("database away")

    with monkeypatch.context() as m:
        m.setattr(inbox, "process", down)
        resp = await client.post(URL, params=query, data=body.encode())
        assert resp.status == 503
    resp = await client.post(URL, params=query, data=body.encode())  # WeChat's retry
    assert resp.status == 200 and "订阅" in fake.open_reply(await resp.text())["Content"]
