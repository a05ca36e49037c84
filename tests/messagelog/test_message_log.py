"""消息记录: every text in and out and every broadcast delivery, filters, keyset pages, masking by role,
resending a failed one exactly once, the CSV export, and the channels' status page."""

from __future__ import annotations

import asyncio
import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from bot.keys import CONFIG
from bot.messagelog.models import Resend
from bot.models import AuditEvent, Message, Officer, Subscriber, TemplateSend
from broadcasts.models import Broadcast, BroadcastRun, Delivery
from tests.helpers import OFFICER_NAMES, Console

pytestmark = pytest.mark.db


async def _day() -> dict[str, object]:
    """Two villagers in two townships, their texts in and out (one reply failed), a broadcast run with a
    delivered and a failed delivery."""
    now = datetime.now(UTC)
    wang = await Subscriber.create(phone="+8613800138000", name="王大山", township="关防乡", consent_source="demo")
    li = await Subscriber.create(phone="+8613900139000", name="李二", township="土门镇", consent_source="demo")
    asked = await Message.create(direction="in", channel="sms", provider="twilio", address=wang.phone,
                                 subscriber=wang, body="洋芋叶子有黑斑，电话13700137000", status="answered",
                                 handler="search.answer_question", created_at=now - timedelta(hours=3))
    failed = await Message.create(direction="out", channel="sms", provider="twilio", address=wang.phone,
                                  subscriber=wang, body="可以喷代森锰锌", status="failed", reply_to=asked,
                                  handler="console.reply", error_code="30003", error="Unreachable handset",
                                  created_at=now - timedelta(hours=2))
    await Message.create(direction="in", channel="sms", provider="twilio", address=li.phone, subscriber=li,
                         body="今天柑橘多少钱", status="answered", handler="prices.quote",
                         created_at=now - timedelta(hours=1))
    officer = await Officer.get(name=OFFICER_NAMES["officer"])
    cast = await Broadcast.create(kind="tip", text="明早有霜冻，柑橘园请盖膜。\n详情问农技站", state="done",
                                  created_by=officer, audience={})
    run = await BroadcastRun.create(broadcast=cast, fire_at=now - timedelta(minutes=30), state="done", targeted=2)
    ok = await Delivery.create(run=run, subscriber=li, channel="sms", state="delivered",
                               due_at=now - timedelta(minutes=30), sent_at=now - timedelta(minutes=29))
    bad = await Delivery.create(run=run, subscriber=wang, channel="sms", state="failed", error_code="21610",
                                error="unsubscribed recipient", due_at=now - timedelta(minutes=30),
                                sent_at=now - timedelta(minutes=28))
    return {"wang": wang, "li": li, "failed": failed, "cast": cast, "run": run, "ok": ok, "bad": bad}


async def test_the_log_shows_texts_and_deliveries_newest_first_masked_for_officers(console: Console) -> None:
    day = await _day()
    await console.login("officer")
    page = await console.client.get("/admin/messages")
    text = await page.text()
    assert page.status == 200
    # newest first: the two deliveries, the price question, the failed reply, the question
    order = [text.index(s) for s in ("明早有霜冻", "今天柑橘多少钱", "可以喷代森锰锌", "洋芋叶子有黑斑")]
    assert order == sorted(order)
    assert "+86138****8000" in text and "+8613800138000" not in text
    assert "137****7000" in text and "13700137000" not in text  # a phone inside a villager's text is masked too
    assert "群发《明早有霜冻，柑橘园请盖膜。》（农技提示）" in text and f"/admin/broadcasts/{day['cast'].id}" in text
    assert "农技员回复" in text and "价格行情" in text and "30003 Unreachable handset" in text
    assert text.count(">重发</button>") == 2  # the failed reply and the failed delivery
    await console.login("admin")
    assert "+8613800138000" in await (await console.client.get("/admin/messages")).text()


