"""Broadcasts that can be fixed: edit a pending one, copy a rejected one into a new draft, the approver
sees reach, channels, segments and cost (detail page, queue, 首页), an audience nobody matches is
refused at submit, and price placeholders are shown filled with each price's market."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from urllib.parse import unquote_plus
from zoneinfo import ZoneInfo

import pytest

from bot.keys import CONFIG
from bot.models import AuditEvent
from bot.prices import commodities, records
from bot.prices.models import Market
from broadcasts.models import Broadcast
from tests.broadcasts.test_console_broadcasts import TEXT, compose, created, villagers
from tests.helpers import Console

pytestmark = pytest.mark.db
TZ = ZoneInfo("Asia/Shanghai")


def shown(response: object) -> str:
    return unquote_plus(response.headers["Location"])  # type: ignore[attr-defined]


async def test_the_writer_edits_a_pending_broadcast_and_it_waits_for_approval_again(console: Console) -> None:
    await villagers()
    await console.login("officer")
    broadcast = await created(console, townships=["关防乡"])
    form = await (await console.client.get(f"/admin/broadcasts/{broadcast.id}/edit")).text()
    assert "修改群发" in form and TEXT in form and 'value="关防乡" checked' in form
    assert f'action="/admin/broadcasts/{broadcast.id}/edit"' in form

    response = await console.post_form(f"/admin/broadcasts/{broadcast.id}/edit", {
        "kind": "tip", "text": "明早有霜冻，柑橘园请盖膜。", "townships": ["上津镇"], "crops": ["柑橘"],
        "schedule": "daily", "daily_time": "07:30", "spread_minutes": "10"})
    assert response.status == 303 and "已保存修改（预计发给 1 人）" in shown(response)
    edited = await Broadcast.get(id=broadcast.id)
    assert (edited.state, edited.text, edited.schedule, edited.spread_minutes) == (
        "pending_approval", "明早有霜冻，柑橘园请盖膜。", {"daily": "07:30"}, 10)
    assert edited.audience == {"townships": ["上津镇"], "villages": [], "crops": ["柑橘"], "topics": [], "channels": [],
                               "subscriber_ids": []}
    page = await (await console.client.get(f"/admin/broadcasts/{broadcast.id}")).text()
    assert "处理记录" in page and "<td>修改</td><td>改后：明早有霜冻，柑橘园请盖膜。</td>" in page

    # A bad edit comes back with what was typed; the stored broadcast is unchanged.
    bad = await console.post_form(f"/admin/broadcasts/{broadcast.id}/edit", {
        "kind": "tip", "text": "用甲胺磷打一遍", "schedule": "now"})
    assert bad.status == 400 and "甲胺磷" in await bad.text()
    assert (await Broadcast.get(id=broadcast.id)).text == "明早有霜冻，柑橘园请盖膜。"

    # Once approved it can no longer be edited.
    await console.login("supervisor")
    assert (await console.post_form(f"/admin/broadcasts/{broadcast.id}/approve")).status == 303
    refused = await console.client.get(f"/admin/broadcasts/{broadcast.id}/edit")
    assert refused.status == 403 and "只有待审批的群发可以修改" in await refused.text()
    posted = await console.post_form(f"/admin/broadcasts/{broadcast.id}/edit", {"kind": "tip", "text": "改"})
    assert posted.status == 403 and (await Broadcast.get(id=broadcast.id)).text == "明早有霜冻，柑橘园请盖膜。"


async def test_only_the_writer_or_a_supervisor_edits(console: Console) -> None:
    await villagers()
    await console.login("supervisor")
    broadcast = await created(console)
    await console.login("officer")  # not the writer, not a supervisor
    refused = await console.client.get(f"/admin/broadcasts/{broadcast.id}/edit")
    assert refused.status == 403 and "只有提交人或审核员" in await refused.text()
    await console.login("admin")
    assert (await console.client.get(f"/admin/broadcasts/{broadcast.id}/edit")).status == 200


async def test_a_rejected_broadcast_is_copied_into_a_new_draft(console: Console) -> None:
    await villagers()
    await console.login("officer")
    broadcast = await created(console, townships=["关防乡"], schedule="weekly", weekly_days=["mon", "thu"],
                              weekly_time="08:00")
    await console.login("supervisor")
    await console.post_form(f"/admin/broadcasts/{broadcast.id}/reject", {"reason": "请写明盖膜的时间"})
    await console.login("officer")
    page = await (await console.client.get(f"/admin/broadcasts/{broadcast.id}")).text()
    assert f'href="/admin/broadcasts/new?copy={broadcast.id}"' in page and "复制成新群发" in page

    draft = await (await console.client.get(f"/admin/broadcasts/new?copy={broadcast.id}")).text()
    assert f"群发 #{broadcast.id} 的副本" in draft and "请写明盖膜的时间" in draft and TEXT in draft
    assert 'value="关防乡" checked' in draft and 'value="weekly" checked' in draft
    assert 'value="mon" checked' in draft and 'value="thu" checked' in draft
    assert f'name="copied_from" value="{broadcast.id}"' in draft
    assert await Broadcast.all().count() == 1  # nothing saved until the officer submits

    response = await compose(console, text="今晚 8 点前给柑橘园盖膜。", townships=["关防乡"], schedule="weekly",
                             weekly_days=["mon", "thu"], weekly_time="08:00", copied_from=str(broadcast.id))
    assert response.status == 303
    copy = await Broadcast.exclude(id=broadcast.id).get()
    assert copy.state == "pending_approval" and copy.schedule == {"weekly": {"days": ["mon", "thu"], "time": "08:00"}}
    assert (await Broadcast.get(id=broadcast.id)).state == "rejected"
    audit = await AuditEvent.filter(action="POST /admin/broadcasts").order_by("-id").first()
    assert audit is not None and f"（复制自群发 #{broadcast.id}）" in audit.detail
    assert (await console.client.get("/admin/broadcasts/new?copy=99999")).status == 404


async def test_an_audience_nobody_matches_is_refused_at_submit(console: Console) -> None:
    await villagers()
    await console.login("officer")
    response = await compose(console, townships=["关防乡"], crops=["茶叶"])
    body = await response.text()
    assert response.status == 400 and "现在没有一位接收中的农户能收到" in body and TEXT in body
    assert not await Broadcast.exists()
    # Recipients decided at each firing (days after registering): nobody today is no mistake.
    later = await compose(console, townships=["关防乡"], crops=["茶叶"], schedule="after_registration",
                          reg_days="1", reg_time="08:00")
    assert later.status == 303


async def test_the_approver_sees_reach_channels_segments_and_cost(console: Console) -> None:
    await villagers()
    await console.login("officer")
    broadcast = await created(console, text="霜" * 80)  # with the signature: 2 segments
    await console.login("supervisor")
    page = await (await console.client.get(f"/admin/broadcasts/{broadcast.id}")).text()
    assert re.search(r'id="cost-recipients">5<', page)
    assert "短信 4 人 · 微信 1 人" in page and "每条短信 2 条计费（含签名），共 8 条" in page
    cost = console.app[CONFIG].sms.cost_per_segment * 8
    assert f"短信费用约 ¥{cost:.2f}" in page
    queue = await (await console.client.get("/admin/broadcasts")).text()
    assert "目前 <b>5</b> 人：短信 4 人 · 微信 1 人" in queue and f"约 ¥{cost:.2f}" in queue
    home = await (await console.client.get("/admin/")).text()
    assert "待审批的群发（1 条）" in home and f'href="/admin/broadcasts/{broadcast.id}"' in home
    assert "5 人" in home and "去审批" in home


async def test_price_placeholders_are_shown_filled_with_their_market(console: Console) -> None:
    await villagers()
    await commodities.ensure_commodities()
    await Market.create(name="十堰农产品批发市场", kind="批发")
    today = datetime.now(TZ).date()
    report = await records.store([(2, {"date": (today - timedelta(days=1)).isoformat(), "market": "十堰农产品批发市场",
                                       "commodity": "柑橘", "price": 2.4, "unit": "元/斤"})], console.app[CONFIG])
    assert report.stored == 1
    await console.login("officer")
    preview = await console.api("POST", "/api/v1/broadcasts/preview", json={"text": "今日行情：{价格:水果}"})
    data = await preview.json()
    assert data["filled"] is True and "柑橘2.40（十堰农产品批发市场）" in data["text"]
    broadcast = await created(console, text="今日行情：{价格:水果}")
    await console.login("supervisor")
    page = await (await console.client.get(f"/admin/broadcasts/{broadcast.id}")).text()
    assert "按今天的价格，农户收到的是" in page and "今日行情：柑橘2.40（十堰农产品批发市场）" in page
    queue = await (await console.client.get("/admin/broadcasts")).text()
    assert "今日行情：柑橘2.40（十堰农产品批发市场）" in queue
