"""模拟手机: the page, and POST /api/v1/simulate answering through the real inbound pipeline as the
officer's own sandbox villager, never as a real one (issue 15, item 2)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest

from bot import consent, inbox, sandbox
from bot.keys import CONFIG, SEARCH
from bot.labour import push as job_push
from bot.labour.models import Job, WorkerProfile
from bot.messages import InboundMessage
from bot.models import AuditEvent, ConsentEvent, Message, Subscriber, pack_set
from bot.questions.models import Question
from broadcasts import pushes
from broadcasts.audience import Audience, matching
from broadcasts.models import Broadcast
from content import importer
from content.loader import BUNDLED, read_path
from content.render import MORE_HINT
from tests.helpers import Console

pytestmark = pytest.mark.db
REFS = ("maize-nitrogen-deficiency", "potato-late-blight", "potato-early-blight")
VILLAGER = "+8613900000001"


async def _articles(console: Console) -> None:
    await importer.upsert([a for a in read_path(BUNDLED).articles if a.ref in REFS])
    assert await console.app[SEARCH].refresh()


async def _simulate(console: Console, **body: Any) -> tuple[int, dict[str, Any]]:
    response = await console.api("POST", "/api/v1/simulate", json=body)
    return response.status, await response.json()


async def _as(console: Console, headers: dict[str, str], text: str) -> dict[str, Any]:
    response = await console.client.post("/api/v1/simulate", headers=headers, json={"text": text})
    data = await response.json()
    assert response.status == 200, data
    return data


async def _villager() -> Subscriber:
    """A real villager in 关防乡 growing 柑橘, subscribed to 价格, with their consent on record."""
    person = await Subscriber.create(phone=VILLAGER, name="李四", township="关防乡", village="东川村",
                                     crops=pack_set(["柑橘"]), topics=pack_set(["价格"]), consent_source="import:test")
    await consent.record(person, "opt_in", "sms", "import:test")
    return person


def _sandbox(console: Console, role: str = "officer") -> str:
    return sandbox.address_for(console.officers[role].id)


async def test_page_renders_the_phone_and_says_it_is_a_sandbox(console: Console) -> None:
    await console.login("officer")
    response = await console.client.get("/admin/simulator")
    assert response.status == 200
    html = await response.text()
    for needle in ('id="sim-text"', 'id="sim-send"', 'class="phone"', 'class="screen"', 'id="sim-channel"',
                   "这是测试用的沙盒", "不会以任何真实农户的身份发出", "不会改动真实农户的订阅或退订",
                   "不会收到群发和推送", "不计入首页统计和农户名单", _sandbox(console), 'id="sim-reset"',
                   'data-text="苞谷叶子发黄咋办"', 'data-text="帮助"', "simulator.js"):
        assert needle in html, needle
    assert 'id="sim-phone"' not in html and "测试手机号" not in html  # no way to pick a real number
    assert "<script>" not in html  # the CSP allows no inline script
    script = await console.client.get("/admin/static/simulator.js")
    text = await script.text()
    assert script.status == 200 and "/api/v1/simulate" in text and "phone" not in text


async def test_simulate_td_with_a_real_villagers_phone_leaves_them_subscribed(console: Console) -> None:
    """The red-team case: {"phone": <a real villager>, "text": "TD"} opted that villager out."""
    person = await _villager()
    before = await ConsentEvent.filter(subscriber=person).values_list("id", "action", "source")
    await console.login("officer")
    for phone in ("13900000001", VILLAGER, "139 0000 0001"):
        status, data = await _simulate(console, phone=phone, channel="sms", text="TD")
        assert status == 400 and "沙盒" in data["error"], data
    # without a phone the officer's own sandbox villager opts out, and back in: nobody else
    status, data = await _simulate(console, channel="sms", text="TD")
    assert status == 200 and data["handler"] == "optout.opt_out" and data["sandbox"]["status"] == "opted_out"
    status, data = await _simulate(console, channel="sms", text="订阅")
    assert status == 200 and data["sandbox"]["status"] == "active"
    await person.refresh_from_db()
    assert person.status == "active" and person.opted_out_at is None and person.consent_source == "import:test"
    assert await ConsentEvent.filter(subscriber=person).values_list("id", "action", "source") == before
    assert not await Message.filter(address=VILLAGER).exists()
    assert not await Message.filter(subscriber=person).exists()
    # the sandbox's own consent changes are not in the consent log either: no villager did them
    box = await Subscriber.get(wechat_openid=_sandbox(console))
    assert box.phone is None and not box.wechat_followed and box.consent_source == sandbox.CONSENT_SOURCE
    assert not await ConsentEvent.filter(subscriber=box).exists()
    assert await ConsentEvent.all().count() == len(before)


async def test_the_inbox_lets_the_simulator_act_only_as_a_sandbox_villager(console: Console) -> None:
    """Below the API as well: provider "simulator" with a real number, or another provider with a
    sandbox address, is refused before any row is touched."""
    person = await _villager()
    events = await ConsentEvent.all().count()
    for provider, address in (("simulator", VILLAGER), ("simulator", "13900000001"), ("chat", "sim:1"),
                              ("wechat", "sim:1")):
        for channel in ("sms", "wechat"):
            outcome = await inbox.process(console.app, InboundMessage(
                channel=channel, provider=provider, address=address, text="TD", provider_id=f"x-{provider}-{channel}"))
            assert outcome.reply is not None and outcome.reply.text == inbox.BAD_NUMBER
    await person.refresh_from_db()
    assert person.status == "active" and await ConsentEvent.all().count() == events
    assert not await Message.exists() and await Subscriber.all().count() == 1


async def test_a_villager_question_gets_the_real_answer(console: Console) -> None:
    await _articles(console)
    [article] = [a for a in read_path(BUNDLED).articles if a.ref == "maize-nitrogen-deficiency"]
    await console.login("officer")
    status, data = await _simulate(console, channel="sms", text="苞谷叶子发黄咋办")
    assert status == 200, data
    assert data["handler"] == "search.answer_question" and data["answered"] is True
    assert data["reply"].startswith(article.summary[:20]) and MORE_HINT in data["reply"]
    assert data["sandbox"] == {"address": _sandbox(console), "status": "active"}
    # the real pipeline ran: the sandbox villager and both sides of the conversation are in the log
    box = await Subscriber.get(wechat_openid=_sandbox(console))
    rows = await Message.filter(subscriber=box).order_by("id").values("direction", "provider", "address", "body")
    assert [(r["direction"], r["provider"], r["address"]) for r in rows] == [
        ("in", "simulator", _sandbox(console)), ("out", "simulator", _sandbox(console))]
    assert rows[1]["body"] == data["reply"]
    # "更多" continues the same article, as a villager's phone would
    status, more = await _simulate(console, channel="sms", text="更多")
    assert status == 200 and more["handler"] == "search.more" and more["reply"] != data["reply"]
    # and none of it counts as real traffic on the 首页
    stats = await (await console.api("GET", "/api/v1/stats")).json()
    assert stats["messages_today"] == {"in": 0, "out": 0}


async def test_help_and_wechat(console: Console) -> None:
    await console.login("officer")
    status, data = await _simulate(console, channel="wechat", text="帮助")
    assert status == 200
    assert data["handler"] == "help.show_help" and data["answered"] is True
    assert "订阅 技术/价格/务工" in data["reply"]
    audit = await AuditEvent.get(action="POST /api/v1/simulate")
    assert audit.officer_name == console.officers["officer"].name
    assert audit.detail == f"wechat 沙盒 {_sandbox(console)}: 帮助"
    [box] = await Subscriber.all()
    assert box.wechat_openid == _sandbox(console) and box.phone is None and box.preferred_channel == "wechat"
    # the same sandbox villager on either channel
    status, data = await _simulate(console, channel="sms", text="帮助")
    assert status == 200 and await Subscriber.all().count() == 1


async def test_two_officers_sandboxes_do_not_share_dialog(console: Console) -> None:
    await _articles(console)
    officer, supervisor = await console.token("officer"), await console.token("supervisor")
    first = await _as(console, officer, "苞谷叶子发黄咋办")
    assert first["handler"] == "search.answer_question" and MORE_HINT in first["reply"]
    # the other officer's "更多" has nothing to continue: it is not the first officer's conversation
    other = await _as(console, supervisor, "更多")
    assert other["reply"].startswith("没有可以接着看的内容")
    more = await _as(console, officer, "更多")
    assert more["handler"] == "search.more" and more["reply"] not in (first["reply"], other["reply"])
    # two rows, each with its own dialog and messages
    a = await Subscriber.get(wechat_openid=_sandbox(console, "officer"))
    b = await Subscriber.get(wechat_openid=_sandbox(console, "supervisor"))
    assert a.id != b.id and a.dialog != b.dialog
    assert await Message.filter(subscriber=a).count() == 4 and await Message.filter(subscriber=b).count() == 2
    # registering in one sandbox does not register the other
    await _as(console, supervisor, "登记 张三 关防乡 东川村")
    await a.refresh_from_db()
    await b.refresh_from_db()
    assert b.name == "张三" and a.name == "" and a.township == ""


async def test_sandbox_rows_are_absent_from_dashboard_audiences_and_subscriber_api(console: Console) -> None:
    await _articles(console)
    person = await _villager()
    headers = await console.token("officer")
    # the sandbox villager looks exactly like the real one: same township, village, crop and topic
    await _as(console, headers, "登记 张三 关防乡 东川村")
    await _as(console, headers, "订阅 价格 柑橘")
    handed = await _as(console, headers, "核桃树干流黑水咋个治")
    assert handed["handed_to_officer"] is True
    box = await Subscriber.get(wechat_openid=_sandbox(console))
    assert (box.name, box.township, box.village, box.status) == ("张三", "关防乡", "东川村", "active")
    assert "柑橘" in box.crop_list and "价格" in box.topic_list

    # 首页
    stats = await (await console.client.get("/api/v1/stats", headers=headers)).json()
    assert stats["subscribers"]["active"] == 1 and stats["subscribers"]["opted_out"] == 0
    assert stats["subscribers"]["by_township"] == [{"township": "关防乡", "sms": 1, "wechat": 0, "total": 1}]
    assert stats["open_questions"] == 0 and stats["topics"]["handed_to_officers"] == 0
    assert stats["messages_today"] == {"in": 0, "out": 0}
    # what villagers ask that the knowledge base lacks: the villager's question, not the officer's test
    asked = await Question.create(subscriber=person, channel="sms", text="核桃树干流黑水咋个治", reason="no_match")
    gaps = await (await console.client.get("/api/v1/questions/gaps", headers=headers)).json()
    assert [g["question_ids"] for g in gaps["groups"]] == [[asked.id]]
    await asked.delete()

    # broadcast audiences, previews and system pushes
    for audience in (Audience(), Audience(townships=("关防乡",), crops=("柑橘",)), Audience(topics=("价格",)),
                     Audience(subscriber_ids=(box.id, person.id)), Audience(channels=("wechat",))):
        ids = await matching(audience).values_list("id", flat=True)
        assert box.id not in ids
    preview = await console.client.post("/api/v1/broadcasts/preview", headers=headers, json={
        "text": "柑橘价格上涨", "audience": {"townships": ["关防乡"], "crops": ["柑橘"]}})
    assert (await preview.json())["recipients"] == 1
    assert await pushes.push("price_alert", "价格提醒", [box.id]) is None
    pushed = await pushes.push("price_alert", "价格提醒", [box.id, person.id])
    assert pushed is not None and pushed.audience == {"subscriber_ids": [person.id]}

    # 农户 lists, search, export and profile
    listed = await (await console.client.get("/api/v1/subscribers", headers=headers)).json()
    assert listed["total"] == 1 and [s["id"] for s in listed["subscribers"]] == [person.id]
    for query in ("q=张三", "township=关防乡", "crop=柑橘", "channel=sms", "channel=wechat", "status=active"):
        found = await (await console.client.get(f"/api/v1/subscribers?{query}", headers=headers)).json()
        assert box.id not in [s["id"] for s in found["subscribers"]], query
    await console.login("admin")
    page = await console.client.get("/admin/subscribers?q=张三")
    assert f"/admin/subscribers/{box.id}\"" not in await page.text()
    export = await (await console.client.get("/admin/subscribers/export.csv")).text()
    assert "张三" not in export and "李四" in export and "sim:" not in export
    assert (await console.client.get(f"/admin/subscribers/{box.id}")).status == 404
    assert await Broadcast.all().count() == 1  # only the push with the real villager


async def test_a_reply_to_a_sandbox_question_is_never_sent(console: Console) -> None:
    await _articles(console)
    await console.login("officer")
    status, data = await _simulate(console, channel="wechat", text="核桃树干流黑水咋个治")
    assert status == 200 and data["answered"] is False and data["handed_to_officer"] is True
    question = await Question.get(text="核桃树干流黑水咋个治", status="open")
    page = await (await console.client.get("/admin/questions")).text()
    assert "模拟手机（沙盒）" in page
    api = await (await console.api("GET", f"/api/v1/questions/{question.id}")).json()
    assert api["sandbox"] is True
    response = await console.api("POST", f"/api/v1/questions/{question.id}/reply", json={"text": "请拍照发来看看。"})
    assert response.status == 409 and "沙盒" in (await response.json())["error"]
    assert not await Message.filter(handler="console.reply").exists()
    await question.refresh_from_db()
    assert question.status == "open"


async def test_reset_starts_the_sandbox_afresh(console: Console) -> None:
    person = await _villager()
    await console.login("officer")
    await _simulate(console, channel="sms", text="登记 张三 关防乡 东川村")
    await _simulate(console, channel="sms", text="TD")
    response = await console.api("POST", "/api/v1/simulate/reset")
    data = await response.json()
    assert response.status == 200 and data == {"sandbox": {"address": _sandbox(console), "status": "active"}}
    box = await Subscriber.get(wechat_openid=_sandbox(console))
    assert (box.name, box.township, box.status, box.dialog) == ("", "", "active", {})
    await person.refresh_from_db()
    assert person.name == "李四" and person.status == "active"
    assert await AuditEvent.filter(action="POST /api/v1/simulate/reset").exists()


async def test_unanswerable_question_is_handed_to_an_officer(console: Console) -> None:
    await _articles(console)
    headers = await console.token("officer")  # a bearer token works as well as the console session
    response = await console.client.post("/api/v1/simulate", headers=headers, json={
        "channel": "sms", "text": "核桃树干流黑水咋个治"})
    data = await response.json()
    assert response.status == 200, data
    assert data["answered"] is False and data["handed_to_officer"] is True
    assert await Question.filter(text="核桃树干流黑水咋个治", status="open").exists()


@pytest.mark.parametrize(("body", "words"), [
    ({"channel": "sms", "text": "  "}, "请输入"),
    ({"channel": "sms"}, "请输入"),
    ({"channel": "sms", "text": 5}, "应是文字"),
    ({"phone": "13800000000", "channel": "sms", "text": "帮助"}, "沙盒"),
    ({"phone": 13800000000, "channel": "sms", "text": "帮助"}, "沙盒"),
    ({"channel": "sms", "text": "帮助", "address": "sim:2"}, "不认识的字段"),
    ({"channel": "qq", "text": "帮助"}, "渠道"),
    ({"channel": "sms", "text": "苞" * 501}, "最多 500"),
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


async def test_openapi_describes_the_sandbox(console: Console) -> None:
    spec = await (await console.client.get("/api/v1/openapi.json")).json()
    simulate = spec["paths"]["/api/v1/simulate"]["post"]
    reset = spec["paths"]["/api/v1/simulate/reset"]["post"]
    assert simulate["x-required-role"] == reset["x-required-role"] == "officer"
    assert "sandbox" in simulate["summary"] and '"phone"' not in simulate["description"]
    assert 'Body: {"channel"' in simulate["description"] and "sim:<officer id>" in simulate["description"]
    assert "sandbox" in reset["summary"]
    body = simulate["requestBody"]["content"]["application/json"]["schema"]
    assert set(body["properties"]) == {"channel", "text"} and body["properties"]["channel"]["enum"] == ["sms", "wechat"]


async def test_sandbox_workers_get_no_job_push(console: Console) -> None:
    """A sandbox villager registered for 务工 with the same skills as a real worker is not pushed to."""
    box = await sandbox.identity(console.officers["officer"].id, "sms")
    real = await Subscriber.create(phone=VILLAGER, topics=pack_set(["务工"]))
    await Subscriber.filter(id=box.id).update(topics=pack_set(["务工"]))
    for person in (box, real):
        await WorkerProfile.create(subscriber=person, skills=pack_set(["电工"]))
    config = console.app[CONFIG]
    today = datetime.now(config.tz).date()
    job = await Job.create(employer="十堰电力", work_type="电工", place="十堰市", wage="200元/天", contact="0719-1234567",
                           expires_on=today + timedelta(days=10), verified_by="县人社局")
    assert await job_push.push_jobs(config, [job.id]) == 1
    pushed = await Broadcast.get(kind="labour")
    assert pushed.audience == {"subscriber_ids": [real.id]}
