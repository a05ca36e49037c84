"""供求 through the real webhooks and the real delivery engine: a seller texts over Twilio (signed
webhook, TwiML reply), a buyer over WeChat (signed, encrypted webhook); the proposals, and the phones
after both agree, reach the fake Twilio and the fake WeChat API through the scheduler and dispatcher."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from bot.app import create_app
from bot.keys import SENDERS
from bot.models import Subscriber
from bot.trade import jobs
from bot.trade.models import TradeMatch
from tests.conftest import make_config
from tests.fakes.twilio import FROM_NUMBER, FakeTwilio
from tests.fakes.wechat import FakeWeChat

pytestmark = pytest.mark.db
PUBLIC = "https://nongbot.example.org"
SELLER = "+8613800138000"
BUYER = "oBuyer0002"


async def until(found: Callable[[], bool], seconds: float = 15.0) -> None:
    deadline = asyncio.get_running_loop().time() + seconds
    while not found():
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail("not delivered in time")
        await asyncio.sleep(0.1)


async def test_sms_seller_and_wechat_buyer_through_the_webhooks(aiohttp_client: Any, aiohttp_server: Any,
                                                                 db_url: str) -> None:
    twilio, wechat = FakeTwilio(hang_seconds=1.5), FakeWeChat(hang_seconds=1.5)
    twilio_server, wechat_server = await aiohttp_server(twilio.app()), await aiohttp_server(wechat.app())
    config = make_config(
        db_url, server={"public_url": PUBLIC}, sms={"provider": "twilio"},
        twilio={"account_sid": twilio.account_sid, "auth_token": twilio.auth_token, "from_number": FROM_NUMBER,
                "api_base": str(twilio_server.make_url("")).rstrip("/"), "timeout": 1.0},
        wechat={"enabled": True, "app_id": wechat.app_id, "app_secret": wechat.app_secret, "token": wechat.token,
                "encoding_aes_key": wechat.aes_key, "mode": "safe", "timeout": 1.0,
                "api_base": str(wechat_server.make_url("")).rstrip("/"), "template_notice": "TPL_NOTICE"},
        broadcasts={"poll_seconds": 0.1})
    client: TestClient[Any, Any] = await aiohttp_client(create_app(config))  # role "all": the engine runs
    client.app[SENDERS]["wechat"].tokens.cooldown = 0.05
    await Subscriber.create(phone=SELLER, name="张三", township="关防乡")

    async def sms(text: str) -> str:
        params = twilio.inbound_params(SELLER, text)
        response = await client.post("/webhooks/twilio/sms", data=params, headers={
            "X-Twilio-Signature": twilio.sign(PUBLIC + "/webhooks/twilio/sms", params)})
        assert response.status == 200
        return await response.text()

    async def wechat_text(text: str) -> str:
        status, body = await wechat.post(client, "/webhooks/wechat", wechat.text_xml(BUYER, text))
        assert status == 200, body
        return str(wechat.open_reply(body)["Content"])

    assert "已登记供求1号" in await sms("卖 柑橘 2000斤 2.5元")
    assert "哪个乡镇" in await wechat_text("收 柑橘 500斤 2.6元")
    assert "手机号" in await wechat_text("关防乡")
    assert "已登记供求1号" in await wechat_text("13900139000")

    def to_seller() -> list[str]:
        return [m["body"] for m in twilio.messages.values() if m["to"] == SELLER]

    def to_buyer() -> list[str]:
        return [m["text"]["content"] for m in wechat.custom if m["touser"] == BUYER]

    await jobs.upkeep(client.app)
    match = await TradeMatch.get()
    await until(lambda: any("有人收柑橘500斤" in t for t in to_seller()) and any("有人卖柑橘2000斤" in t for t in to_buyer()))
    assert not any("139" in t for t in to_seller()) and not any("138" in t for t in to_buyer())

    assert "对方也同意后" in await sms(f"同意 {match.id}")
    answer = await wechat_text(f"同意 {match.id}")
    assert "对方电话13800138000" in answer and "先验货后付款" in answer
    await until(lambda: any("对方电话13900139000" in t for t in to_seller()))
