"""Console prices page and API additions: entering prices with row-numbered errors, confirming or deleting
suspect prices (alerts fire), mapping unknown names (with an alias for next time), adding markets."""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from bot.keys import CONFIG
from bot.models import AuditEvent, Subscriber, unpack_set
from bot.prices import commodities, records
from bot.prices.models import Commodity, Market, PriceAlert, PriceRecord, UnmappedPrice
from broadcasts.models import Broadcast
from tests.helpers import Console

pytestmark = pytest.mark.db
WHOLESALE = "十堰农产品批发市场"


def day(offset: int) -> str:
    from zoneinfo import ZoneInfo

    return (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=offset)).isoformat()


def flash(response: Any) -> dict[str, str]:
    """The ok/err message a see_other redirect carries."""
    assert response.status == 303, response.status
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


async def store(console: Console, *rows: dict[str, Any]) -> records.PriceReport:
    return await records.store(list(enumerate(rows, 2)), console.app[CONFIG], source="站点")


def row(offset: int, price: float, commodity: str = "柑橘", market: str = WHOLESALE) -> dict[str, Any]:
    return {"date": day(offset), "market": market, "commodity": commodity, "price": price, "unit": "元/斤"}


@pytest.fixture
async def markets(console: Console) -> Console:
    await commodities.ensure_commodities()
    for name in ("城关镇农贸市场", WHOLESALE):
        await Market.create(name=name, kind="批发")
    await console.login("officer")
    return console


async def test_page_renders_sections_records_and_week_change(markets: Console) -> None:
    await store(markets, row(-8, 2.0), row(-1, 2.4))
    page = await markets.client.get("/admin/prices")
    text = await page.text()
    assert page.status == 200
    for heading in ("市场价格", "录入价格", "待确认", "未识别名称", "价格记录", "采价市场"):
        assert heading in text
    assert WHOLESALE in text and "2.40 元/斤" in text and "↑0.40" in text
    assert 'name="price_5"' in text and 'name="price_6"' not in text  # five empty entry rows
    filtered = await (await markets.client.get("/admin/prices?commodity=生猪&days=30")).text()
    assert "这段时间没有符合条件的价格" in filtered


async def test_entering_prices_keeps_good_rows_and_reports_bad_ones_by_row(markets: Console) -> None:
    response = await markets.post_form("/admin/prices", {
        "date_1": day(0), "market_1": WHOLESALE, "commodity_1": "柑橘", "price_1": "2.5", "unit_1": "元/斤",
        "date_2": day(0), "market_2": WHOLESALE, "commodity_2": "核桃", "price_2": "abc", "unit_2": "元/斤",
        "date_3": day(-1), "market_3": "城关镇农贸市场", "commodity_3": "生猪", "price_3": "16", "unit_3": "元/公斤",
        "date_4": day(3), "market_4": WHOLESALE, "commodity_4": "玉米", "price_4": "1.2", "unit_4": "元/斤",
        "date_5": day(0), "market_5": "", "commodity_5": "", "price_5": "", "unit_5": "元/斤",
    })
    text = await response.text()
    assert response.status == 200
    assert "已保存 2 条价格" in text and "第 2 行：价格要填数字" in text and f"第 4 行：日期 {day(3)} 还没到" in text
    assert 'value="abc"' in text  # the refused row is back on the form as typed
    stored = {(r.commodity.name, r.price) for r in await PriceRecord.all().prefetch_related("commodity")}
    assert stored == {("柑橘", 2.5), ("生猪", 8.0)}
    assert {r.recorded_by for r in await PriceRecord.all()} == {"农技员小王"}
    assert await AuditEvent.filter(action="POST /admin/prices").exists()

    again = await markets.post_form("/admin/prices", {
        "date_1": day(0), "market_1": WHOLESALE, "commodity_1": "柑橘", "price_1": "2.6", "unit_1": "元/斤"})
    assert flash(again) == {"ok": "已保存 1 条价格。"}
    assert (await PriceRecord.get(commodity__name="柑橘")).price == 2.6  # same day and market: updated
    empty = await markets.post_form("/admin/prices", {"date_1": day(0), "price_1": "", "unit_1": "元/斤"})
    assert "没有填写任何价格" in flash(empty)["err"]
    refused = await markets.post_form("/admin/prices", {"date_1": day(0), "market_1": WHOLESALE,
                                                        "commodity_1": "柑橘", "price_1": "-1", "unit_1": "元/斤"})
    assert refused.status == 400 and "第 1 行：价格要大于 0" in await refused.text()