@pytest.mark.parametrize(("query", "shown", "hidden"), [
    ("status=failed", ["可以喷代森锰锌", "unsubscribed recipient"], ["今天柑橘多少钱", "洋芋叶子有黑斑"]),
    ("direction=in", ["今天柑橘多少钱", "洋芋叶子有黑斑"], ["可以喷代森锰锌", "明早有霜冻"]),
    ("township=土门镇", ["今天柑橘多少钱", "明早有霜冻"], ["洋芋叶子有黑斑", "可以喷代森锰锌"]),
    ("text=霜冻", ["明早有霜冻"], ["今天柑橘多少钱", "洋芋叶子有黑斑"]),
    ("channel=wechat", ["没有符合条件的消息"], ["今天柑橘多少钱", "明早有霜冻"]),
    ("status=answered", ["今天柑橘多少钱"], ["明早有霜冻", "可以喷代森锰锌"]),
])
async def test_filters(console: Console, query: str, shown: list[str], hidden: list[str]) -> None:
    await _day()
    await console.login("officer")
    text = await (await console.client.get(f"/admin/messages?{query}")).text()
    assert all(s in text for s in shown), query
    assert not any(s in text for s in hidden), query


async def test_day_filter(console: Console) -> None:
    await _day()
    await console.login("officer")
    tz = console.app[CONFIG].tz
    # The county day of the broadcast's delivery (sent 29 minutes ago: just after county midnight that is
    # still yesterday).
    sent_day = (datetime.now(tz) - timedelta(minutes=29)).date()
    today = await (await console.client.get(f"/admin/messages?day={sent_day}")).text()
    yesterday = (datetime.now(tz) - timedelta(days=2)).date()
    assert "明早有霜冻" in today
    assert "没有符合条件的消息" in await (await console.client.get(f"/admin/messages?day={yesterday}")).text()
    text = await (await console.client.get("/admin/messages?day=2020-01-01")).text()
    assert "没有符合条件的消息" in text
    bad = await console.client.get("/admin/messages?day=2026-02-30", allow_redirects=False)
    assert bad.status == 303 and "err=" in bad.headers["Location"]


async def test_links_from_a_villager_and_a_run(console: Console) -> None:
    day = await _day()
    await console.login("officer")
    wang = await (await console.client.get(f"/admin/messages?subscriber={day['wang'].id}")).text()
    assert "洋芋叶子有黑斑" in wang and "今天柑橘多少钱" not in wang and "王大山" in wang
    run = await (await console.client.get(f"/admin/messages?run={day['run'].id}")).text()
    assert "明早有霜冻" in run and "洋芋叶子有黑斑" not in run and run.count("<tr class=\"delivery") == 2


async def test_keyset_pages_show_every_row_once(console: Console) -> None:
    wang = await Subscriber.create(phone="+8613800138000", name="王大山", consent_source="demo")
    now = datetime.now(UTC)
    await Message.bulk_create([Message(direction="in", channel="sms", provider="t", address=wang.phone,
                                       subscriber_id=wang.id, body=f"消息{i:03d}", status="answered",
                                       created_at=now - timedelta(minutes=200 - i)) for i in range(120)])
    officer = await Officer.get(name=OFFICER_NAMES["officer"])
    cast = await Broadcast.create(kind="tip", text="群发", state="done", created_by=officer, audience={})
    run = await BroadcastRun.create(broadcast=cast, fire_at=now, state="done", targeted=1)
    await Delivery.create(run=run, subscriber=wang, channel="sms", state="sent", due_at=now - timedelta(minutes=150),
                          sent_at=now - timedelta(minutes=150))
    await console.login("officer")
    seen: list[str] = []
    nxt: dict[str, object] | None = {}
    while nxt is not None:
        body = await (await console.client.get("/api/v1/messages", params={k: str(v) for k, v in nxt.items()})).json()
        seen += [m["body"] for m in body["messages"]]
        nxt = body["next"]
    assert len(seen) == 121 and len(set(seen)) == 121
    assert seen.index("群发") == 70  # merged by time: 50 newer texts, then 20 more on page two
    assert seen[0] == "消息119" and seen[-1] == "消息000"


