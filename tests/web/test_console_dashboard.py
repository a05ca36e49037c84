"""首页: the cards, tables and SVG charts count exactly the rows in the database; /api/v1/stats agrees."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.models import Message, Subscriber
from bot.questions.models import Question
from bot.web import charts, dashboard
from broadcasts.models import Broadcast, BroadcastRun, Delivery
from tests.helpers import Console

pytestmark = pytest.mark.db
TOWN = "关防乡"
ODD_TOWN = "<b>x</b>"


async def _world(console: Console) -> BroadcastRun:
    """Five active villagers in two townships (one opted out), today's and older messages, questions,
    and one broadcast run with deliveries in every outcome."""
    people = [await Subscriber.create(phone=f"+86139000000{i:02d}", township=town, preferred_channel=channel)
              for i, (town, channel) in enumerate([(TOWN, "sms"), (TOWN, "sms"), (TOWN, "wechat"),
                                                   (ODD_TOWN, "wechat"), ("", "sms")])]
    await Subscriber.create(phone="+8613900000099", township=TOWN, status="opted_out")
    now = datetime.now(UTC)
    old = now - timedelta(days=3)
    for body, handler in (("苞谷叶子发黄咋办", "search.answer_question"), ("玉米咋个追肥", "search.answer_question"),
                          ("洋芋叶子有黑斑", "search.answer_question"), ("柑橘多少钱", "prices.price_of")):
        await Message.create(direction="in", channel="sms", provider="test", address="+8613900000000",
                             subscriber=people[0], body=body, status="answered", handler=handler)
    await Message.create(direction="out", channel="sms", provider="test", address="+8613900000000",
                         body="回复", status="sent", handler="prices.price_of")
    await Message.create(direction="out", channel="sms", provider="test", address="+8613900000000",
                         body="昨天以前的回复", status="delivered", created_at=old)
    await Message.create(direction="in", channel="sms", provider="test", address="+8613900000000",
                         body="前几天的苞谷问题", status="answered", handler="search.answer_question", created_at=old)
    await Message.create(direction="in", channel="sms", provider="simulator", address="+8613800000000",
                         body="测试苞谷", status="answered", handler="search.answer_question")
    await Question.create(subscriber=people[0], channel="sms", text="核桃树流黑水", reason="no_match")
    await Question.create(subscriber=people[1], channel="sms", text="已经回过的", status="answered")
    broadcast = await Broadcast.create(kind="tip", text="今天下午有冰雹，请收好晾晒的苞谷。", audience={},
                                       state="done", created_by=console.officers["officer"])
    run = await BroadcastRun.create(broadcast=broadcast, fire_at=now, state="done", targeted=5)
    for person, state, sent_at in ((people[0], "delivered", now), (people[1], "sent", now), (people[2], "failed", None),
                                   (people[3], "delivered", old), (people[4], "queued", None)):
        await Delivery.create(run=run, subscriber=person, channel=person.preferred_channel, state=state,
                              due_at=now if sent_at is None else sent_at, sent_at=sent_at)
    return run


async def test_stats_api_counts_the_rows(console: Console) -> None:
    run = await _world(console)
    response = await console.client.get("/api/v1/stats", headers=await console.token("officer"))
    assert response.status == 200
    s: dict[str, Any] = await response.json()
    subs = s["subscribers"]
    assert subs["active"] == 5 and subs["opted_out"] == 1
    assert subs["by_channel"] == {"sms": 3, "wechat": 2}
    towns = {t["township"]: t for t in subs["by_township"]}
    assert towns[TOWN] == {"township": TOWN, "sms": 2, "wechat": 1, "total": 3}
    assert towns[ODD_TOWN]["wechat"] == 1 and towns["未填乡镇"]["sms"] == 1
    assert s["messages_today"] == {"in": 4, "out": 1}  # neither the old rows nor the simulator's
    assert s["open_questions"] == 1
    assert s["deliveries_today"] == {"delivered": 1, "sent": 1, "failed": 1, "total": 3}
    days = s["outbound_days"]
    assert len(days["days"]) == 14
    assert (days["delivered"][-1], days["sent"][-1], days["failed"][-1]) == (1, 2, 0 + 1)
    assert days["delivered"][-4] == 2  # three days ago: one delivery and one direct reply
    assert sum(days["delivered"]) == 3 and sum(days["failed"]) == 1
    [recent] = s["runs"]
    assert (recent["id"], recent["broadcast_id"], recent["targeted"]) == (run.id, run.broadcast_id, 5)
    assert (recent["sent"], recent["delivered"], recent["failed"], recent["pending"]) == (3, 2, 1, 1)
    topics = s["topics"]
    assert {"crop": "玉米", "count": 3} in topics["by_crop"]  # 苞谷 is maize; the old one counts too
    assert {"crop": "马铃薯", "count": 1} in topics["by_crop"]
    assert topics["by_crop"][0]["crop"] == "玉米"
    kinds = {k["kind"]: k["count"] for k in topics["by_kind"]}
    assert kinds == {"技术提问": 4, "价格行情": 1}
    assert topics["handed_to_officers"] == 2


async def test_dashboard_page_shows_numbers_tables_and_charts(console: Console) -> None:
    run = await _world(console)
    await console.login("officer")
    response = await console.client.get("/admin/")
    assert response.status == 200
    html = await response.text()
    for words in ("首页", "在订农户", "今天收到的消息", "待回复的问题", "今天群发发出", "近 14 天每天发出的消息",
                  "各乡镇在订农户", "近 7 天农户问了什么", "最近 1 次群发", "今天下午有冰雹"):
        assert words in html, words
    assert re.search(r"在订农户<b>5</b>", html)
    assert re.search(r"待回复的问题<b>1</b>", html)
    assert re.search(r"今天群发发出<b>3</b>", html)
    assert 'href="/admin/questions"' in html
    assert f'href="/admin/broadcasts/{run.broadcast_id}"' in html
    assert html.count('<svg class="chart" role="img"') == 3
    assert html.count("<title id=") == 3
    assert "<b>x</b>" not in html  # the odd township name is escaped in the table and in the chart
    assert html.count("&lt;b&gt;x&lt;/b&gt;") >= 3  # table cell, bar label, bar tooltip
    assert re.search(r"<td>&lt;b&gt;x&lt;/b&gt;</td><td class=\"num\">0</td><td class=\"num\">1</td>", html)


async def test_empty_database_shows_zeros_and_hints(console: Console) -> None:
    await console.login("officer")
    html = await (await console.client.get("/admin/")).text()
    assert "还没有群发过" in html and "还没有在订的农户" in html and "暂无数据" in html
    stats = await (await console.api("GET", "/api/v1/stats")).json()
    assert stats["subscribers"]["active"] == 0 and stats["topics"]["by_crop"] == []
    assert stats["deliveries_today"]["total"] == 0 and stats["runs"] == []


async def test_stats_need_a_login(console: Console) -> None:
    assert (await console.client.get("/api/v1/stats")).status == 401
    response = await console.client.get("/admin/", allow_redirects=False)
    assert response.status == 303 and response.headers["Location"].startswith("/admin/login")


def test_charts_escape_labels_and_describe_themselves() -> None:
    svg = str(charts.bar_chart([("<script>&", 3), ("玉米", 1)], title="作物 <i>", unit=" 条"))
    assert "<script>" not in svg and "&lt;script&gt;&amp;" in svg
    assert 'role="img"' in svg and "<title id=" in svg and "作物 &lt;i&gt;" in svg
    assert "玉米 1 条" in svg  # the <desc> says the numbers for screen readers
    columns = str(charts.stacked_columns(["06-01", "<06-02>"], [("送达", "#2e7d32", [1, 2]), ("失败", "red", [0, 1])],
                                         title="每天"))
    assert "&lt;06-02&gt;" in columns and "<06-02>" not in columns
    assert columns.count("<rect x=") == 2 + 3  # legend squares, then one rect per non-zero value


async def test_numbers_are_counted_at_most_every_stats_seconds(console: Console) -> None:
    await console.login("officer")
    first = await (await console.api("GET", "/api/v1/stats")).json()
    await Subscriber.create(phone="+8613700000001", township="关防乡", consent_source="test")
    again = await (await console.api("GET", "/api/v1/stats")).json()
    assert again["subscribers"]["active"] == first["subscribers"]["active"]  # the same count, reused
    console.app[dashboard.STATS]["at"] -= dashboard.STATS_SECONDS + 1  # time passes
    later = await (await console.api("GET", "/api/v1/stats")).json()
    assert later["subscribers"]["active"] == first["subscribers"]["active"] + 1
