"""An officer acts for one villager: edit their details, opt them out with a reason, send them one
message through the delivery engine, and see every push on their profile; crop names normalised."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_plus

import pytest

from bot.app import create_app
from bot.keys import CONFIG
from bot.models import TOPICS, AuditEvent, ConsentEvent, Officer, Subscriber, pack_set
from bot.villagers import roster
from broadcasts import dispatcher, pushes, service
from broadcasts.models import Broadcast, Delivery
from tests.conftest import make_config
from tests.helpers import OFFICER_NAMES, Console

pytestmark = pytest.mark.db


def where(response: Any) -> str:
    """Where a form sent the browser, with its message readable."""
    return unquote_plus(response.headers["Location"])


async def _wang(**fields: object) -> Subscriber:
    values = {"phone": "+8613800138000", "name": "王大山", "township": "关防乡", "village": "花果村",
              "crops": pack_set(["柑橘"]), "topics": pack_set(["技术"]), "consent_source": "demo", **fields}
    return await Subscriber.create(**values)


async def test_an_officer_edits_a_villager_and_crops_get_their_standard_names(console: Console) -> None:
    wang = await _wang()
    await console.login("officer")
    form = await (await console.client.get(f"/admin/subscribers/{wang.id}/edit")).text()
    assert 'value="王大山"' in form and 'value="柑橘"' in form and "修改资料" in form

    response = await console.post_form(f"/admin/subscribers/{wang.id}/edit", {
        "name": "王大山", "township": "太平镇", "village": "石门村", "crops": "洋芋、苞谷，柑橘 魔芋",
        "topics": ["价格", "务工"], "channel": "sms"})
    assert response.status == 303 and "已保存" in where(response)
    wang = await Subscriber.get(id=wang.id)
    assert (wang.township, wang.village) == ("太平镇", "石门村")
    assert wang.crop_list == sorted(["马铃薯", "玉米", "柑橘", "魔芋"]) and wang.topic_list == ["价格", "务工"]
    audit = await AuditEvent.filter(action__contains="/edit").get()
    assert audit.officer_name == OFFICER_NAMES["officer"] and audit.detail == "改了乡镇、村、作物、订阅主题"

    # No WeChat bound: the channel cannot become WeChat; the form comes back with what was typed.
    refused = await console.post_form(f"/admin/subscribers/{wang.id}/edit", {
        "name": "王大", "crops": "柑橘", "channel": "wechat"})
    text = await refused.text()
    assert refused.status == 400 and "没有绑定微信" in text and 'value="王大"' in text
    assert (await Subscriber.get(id=wang.id)).name == "王大山"
    refused = await console.post_form(f"/admin/subscribers/{wang.id}/edit", {"name": "王" * 51})
    assert refused.status == 400 and "没有保存" in await refused.text()
    unchanged = await console.post_form(f"/admin/subscribers/{wang.id}/edit", {
        "name": "王大山", "township": "太平镇", "village": "石门村", "crops": "马铃薯 玉米 柑橘 魔芋",
        "topics": ["价格", "务工"], "channel": "sms"})
    assert "资料没有变化" in where(unchanged)
    assert (await console.client.get("/admin/subscribers/999999/edit")).status == 404


async def test_an_officer_opts_a_villager_out_with_a_reason_on_the_consent_log(console: Console) -> None:
    wang = await _wang()
    await console.login("officer")
    missing = await console.post_form(f"/admin/subscribers/{wang.id}/opt-out", {"reason": "  "})
    assert missing.status == 400 and "写明原因" in await missing.text()
    assert (await Subscriber.get(id=wang.id)).status == "active"

    done = await console.post_form(f"/admin/subscribers/{wang.id}/opt-out", {"reason": "本人来电要求退订"})
    assert "已代为退订" in where(done)
    wang = await Subscriber.get(id=wang.id)
    assert wang.status == "opted_out" and wang.opted_out_at is not None
    event = await ConsentEvent.get(subscriber_id=wang.id)
    assert (event.action, event.source, event.text) == (
        "opt_out", f"officer:{OFFICER_NAMES['officer']}", "本人来电要求退订")
    audit = await AuditEvent.filter(action__contains="/opt-out").get()
    assert "本人来电要求退订" in audit.detail
    page = await (await console.client.get(f"/admin/subscribers/{wang.id}")).text()
    assert f"农技员代为办理（{OFFICER_NAMES['officer']}）" in page and "本人来电要求退订" in page
    assert "代为退订</button>" not in page and "给他发一条消息" not in page
    again = await console.post_form(f"/admin/subscribers/{wang.id}/opt-out", {"reason": "再退一次"})
    assert again.status == 400 and "已经退订了" in await again.text()
    # Opted out: no message goes to them either.
    refused = await console.post_form(f"/admin/subscribers/{wang.id}/message", {"text": "明天开会"})
    assert refused.status == 400 and "已经退订" in await refused.text()
    assert not await Broadcast.exists()


async def test_a_message_to_one_villager_goes_through_the_engine_and_shows_on_the_profile(console: Console) -> None:
    wang = await _wang()
    await console.login("officer")
    refused = await console.post_form(f"/admin/subscribers/{wang.id}/message", {"text": "用甲胺磷打一遍"})
    body = await refused.text()
    assert refused.status == 400 and "甲胺磷" in body and "不能推荐" in body and "用甲胺磷打一遍</textarea>" in body
    assert (await console.post_form(f"/admin/subscribers/{wang.id}/message", {"text": " "})).status == 400

    sent = await console.post_form(f"/admin/subscribers/{wang.id}/message", {"text": "王大哥，明早九点村委会领种子。"})
    assert sent.status == 303 and "已交给发送队列" in where(sent)
    broadcast = await Broadcast.get()
    assert broadcast.state == "scheduled" and broadcast.audience == {"subscriber_ids": [wang.id]}
    assert broadcast.created_by_id == console.officers["officer"].id and broadcast.kind == "notice"
    run = await service.fire(broadcast.id, datetime.now(UTC), console.app[CONFIG])
    assert run is not None and run.targeted == 1
    await dispatcher.Dispatcher(console.app).tick()
    delivery = await Delivery.get(run_id=run.id)
    assert delivery.state == "sent" and delivery.subscriber_id == wang.id

    # A price alert pushed by the system shows too, with its kind, and links to its broadcast.
    alert = await pushes.push("price", "柑橘 今天 2.40 元/斤，涨了 0.30", [wang.id])
    assert alert is not None
    await service.fire(alert.id, datetime.now(UTC), console.app[CONFIG])
    page = await (await console.client.get(f"/admin/subscribers/{wang.id}")).text()
    assert "推送·通知" in page and "明早九点村委会领种子" in page and "已发送" in page
    assert "推送·市场价格" in page and "柑橘 今天 2.40" in page and "排队中" in page
    assert f'href="/admin/broadcasts/{alert.id}"' in page
    audit = await AuditEvent.filter(action__contains="/message").get()
    assert audit.detail == f"群发 #{broadcast.id}：王大哥，明早九点村委会领种子。"


async def test_a_message_in_quiet_hours_waits_and_says_so(aiohttp_client: Any, db_url: str,
                                                          officer_password_hash: str) -> None:
    config = make_config(db_url, sms={"quiet_hours": "00:00-23:59"})
    client = await aiohttp_client(create_app(config, role="web"))
    officers = {role: await Officer.create(name=name, role=role, password_hash=officer_password_hash)
                for role, name in OFFICER_NAMES.items()}
    console = Console(client, officers)
    wang = await _wang()
    await console.login("officer")
    sent = await console.post_form(f"/admin/subscribers/{wang.id}/message", {"text": "明早开会"})
    assert "夜间免打扰" in where(sent) and "23:59 以后发出" in where(sent)
    run = await service.fire((await Broadcast.get()).id, datetime.now(UTC), config)
    await dispatcher.Dispatcher(console.app).tick()
    assert run is not None and (await Delivery.get(run_id=run.id)).state == "queued"  # held till morning


async def test_the_import_stores_standard_crop_names_and_reads_the_topic_header(console: Console) -> None:
    data = ("手机号,姓名,作物,订阅主题\n"
            "13800138001,张三,洋芋;苞谷,价格;务工\n"
            "13800138002,李四,柑橘,农闲\n"
            "13800138003,王五,红苕,技术\n").encode()
    report = await roster.import_bytes(data)
    assert report.created == 2
    assert [(p.line, p.chinese) for p in report.problems] == [(3, f"主题只能是{'、'.join(TOPICS)}，这一行写了“农闲”")]
    zhang = await Subscriber.get(phone="+8613800138001")
    assert zhang.crop_list == ["玉米", "马铃薯"] and zhang.topic_list == ["价格", "务工"]
    assert (await Subscriber.get(phone="+8613800138003")).crop_list == ["甘薯"]
    await console.login("officer")
    # Targeting 马铃薯 finds the man who wrote 洋芋.
    page = await (await console.client.get("/admin/subscribers?crop=马铃薯")).text()
    assert "张三" in page
    # The API adds one person the same way.
    added = await console.api("POST", "/api/v1/subscribers", json={"phone": "13800138009", "crops": ["土豆"]})
    assert added.status == 201 and (await added.json())["crops"] == ["马铃薯"]