async def test_resend_a_failed_reply_once_through_the_delivery_engine(console: Console) -> None:
    day = await _day()
    await console.login("officer")
    path = f"/admin/messages/{day['failed'].id}/resend"
    first, second = await asyncio.gather(
        console.post_form(path, {"back": "/admin/messages?status=failed"}),
        console.post_form(path, {"back": "/admin/messages?status=failed"}))
    done, refused = (first, second) if first.status == 303 else (second, first)
    assert done.status == 303 and done.headers["Location"].startswith("/admin/messages?status=failed&ok=")
    assert refused.status == 409 and "已经重发过了" in await refused.text()
    resent = await Resend.get(kind="message", source_id=day["failed"].id)
    push = await Broadcast.get(id=resent.broadcast_id)
    assert push.text == "可以喷代森锰锌" and push.audience == {"subscriber_ids": [day["wang"].id]}
    assert push.state == "scheduled" and await Broadcast.filter(text="可以喷代森锰锌").count() == 1
    page = await (await console.client.get("/admin/messages?status=failed")).text()
    assert "已重发" in page and page.count(">重发</button>") == 1  # only the delivery is left to resend
    audit = await AuditEvent.filter(action__contains="/resend")
    assert len(audit) == 1 and audit[0].officer_name == OFFICER_NAMES["officer"]
    again = await console.api("POST", f"/api/v1/messages/{day['failed'].id}/resend")
    assert again.status == 409 and "已经重发过" in (await again.json())["error"]


async def test_resend_a_failed_delivery_and_refusals(console: Console) -> None:
    day = await _day()
    await console.login("officer")
    done = await console.api("POST", f"/api/v1/deliveries/{day['bad'].id}/resend")
    assert done.status == 201
    push = await Broadcast.get(id=(await done.json())["broadcast_id"])
    assert push.kind == "tip" and push.text.startswith("明早有霜冻")
    not_failed = await console.api("POST", f"/api/v1/deliveries/{day['ok'].id}/resend")
    assert not_failed.status == 409 and "没有发送失败" in (await not_failed.json())["error"]
    await Subscriber.filter(id=day["wang"].id).update(status="opted_out")
    opted = await console.post_form(f"/admin/messages/{day['failed'].id}/resend")
    assert opted.status == 409 and "已经退订" in await opted.text()
    assert not await Resend.filter(kind="message").exists()  # refused: nothing recorded, nothing sent


async def test_export_is_csv_with_bom_masked_and_formula_safe(console: Console) -> None:
    day = await _day()
    await Message.create(direction="in", channel="sms", provider="twilio", address=day["li"].phone,
                         subscriber=day["li"], body="=HYPERLINK(\"http://x\")", status="answered")
    await console.login("officer")
    response = await console.client.get("/admin/messages/export.csv")
    raw = await response.read()
    assert response.status == 200 and raw.startswith("\ufeff".encode())
    assert response.headers["Content-Disposition"].startswith('attachment; filename="messages-')
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][:4] == ["时间", "收发", "渠道", "农户"] and len(rows) == 1 + 6
    assert "'=HYPERLINK(\"http://x\")" in [r[6] for r in rows]
    assert "+8613800138000" not in raw.decode() and "+86138****8000" in raw.decode()
    run = await console.client.get(f"/admin/messages/export.csv?run={day['run'].id}")
    run_rows = list(csv.reader(io.StringIO((await run.read()).decode("utf-8-sig"))))
    assert len(run_rows) == 3 and {r[8] for r in run_rows[1:]} == {"已送达", "发送失败"}
    assert [e.action for e in await AuditEvent.all().order_by("id")][-2:] == ["messages_export", "deliveries_export"]


async def test_channels_page_says_how_each_provider_does(console: Console) -> None:
    day = await _day()
    await TemplateSend.create(provider="aliyun", phone="+8613800138000", template="SMS_1", out_id="o1",
                              text_hash="h", state="accepted")
    await console.login("officer")
    page = await console.client.get("/admin/channels")
    text = await page.text()
    assert page.status == 200
    assert "只记录（演示）" in text and "Twilio 短信" in text and "微信公众号没有开通" in text
    assert "Unreachable handset" in text and "unsubscribed recipient" in text
    assert "密钥：未设置" in text  # secrets are never shown, only whether they are set
    del day
