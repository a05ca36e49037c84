"""Broadcast console pages: compose with a live preview, the approval queue and its role rules,
pause/resume/cancel by form, and a broadcast's page with its runs and delivery counts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from bot.keys import CONFIG
from bot.models import Subscriber, pack_set
from broadcasts import dispatcher, service
from broadcasts.models import Broadcast, BroadcastRun, Delivery
from tests.helpers import OFFICER_NAMES, Console

pytestmark = pytest.mark.db
TZ = ZoneInfo("Asia/Shanghai")
TEXT = "明早有霜冻，柑橘园请覆盖。"


async def villagers() -> list[Subscriber]:
    """Six villagers: four reachable by SMS, one by WeChat only, one who opted out."""
    rows = [
        ("+8613900000001", None, "关防乡", "关防村", ["柑橘"], ["技术", "价格"]),
        ("+8613900000002", None, "关防乡", "白岩村", ["玉米"], ["技术"]),
        ("+8613900000003", None, "上津镇", "津北村", ["柑橘", "茶叶"], ["价格"]),
        ("+8613900000004", None, "上津镇", "津北村", ["玉米"], ["务工"]),
        (None, "wx-openid-5", "关防乡", "关防村", ["柑橘"], ["技术"]),
    ]
    out = []
    for phone, openid, town, village, crops, topics in rows:
        out.append(await Subscriber.create(
            phone=phone, wechat_openid=openid, wechat_followed=openid is not None, township=town, village=village,
            crops=pack_set(crops), topics=pack_set(topics), preferred_channel="wechat" if openid else "sms"))
    out.append(await Subscriber.create(phone="+8613900000006", township="关防乡", crops=pack_set(["柑橘"]),
                                       status="opted_out"))
    return out


async def compose(console: Console, **changes: Any) -> Any:
    form: dict[str, Any] = {"kind": "tip", "text": TEXT, "schedule": "now", "spread_minutes": "0", **changes}
    return await console.post_form("/admin/broadcasts", form)


async def created(console: Console, **changes: Any) -> Broadcast:
    return await created_from(await compose(console, **changes))


async def created_from(response: Any) -> Broadcast:
    assert response.status == 303, await response.text()
    found = re.fullmatch(r"/admin/broadcasts/(\d+)\?ok=.*", response.headers["Location"])
    assert found is not None, response.headers["Location"]
    return await Broadcast.get(id=int(found.group(1)))


async def follow(console: Console, response: Any) -> str:
    assert response.status == 303, await response.text()
    page = await console.client.get(response.headers["Location"])
    assert page.status == 200
    return await page.text()


async def test_compose_page_offers_what_subscribers_have(console: Console) -> None:
    await villagers()
    await console.login("officer")
    page = await console.client.get("/admin/broadcasts/new")
    html = await page.text()
    assert page.status == 200
    for word in ("新建群发", "发给谁", "关防乡", "上津镇", "津北村", "茶叶", "柑橘", "务工", "提交审批", "立即发送（审批后）",
                 "按农时", 'name="cal_town" value="上津镇"', "broadcasts.js"):
        assert word in html, word
    assert "<script>" not in html.replace('<script src=', '')  # the CSP forbids inline code


async def test_compose_form_creates_a_broadcast_waiting_for_approval(console: Console) -> None:
    await villagers()
    await console.login("officer")
    response = await compose(console, townships=["关防乡", "上津镇"], crops="柑橘", channels="sms", schedule="weekly",
                             weekly_days=["thu", "mon"], weekly_time="07:30", spread_minutes="30", kind="notice")
    broadcast = await created_from(response)
    assert broadcast.state == "pending_approval" and broadcast.kind == "notice" and broadcast.text == TEXT
    assert broadcast.audience["townships"] == ["关防乡", "上津镇"]
    assert broadcast.audience["crops"] == ["柑橘"] and broadcast.audience["channels"] == ["sms"]
    assert broadcast.schedule == {"weekly": {"days": ["mon", "thu"], "time": "07:30"}}
    assert broadcast.spread_minutes == 30 and broadcast.created_by_id == console.officers["officer"].id
    assert "已提交审批（预计发给 2 人）" in await follow(console, response)
    page = await (await console.client.get(f"/admin/broadcasts/{broadcast.id}")).text()
    assert "待审批" in page and "每周（周一、周四）07:30" in page and "乡镇：关防乡、上津镇" in page
    assert "等待审核员审批" in page and "/approve" not in page  # an officer sees no approve button


def _in_county(delta: timedelta) -> str:
    return f"{datetime.now(TZ) + delta:%Y-%m-%dT%H:%M}"


@pytest.mark.parametrize(("fields", "expected"), [
    ({"schedule": "now"}, None),
    ({"schedule": "daily", "daily_time": "06:05"}, {"daily": "06:05"}),
    ({"schedule": "monthly", "monthly_day": "15", "monthly_time": "09:00"}, {"monthly": {"day": 15, "time": "09:00"}}),
    ({"schedule": "after_registration", "reg_days": "2", "reg_time": "10:00"},
     {"after_registration": {"days": 2, "time": "10:00"}}),
    ({"schedule": "cron", "cron": "  0 8  * * 1 "}, {"cron": "0 8 * * 1"}),
    ({"schedule": "calendar", "cal_town": ["关防乡", "上津镇"], "cal_date": ["2099-04-10", ""], "cal_before": "3",
      "cal_time": "08:00"}, {"calendar": {"dates": {"关防乡": "2099-04-10"}, "offset_days": -3, "time": "08:00"}}),
])
async def test_each_schedule_form_becomes_its_schedule(console: Console, fields: dict[str, Any],
                                                       expected: dict[str, Any] | None) -> None:
    await villagers()  # someone to send to: an audience nobody matches is refused
    await console.login("officer")
    broadcast = await created(console, **fields)
    assert broadcast.schedule == expected


async def test_a_chosen_time_is_in_the_county_time_zone(console: Console) -> None:
    await villagers()  # someone to send to: an audience nobody matches is refused
    await console.login("officer")
    local = _in_county(timedelta(days=2))
    broadcast = await created(console, schedule="at", at=local)
    when = datetime.fromisoformat(broadcast.schedule["at"])
    assert when.utcoffset() == timedelta(hours=8) and f"{when:%Y-%m-%dT%H:%M}" == local


@pytest.mark.parametrize(("fields", "message"), [
    ({"text": "   "}, "请填写群发内容"),
    ({"text": "字" * 1001}, "最多 1000 个字"),
    ({"kind": "gossip"}, "请选择群发类型"),
    ({"schedule": "cron", "cron": "0 8 * *"}, "cron 定时规则写法不对"),
    ({"schedule": "at", "at": ""}, "请选择发送的日期和时间"),
    ({"schedule": "weekly", "weekly_time": "08:00"}, "请勾选每周哪几天发送"),
    ({"schedule": "daily", "daily_time": "25:00"}, "请填写发送时刻"),
    ({"schedule": "calendar", "cal_town": "关防乡", "cal_date": "2001-04-10", "cal_before": "0", "cal_time": "08:00"},
     "都已经过去"),
    ({"spread_minutes": "2000"}, "分散发送时长"),
    ({"channels": "fax"}, "收件人条件不对"),
    ({"text": "茶园有螨虫，可以用克百威灌根。"}, "「克百威」国家已禁用"),
    ({"text": "茶园有小绿叶蝉，用氰戊菊酯喷雾。"}, "「氰戊菊酯」是限用农药，不得用于茶"),
])
async def test_bad_input_is_refused_in_chinese_and_kept(console: Console, fields: dict[str, Any], message: str) -> None:
    await villagers()
    await console.login("officer")
    response = await compose(console, townships="上津镇", crops="茶叶", **fields)
    html = await response.text()
    assert response.status == 400 and message in html
    assert re.search(r'value="上津镇" checked', html) and re.search(r'value="茶叶" checked', html)
    if fields.get("text", TEXT).strip() == TEXT:
        assert TEXT in html  # what was typed is still there
    assert not await Broadcast.exists()


async def test_a_past_time_is_refused(console: Console) -> None:
    await console.login("officer")
    response = await compose(console, schedule="at", at=_in_county(-timedelta(hours=1)), text="<b>旧</b>")
    html = await response.text()
    assert response.status == 400 and "已经过去" in html and "&lt;b&gt;旧&lt;/b&gt;" in html
    assert not await Broadcast.exists()


async def test_preview_counts_match_the_subscribers(console: Console) -> None:
    await villagers()
    await console.login("officer")

    async def preview(audience: dict[str, Any], text: str = TEXT) -> dict[str, Any]:
        response = await console.api("POST", "/api/v1/broadcasts/preview", json={"text": text, "audience": audience})
        assert response.status == 200, await response.text()
        return await response.json()  # type: ignore[no-any-return]

    everyone = await preview({})
    assert everyone["recipients"] == 5 and everyone["by_channel"] == {"sms": 4, "wechat": 1}
    assert everyone["sms_segments"] == 1 and everyone["sms_segments_total"] == 4
    assert everyone["estimated_cost_yuan"] == round(4 * console.app[CONFIG].sms.cost_per_segment, 2)
    citrus = await preview({"townships": ["关防乡"], "crops": ["柑橘"]})
    assert citrus["recipients"] == 2 and citrus["by_channel"] == {"sms": 1, "wechat": 1}  # not the opted-out one
    assert (await preview({"villages": ["津北村"], "topics": ["价格"]}))["recipients"] == 1
    sms_only = await preview({"crops": ["柑橘"], "channels": ["sms"]}, text="柑橘红蜘蛛进入高发期，" * 8)
    assert sms_only["by_channel"] == {"sms": 2} and sms_only["sms_segments"] == 2
    response = await console.api("POST", "/api/v1/broadcasts/preview", json={"audience": {"planet": ["mars"]}})
    assert response.status == 400 and "planet" in (await response.json())["error"]


async def test_only_a_supervisor_approves_and_the_queue_shows_them_the_pending_ones(console: Console) -> None:
    await villagers()  # someone to send to: an audience nobody matches is refused
    await console.login("officer")
    broadcast = await created(console)
    officer_list = await (await console.client.get("/admin/broadcasts")).text()
    assert "审批队列" not in officer_list and "待审批" in officer_list
    refused = await console.post_form(f"/admin/broadcasts/{broadcast.id}/approve")
    assert refused.status == 403 and "审核员权限" in await refused.text()
    assert (await Broadcast.get(id=broadcast.id)).state == "pending_approval"

    await console.login("supervisor")
    queue = await (await console.client.get("/admin/broadcasts")).text()
    assert "审批队列（1 条待审批）" in queue and f'action="/admin/broadcasts/{broadcast.id}/approve"' in queue
    assert OFFICER_NAMES["officer"] in queue
    response = await console.post_form(f"/admin/broadcasts/{broadcast.id}/approve", {"back": "list"})
    assert response.headers["Location"].startswith("/admin/broadcasts?ok=")
    assert "已批准群发" in await follow(console, response)
    approved = await Broadcast.get(id=broadcast.id)
    assert approved.state == "scheduled" and approved.approved_by_id == console.officers["supervisor"].id
    page = await (await console.client.get(f"/admin/broadcasts/{broadcast.id}")).text()
    assert f"批准</dt><dd>{OFFICER_NAMES['supervisor']}" in page and 'id="broadcast-state" data-state="scheduled"' in page
    again = await console.post_form(f"/admin/broadcasts/{broadcast.id}/approve")
    assert "现在是“已排期”，不能批准" in await follow(console, again)


async def test_nobody_approves_their_own_broadcast(console: Console) -> None:
    await villagers()  # someone to send to: an audience nobody matches is refused
    await console.login("supervisor")
    broadcast = await created(console)
    page = await (await console.client.get(f"/admin/broadcasts/{broadcast.id}")).text()
    assert "需要另一位审核员审批" in page and "/approve" not in page
    response = await console.post_form(f"/admin/broadcasts/{broadcast.id}/approve")
    assert "不能审批自己提交的群发" in await follow(console, response)
    assert (await Broadcast.get(id=broadcast.id)).state == "pending_approval"


async def test_a_rejection_needs_a_reason_and_shows_who_and_why(console: Console) -> None:
    await villagers()  # someone to send to: an audience nobody matches is refused
    await console.login("officer")
    broadcast = await created(console)
    await console.login("supervisor")
    response = await console.post_form(f"/admin/broadcasts/{broadcast.id}/reject", {"reason": "  "})
    assert "驳回时请写明理由" in await follow(console, response)
    assert (await Broadcast.get(id=broadcast.id)).state == "pending_approval"
    response = await console.post_form(f"/admin/broadcasts/{broadcast.id}/reject", {"reason": "霜冻<预报>已取消"})
    assert "已驳回" in await follow(console, response)
    rejected = await Broadcast.get(id=broadcast.id)
    assert (rejected.state, rejected.reason) == ("rejected", "霜冻<预报>已取消")
    await console.login("officer")
    page = await (await console.client.get(f"/admin/broadcasts/{broadcast.id}")).text()
    assert "已驳回" in page and "霜冻&lt;预报&gt;已取消" in page and OFFICER_NAMES["supervisor"] in page
    assert "取消群发" not in page


async def test_pause_resume_and_cancel_by_form(console: Console) -> None:
    await villagers()  # someone to send to: an audience nobody matches is refused
    await console.login("officer")
    broadcast = await created(console, schedule="daily", daily_time="08:00")
    await console.login("supervisor")
    await console.post_form(f"/admin/broadcasts/{broadcast.id}/approve")
    await console.login("officer")
    response = await console.post_form(f"/admin/broadcasts/{broadcast.id}/pause")
    assert "已暂停" in await follow(console, response)
    assert (await Broadcast.get(id=broadcast.id)).state == "paused"
    response = await console.post_form(f"/admin/broadcasts/{broadcast.id}/pause")
    assert "现在是“已暂停”，不能暂停" in await follow(console, response)
    response = await console.post_form(f"/admin/broadcasts/{broadcast.id}/resume")
    assert "已继续发送" in await follow(console, response)
    assert (await Broadcast.get(id=broadcast.id)).state == "scheduled"
    page = await (await console.client.get(f"/admin/broadcasts/{broadcast.id}")).text()
    assert "data-confirm=" in page and "下次发送" in page
    response = await console.post_form(f"/admin/broadcasts/{broadcast.id}/cancel", {"reason": "天气转好"})
    assert "已取消" in await follow(console, response)
    cancelled = await Broadcast.get(id=broadcast.id)
    assert (cancelled.state, cancelled.reason) == ("cancelled", "天气转好")
    page = await (await console.client.get(f"/admin/broadcasts/{broadcast.id}")).text()
    assert "天气转好" in page and "处理记录" in page and "暂停" in page and "没有可做的操作" in page
    assert (await console.client.get("/admin/broadcasts/99999")).status == 404


async def test_the_page_shows_each_run_with_progress_and_counts(console: Console) -> None:
    people = await villagers()
    await console.login("officer")
    broadcast = await created(console, text="<script>alert('霜')</script>今晚降温")
    await console.login("supervisor")
    await console.post_form(f"/admin/broadcasts/{broadcast.id}/approve")
    # What the worker's scheduler does at the firing, then one pass of the delivery engine.
    run = await service.fire(broadcast.id, datetime.now(UTC), console.app[CONFIG])
    assert run is not None and run.targeted == 5
    page = await (await console.client.get(f"/admin/broadcasts/{broadcast.id}")).text()
    assert f'<div class="progress" data-run="{run.id}" data-state="sending"><span style="width: 0%"></span></div>' in page
    assert "已发送 0 / 5" in page and 'data-poll="1"' in page
    quitter = people[1]
    quitter.status, quitter.opted_out_at = "opted_out", datetime.now(UTC)
    await quitter.save()
    await dispatcher.Dispatcher(console.app).tick()
    failed = await Delivery.filter(run_id=run.id, state="sent", channel="sms").first()
    assert failed is not None and failed.provider_id is not None
    assert await dispatcher.delivery_status("sms", failed.provider_id, "undelivered", "30003")

    page = await (await console.client.get(f"/admin/broadcasts/{broadcast.id}")).text()
    assert f'<div class="progress" data-run="{run.id}" data-state="done"><span style="width: 100%"></span></div>' in page
    assert "已完成 · 已发送 4 / 5" in page and '<span class="badge done" id="broadcast-state"' in page
    assert "错误码 30003 1 条" in page and 'data-poll="0"' in page
    cells = dict(re.findall(r'data-count="(\w+)">(\d+)<', page))
    assert cells == {"targeted": "5", "queued": "0", "sending": "0", "sent": "3", "delivered": "0", "failed": "1",
                     "skipped": "1", "opted_out_since": "1", "replies_24h": "0"}
    assert "&lt;script&gt;alert(&#39;霜&#39;)&lt;/script&gt;今晚降温" in page and "<script>alert" not in page
    listing = await (await console.client.get("/admin/broadcasts")).text()
    assert "已完成 · 已发送 4 / 5" in listing and "&lt;script&gt;" in listing and "<script>alert" not in listing

    shown = await (await console.api("GET", f"/api/v1/broadcasts/{broadcast.id}?runs=1")).json()
    assert shown["run_count"] == 1 and shown["state"] == "done"
    assert shown["runs"][0]["by_state"] == {"queued": 0, "sending": 0, "sent": 3, "delivered": 0, "failed": 1,
                                            "skipped": 1}
    assert (await console.api("GET", f"/api/v1/broadcasts/{broadcast.id}?runs=0")).status == 400


async def test_a_firing_missed_while_down_is_explained(console: Console) -> None:
    await villagers()  # someone to send to: an audience nobody matches is refused
    await console.login("officer")
    broadcast = await created(console, schedule="daily", daily_time="08:00")
    await console.login("supervisor")
    await console.post_form(f"/admin/broadcasts/{broadcast.id}/approve")
    await service.fire(broadcast.id, datetime.now(UTC) - timedelta(hours=3), console.app[CONFIG],
                       skip_reason="missed by 180 min (service down)")
    assert await BroadcastRun.filter(broadcast_id=broadcast.id, state="skipped").exists()
    page = await (await console.client.get(f"/admin/broadcasts/{broadcast.id}")).text()
    assert "未发送：服务停机，错过发送时间 180 分钟" in page and 'data-state="skipped"><span style="width: 0%">' in page