async def test_suspect_price_is_held_then_confirmed_and_alerts_fire(markets: Console) -> None:
    await store(markets, row(-5, 2.0), row(-4, 2.1), row(-3, 2.2))
    orange = await Commodity.get(name="柑橘")
    sub = await Subscriber.create(phone="+8613900000009")
    await PriceAlert.create(subscriber=sub, commodity=orange, kind="above", threshold=5.0)
    entered = await markets.post_form("/admin/prices", {
        "date_1": day(-1), "market_1": WHOLESALE, "commodity_1": "柑橘", "price_1": "9", "unit_1": "元/斤"})
    message = flash(entered)["err"]
    assert "已保存 1 条价格" in message and "近 30 天中位数 2.10 元相差太大" in message and "待确认" in message
    held = await PriceRecord.get(price=9.0)
    assert held.status == "suspect" and not await Broadcast.filter(kind="price").exists()

    page = await (await markets.client.get("/admin/prices")).text()
    assert "核对后发布" in page and f"/admin/prices/{held.id}/confirm" in page and "2.10" in page
    # One click never publishes it: without the officer's check the confirmation page comes back.
    clicked = await markets.post_form(f"/admin/prices/{held.id}/confirm", {"back": "/admin/prices?days=30"})
    assert clicked.status == 400 and "勾选“我已核对”" in await clicked.text()
    assert (await PriceRecord.get(id=held.id)).status == "suspect"
    check = await markets.client.get(f"/admin/prices/{held.id}/confirm?back=/admin/prices%3Fdays%3D30")
    body = await check.text()
    assert check.status == 200 and "核对后再发布：柑橘 · 十堰农产品批发市场" in body
    assert "是中位数的 4.3 倍" in body and "1 位设了柑橘价格提醒的农户" in body and "我已核对原始记录" in body
    assert '<svg class="chart price-chart"' in body and 'value="/admin/prices?days=30"' in body
    confirmed = await markets.post_form(f"/admin/prices/{held.id}/confirm",
                                        {"back": "/admin/prices?days=30", "checked": "1"})
    assert confirmed.headers["Location"].startswith("/admin/prices?days=30&ok=")
    assert (await PriceRecord.get(id=held.id)).status == "published"
    push = await Broadcast.get(kind="price")
    assert push.audience == {"subscriber_ids": [sub.id]} and "9.00" in push.text
    audit = await AuditEvent.filter(action__contains="/confirm").get()
    assert audit.detail == f"核对后确认发布：{day(-1)} 9 元（编号 {held.id}）"
    assert "无需再确认" in flash(await markets.post_form(f"/admin/prices/{held.id}/confirm", {"checked": "1"}))["err"]
    assert "无需再确认" in flash(await markets.client.get(f"/admin/prices/{held.id}/confirm",
                                                     allow_redirects=False))["ok"]


async def test_wrong_suspect_price_is_deleted(markets: Console) -> None:
    await store(markets, row(-5, 2.0), row(-4, 2.1), row(-3, 2.2), row(-1, 0.3))
    wrong = await PriceRecord.get(status="suspect")
    response = await markets.post_form(f"/admin/prices/{wrong.id}/delete", {"back": "https://evil.example/"})
    assert response.headers["Location"].startswith("/admin/prices?ok=")  # never leaves the console
    assert "已删除" in flash(response)["ok"] and not await PriceRecord.exists(id=wrong.id)
    missing = await markets.post_form(f"/admin/prices/{wrong.id}/delete")
    assert missing.status == 404 and "没有这条价格" in await missing.text()


