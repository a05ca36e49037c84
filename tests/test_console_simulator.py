"""模拟手机: the page, and POST /api/v1/simulate answering through the real inbound pipeline."""

from __future__ import annotations

from typing import Any

import pytest

from bot.keys import SEARCH
from bot.models import AuditEvent, Message, Question, Subscriber
from content import importer
from content.loader import BUNDLED, read_path
from content.render import MORE_HINT
from tests.helpers import Console

pytestmark = pytest.mark.db
REFS = ("maize-nitrogen-deficiency", "potato-late-blight", "potato-early-blight")


async def _articles(console: Console) -> None:
    await importer.upsert([a for a in read_path(BUNDLED).articles if a.ref in REFS])
    assert await console.app[SEARCH].refresh()


async def _simulate(console: Console, **body: Any) -> tuple[int, dict[str, Any]]:
    response = await console.api("POST", "/api/v1/simulate", json=body)
    return response.status, await response.json()


async def test_page_renders_the_phone(console: Console) -> None:
    await console.login("officer")
    response = await console.client.get("/admin/simulator")
    assert response.status == 200
    html = await response.text()
    for needle in ('id="sim-text"', 'id="sim-send"', 'class="phone"', 'class="screen"', "模拟的号码会作为一个测试农户保存",
                   'value="13800000000"', 'data-text="苞谷叶子发黄咋办"', 'data-text="帮助"', "simulator.js"):
        assert needle in html, needle
    assert "<script>" not in html  # the CSP allows no inline script
    script = await console.client.get("/admin/static/simulator.js")
    assert script.status == 200 and "/api/v1/simulate" in await script.text()


async def test_a_villager_question_gets_the_real_answer(console: Console) -> None:
    await _articles(console)
    [article] = [a for a in read_path(BUNDLED).articles if a.ref == "maize-nitrogen-deficiency"]
    await console.login("officer")
    status, data = await _simulate(console, phone="13800000000", channel="sms", text="苞谷叶子发黄咋办")
    assert status == 200, data
    assert data["handler"] == "search.answer_question" and data["answered"] is True
    assert data["reply"].startswith(article.summary[:20]) and MORE_HINT in data["reply"]
    # the real pipeline ran: a test villager and both sides of the conversation are in the log
    villager = await Subscriber.get(phone="+8613800000000")
    rows = await Message.filter(subscriber=villager).order_by("id").values("direction", "provider", "body")
    assert [(r["direction"], r["provider"]) for r in rows] == [("in", "simulator"), ("out", "simulator")]
    assert rows[1]["body"] == data["reply"]
    # "更多" continues the same article, as a villager's phone would
    status, more = await _simulate(console, phone="13800000000", channel="sms", text="更多")
    assert status == 200 and more["handler"] == "search.more" and more["reply"] != data["reply"]
    # and none of it counts as real traffic on the 首页
    stats = await (await console.api("GET", "/api/v1/stats")).json()
    assert stats["messages_today"] == {"in": 0, "out": 0}


async def test_help_and_wechat(console: Console) -> None:
    await console.login("officer")
    status, data = await _simulate(console, phone="138 0000 0000", channel="wechat", text="帮助")
    assert status == 200
    assert data["handler"] == "help.show_help" and data["answered"] is True
    assert "订阅 技术/价格/务工" in data["reply"]
    audit = await AuditEvent.get(action="POST /api/v1/simulate")
    assert audit.officer_name == console.officers["officer"].name and audit.detail == "wechat +86138****0000: 帮助"
    villager = await Subscriber.get(wechat_openid="simulator-8613800000000")
    assert villager.preferred_channel == "wechat" and villager.phone is None


async def test_unanswerable_question_is_handed_to_an_officer(console: Console) -> None:
    await _articles(console)
    headers = await console.token("officer")  # a bearer token works as well as the console session
    response = await console.client.post("/api/v1/simulate", headers=headers, json={
        "phone": "13800000001", "channel": "sms", "text": "核桃树干流黑水咋个治"})
    data = await response.json()
    assert response.status == 200, data
    assert data["answered"] is False and data["handed_to_officer"] is True
    assert await Question.filter(text="核桃树干流黑水咋个治", status="open").exists()


@pytest.mark.parametrize(("body", "words"), [
    ({"phone": "13800000000", "channel": "sms", "text": "  "}, "请输入"),
    ({"phone": "13800000000", "channel": "sms"}, "请输入"),
    ({"phone": "123", "channel": "sms", "text": "帮助"}, "手机号码"),
    ({"phone": 13800000000, "channel": "sms", "text": "帮助"}, "手机号码"),
    ({"phone": "13800000000", "channel": "qq", "text": "帮助"}, "渠道"),
    ({"phone": "13800000000", "channel": "sms", "text": "苞" * 501}, "最多 500"),
])
async def test_bad_input_is_refused_with_a_json_error(console: Console, body: dict[str, Any], words: str) -> None:
    await console.login("officer")
    status, data = await _simulate(console, **body)
    assert status == 400 and words in data["error"]
    assert not await Message.exists() and not await Subscriber.exists()


async def test_non_json_body_is_refused(console: Console) -> None:
    await console.login("officer")
    response = await console.api("POST", "/api/v1/simulate", data="帮助")
    assert response.status == 400 and "JSON" in (await response.json())["error"]
    response = await console.api("POST", "/api/v1/simulate", json=["帮助"])
    assert response.status == 400