async def test_mapping_an_unknown_name_stores_held_prices_and_saves_the_alias(markets: Console) -> None:
    report = await store(markets, row(-1, 2.3, commodity="广柑"), row(-2, 2.2, commodity="广柑"),
                         row(-1, 7.5, commodity="毛猪仔"))
    assert report.unmapped == 3
    page = await (await markets.client.get("/admin/prices")).text()
    assert "品名“广柑”：2 条价格" in page and "记住这个叫法" in page

    no_target = await markets.post_form("/admin/prices/unmapped/map", {"kind": "commodity", "name": "广柑"})
    assert "请选择把“广柑”归入哪个品名" in flash(no_target)["err"]
    mapped = await markets.post_form("/admin/prices/unmapped/map", {
        "kind": "commodity", "name": "广柑", "target": "柑橘", "save_alias": "1"})
    assert "保存 2 条价格" in flash(mapped)["ok"] and "自动识别" in flash(mapped)["ok"]
    assert sorted(r.price for r in await PriceRecord.filter(commodity__name="柑橘")) == [2.2, 2.3]
    assert await UnmappedPrice.filter(commodity_name="广柑", status="mapped").count() == 2
    assert "广柑" in unpack_set((await Commodity.get(name="柑橘")).aliases)
    later = await store(markets, row(0, 2.4, commodity="广柑"))
    assert (later.stored, later.unmapped) == (1, 0)  # recognised from now on

    # Without the alias the held price is stored but the name stays unknown.
    await markets.post_form("/admin/prices/unmapped/map", {"kind": "commodity", "name": "毛猪仔", "target": "生猪"})
    assert await PriceRecord.exists(commodity__name="生猪", price=7.5)
    assert (await store(markets, row(0, 7.6, commodity="毛猪仔"))).unmapped == 1
    gone = await markets.post_form("/admin/prices/unmapped/map", {
        "kind": "commodity", "name": "广柑", "target": "柑橘"})
    assert "已没有待处理的价格" in flash(gone)["err"]


async def test_unknown_market_is_added_and_its_prices_stored_or_dropped(markets: Console) -> None:
    await store(markets, row(-1, 2.3, market="关防乡田头"), row(-1, 2.0, market="火星市场"))
    page = await (await markets.client.get("/admin/prices")).text()
    assert "市场“关防乡田头”：1 条价格" in page and "新增市场“关防乡田头”并保存这些价格" in page
    added = await markets.post_form("/admin/prices/markets", {"name": "关防乡田头", "kind": "田头"})
    assert "保存 1 条价格" in flash(added)["ok"]
    assert (await Market.get(name="关防乡田头")).kind == "田头"
    assert await PriceRecord.exists(market__name="关防乡田头", price=2.3)
    bad_kind = await markets.post_form("/admin/prices/markets", {"name": "某市场", "kind": "超市"})
    assert "请选择市场类型" in flash(bad_kind)["err"] and not await Market.exists(name="某市场")
    plain = await markets.post_form("/admin/prices/markets", {"name": "郧西县城市场", "kind": "零售"})
    assert flash(plain) == {"ok": "已新增市场“郧西县城市场”"}
    dropped = await markets.post_form("/admin/prices/unmapped/drop", {"kind": "market", "name": "火星市场"})
    assert "已忽略" in flash(dropped)["ok"] and (await UnmappedPrice.get(market_name="火星市场")).status == "dropped"
    assert "没有未识别的名称" in await (await markets.client.get("/admin/prices")).text()


async def test_api_unmapped_map_drop_delete_and_markets(markets: Console) -> None:
    token = await markets.token("officer")
    await store(markets, row(-1, 2.3, commodity="广柑"), row(-1, 5.0, commodity="怪果"))
    listed = await (await markets.client.get("/api/v1/prices/unmapped", headers=token)).json()
    assert {(g["kind"], g["name"], g["count"]) for g in listed["unmapped"]} == {
        ("commodity", "广柑", 1), ("commodity", "怪果", 1)}
    bad = await markets.client.post("/api/v1/prices/unmapped/map", headers=token, json={"kind": "x", "name": "广柑"})
    assert bad.status == 400 and "error" in await bad.json()
    unknown = await markets.client.post("/api/v1/prices/unmapped/map", headers=token,
                                        json={"kind": "commodity", "name": "广柑", "target": "榴莲"})
    assert unknown.status == 400 and "unknown commodity" in (await unknown.json())["error"]
    mapped = await markets.client.post("/api/v1/prices/unmapped/map", headers=token, json={
        "kind": "commodity", "name": "广柑", "target": "柑橘", "save_alias": True})
    assert mapped.status == 200 and (await mapped.json())["stored"] == 1
    dropped = await markets.client.post("/api/v1/prices/unmapped/drop", headers=token,
                                        json={"kind": "commodity", "name": "怪果"})
    assert (await dropped.json()) == {"dropped": 1}
    again = await markets.client.post("/api/v1/prices/unmapped/drop", headers=token,
                                      json={"kind": "commodity", "name": "怪果"})
    assert again.status == 404
    record = await PriceRecord.get(commodity__name="柑橘")
    deleted = await markets.client.delete(f"/api/v1/prices/{record.id}", headers=token)
    assert deleted.status == 200 and not await PriceRecord.exists(id=record.id)
    assert (await markets.client.delete(f"/api/v1/prices/{record.id}", headers=token)).status == 404
    names = [m["name"] for m in (await (await markets.client.get("/api/v1/markets", headers=token)).json())["markets"]]
    assert names == sorted([WHOLESALE, "城关镇农贸市场"])
    # the console's own scripts: session cookie plus CSRF header
    assert (await markets.api("GET", "/api/v1/prices/unmapped")).status == 200
    spec = await (await markets.client.get("/api/v1/openapi.json")).json()
    assert spec["paths"]["/api/v1/prices/{id}"]["delete"]["summary"] == "Delete a wrongly entered price record."


async def test_a_price_file_is_uploaded_with_each_bad_line_reported(markets: Console) -> None:
    await store(markets, row(-5, 2.0), row(-4, 2.1), row(-3, 2.2))
    data = ("日期,市场,品名,价格,单位\n"
            f"{day(-1)},{WHOLESALE},柑橘,4.4,元/公斤\n"
            f"{day(-1)},城关镇农贸市场,洋芋,1.2,元/斤\n"
            f"{day(-1)},火星市场,柑橘,2,元/斤\n"
            f"{day(-1)},城关镇农贸市场,柑橘,-3,元/斤\n"
            "明天,城关镇农贸市场,柑橘,2,元/斤\n"
            f"{day(-2)},城关镇农贸市场,柑橘,30,元/斤\n").encode("gbk")
    form = aiohttp.FormData()
    form.add_field("_csrf", markets.csrf)
    form.add_field("file", data, filename="价格 3月.csv", content_type="text/csv")
    response = await markets.client.post("/admin/prices/upload", data=form)
    body = await response.text()
    assert response.status == 200, body
    assert "“价格 3月.csv”：新增 3 条，更新 0 条；1 条待确认，1 条名称未识别（已暂存），2 行有错没有保存。" in body
    lines = re.findall(r"<tr><td>第 (\d+) 行</td><td><span[^>]*>([^<]+)</span></td><td>([^<]+)</td></tr>", body)
    assert [(n, outcome) for n, outcome, _ in lines] == [
        ("4", "已暂存，名称未识别"), ("5", "没有保存"), ("6", "没有保存"), ("7", "待确认")]
    assert "价格要大于 0" in lines[1][2] and "日期格式不对" in lines[2][2] and "相差太大" in lines[3][2]
    potato = await PriceRecord.get(commodity__name="马铃薯")
    assert potato.price == 1.2 and potato.source == "上传 价格 3月.csv" and potato.recorded_by == "农技员小王"
    assert (await PriceRecord.get(date=day(-1), market__name=WHOLESALE)).price == 2.2  # per jin
    assert await UnmappedPrice.filter(market_name="火星市场").exists()
    audit = await AuditEvent.filter(action="POST /admin/prices/upload").get()
    assert audit.detail.startswith("“价格 3月.csv”：新增 3 条")

    empty = aiohttp.FormData()
    empty.add_field("_csrf", markets.csrf)
    empty.add_field("file", b"price,unit\n1,2\n", filename="x.csv", content_type="text/csv")
    refused = await markets.client.post("/admin/prices/upload", data=empty)
    text = await refused.text()
    assert refused.status == 400 and "第 1 行" in text and "表头" in text
    nothing = await markets.post_form("/admin/prices/upload", {})
    assert nothing.status == 400 and "请选择要上传的价格表" in await nothing.text()


async def test_price_chart_per_commodity_and_market(markets: Console) -> None:
    await store(markets, row(-5, 2.0), row(-4, 2.1), row(-3, 2.2), row(-3, 1.8, market="城关镇农贸市场"))
    page = await (await markets.client.get("/admin/prices/chart?commodity=柑橘&days=30")).text()
    assert '<svg class="chart price-chart"' in page and "柑橘近 30 天各市场的价格" in page
    assert page.count("<polyline") == 2 and "十堰农产品批发市场" in page and "城关镇农贸市场" in page
    assert "<td class=\"num\">2.20</td>" in page
    wholesale = await Market.get(name=WHOLESALE)
    one = await (await markets.client.get(f"/admin/prices/chart?commodity=柑橘&market={wholesale.id}")).text()
    assert one.count("<polyline") == 1 and "1.80" not in one
    first = await (await markets.client.get("/admin/prices/chart")).text()
    assert "<polyline" in first  # the first commodity with prices
    none = await (await markets.client.get("/admin/prices/chart?commodity=生猪")).text()
    assert "这段时间没有价格" in none and "<polyline" not in none
