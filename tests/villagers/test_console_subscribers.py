"""农户 (subscribers): search and pages, masking by role, CSV import with progress, export, the JSON API."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse, web

from bot.models import AuditEvent, ConsentEvent, Message, Subscriber, pack_set
from bot.questions.models import Question
from bot.villagers import roster
from tests.browser import Site
from tests.helpers import OFFICER_NAMES, Console

pytestmark = pytest.mark.db
HEADER = "phone,name,township,village,crops,topics,channel\n"


async def _people(count: int, **fields: Any) -> list[Subscriber]:
    """`count` villagers with phones 139000000NN (NN from the current count) and these fields."""
    start = await Subscriber.all().count()
    rows = [Subscriber(phone=f"+86139{start + i:08d}", name=f"农户{start + i}", consent_source="demo",
                       **fields) for i in range(count)]
    await Subscriber.bulk_create(rows)
    return await Subscriber.filter(phone__in=[r.phone for r in rows]).order_by("id")


async def _ndjson(response: ClientResponse) -> list[dict[str, Any]]:
    assert response.status == 200, await response.text()
    assert response.content_type == "application/x-ndjson"
    return [json.loads(line) for line in (await response.text()).splitlines() if line.strip()]


async def _import(console: Console, text: str | bytes) -> list[dict[str, Any]]:
    body = text.encode() if isinstance(text, str) else text
    return await _ndjson(await console.api("POST", "/api/v1/subscribers", data=io.BytesIO(body),
                                           headers={"Content-Type": "text/csv"}))


# --- pages -------------------------------------------------------------------------------------


async def test_list_page_searches_pages_and_masks_phones_for_officers(console: Console) -> None:
    await _people(55, township="关防乡", village="花果村", crops=pack_set(["柑橘"]), topics=pack_set(["技术"]))
    await _people(3, township="太平镇", village="石门村", crops=pack_set(["茶叶"]), topics=pack_set(["价格"]),
                  preferred_channel="wechat", status="opted_out")
    wang = await Subscriber.create(phone="+8613800138000", name="王大山", township="太平镇", village="石门村",
                                   crops=pack_set(["茶叶", "玉米"]), consent_source="import:农技员小王")
    await console.login("officer")

    page = await console.client.get("/admin/subscribers")
    text = await page.text()
    assert page.status == 200 and "从表格导入农户" in text and "<b>59</b> 人" in text
    assert "第 1 / 2 页" in text and text.count("/admin/subscribers/") >= 50
    assert "+86138****8000" in text and "+8613800138000" not in text
    assert "表格导入（农技员小王）" in text and "手机号已打码" in text
    second = await (await console.client.get("/admin/subscribers?page=2")).text()
    assert "第 2 / 2 页" in second and "农户0<" in second and "王大山" not in second

    async def found(query: str) -> str:
        response = await console.client.get(f"/admin/subscribers?{query}")
        assert response.status == 200
        body = await response.text()
        match = re.search(r"<b>(\d+)</b> 人", body)
        assert match is not None, body
        return match.group(1)

    assert await found("township=关防乡") == "55"
    assert await found("township=太平镇&crop=茶叶") == "4"
    assert await found("crop=玉米") == "1"
    assert await found("topic=价格") == "3"
    assert await found("channel=wechat") == "3"
    assert await found("status=opted_out") == "3"
    assert await found("status=active&township=太平镇") == "1"
    assert await found("village=石门") == "4"
    assert await found("q=大山") == "1"
    assert await found("q=8000") == "1"
    assert await found("q=138 0013 8000") == "1"
    # Middle digits would unmask a number digit by digit: officers get a hint instead.
    refused = await (await console.client.get("/admin/subscribers?q=0013800")).text()
    assert "后 4 位或完整的 11 位号码" in refused and "<b>0</b> 人" in refused

    await console.login("admin")
    text = await (await console.client.get("/admin/subscribers?q=0013800")).text()
    assert "+8613800138000" in text and "<b>1</b> 人" in text and "手机号已打码" not in text
    assert f"/admin/subscribers/{wang.id}" in text


async def test_profile_shows_consent_messages_and_open_questions_masked(console: Console) -> None:
    person = await Subscriber.create(phone="+8613800138000", name="王大山", township="关防乡",
                                     consent_source="first_message:sms")
    await ConsentEvent.create(subscriber=person, action="opt_in", channel="sms", source="first_message:twilio",
                              text="你好")
    await ConsentEvent.create(subscriber=person, action="opt_out", channel="sms", source="keyword:sms", text="退订")
    await Message.create(direction="in", channel="sms", provider="test", address=person.phone, subscriber=person,
                         body="请回电 13912345678 柑橘黄龙病怎么办", status="answered")
    await Question.create(subscriber=person, channel="sms", text="柑橘叶子发黄 13912345678", status="open")
    await Question.create(subscriber=person, channel="sms", text="早就答过的问题", status="answered")
    await console.login("officer")

    page = await console.client.get(f"/admin/subscribers/{person.id}")
    text = await page.text()
    assert page.status == 200 and "王大山" in text and "同意与退订记录" in text
    assert "首次发来消息" in text and "退订" in text and "发送关键词" in text
    assert "+86138****8000" in text and "+8613800138000" not in text
    assert "139****5678" in text and "13912345678" not in text
    assert "柑橘叶子发黄" in text and "早就答过的问题" not in text
    assert page.headers["X-Frame-Options"] == "DENY"

    await console.login("admin")
    text = await (await console.client.get(f"/admin/subscribers/{person.id}")).text()
    assert "+8613800138000" in text and "13912345678" in text
    missing = await console.client.get("/admin/subscribers/99999")
    assert missing.status == 404 and "没有这位农户" in await missing.text()


# --- import ------------------------------------------------------------------------------------


async def test_csv_import_streams_progress_and_reports_bad_lines(console: Console) -> None:
    await console.login("officer")
    csv_text = (HEADER
                + "13800138001,张三,关防乡,花果村,柑橘;茶叶,技术;价格,sms\n"
                + "abc,李四,关防乡,,,,\n"
                + "138 0013 8002,王五,太平镇,石门村,玉米,,微信\n"
                + "13800138003,赵六,太平镇,,,股票,sms\n"
                + "+86-138-0013-8004,钱七,,,,,\n")
    lines = await _import(console, csv_text)
    assert lines[0] == {"done": 0, "total": 3} and {"done": 3, "total": 3} in lines
    report = lines[-1]["report"]
    assert (report["created"], report["updated"]) == (3, 0)
    assert [e["line"] for e in report["errors"]] == [3, 5]
    assert "不是有效的手机号" in report["errors"][0]["error"] and "主题只能是" in report["errors"][1]["error"]

    people = {s.phone: s for s in await Subscriber.all()}
    assert set(people) == {"+8613800138001", "+8613800138002", "+8613800138004"}
    zhang = people["+8613800138001"]
    assert zhang.crop_list == ["柑橘", "茶叶"] and zhang.topic_list == ["价格", "技术"]
    assert zhang.consent_source == f"import:{OFFICER_NAMES['officer']}" and zhang.status == "active"
    assert people["+8613800138002"].preferred_channel == "wechat"
    events = await ConsentEvent.all()
    assert len(events) == 3 and {e.source for e in events} == {f"import:{OFFICER_NAMES['officer']}"}
    audit = await AuditEvent.get(action="POST /api/v1/subscribers")
    assert "3 new" in audit.detail and "2 errors" in audit.detail

    again = await _import(console, csv_text)
    assert again[-1]["report"]["unchanged"] == 3 and again[-1]["report"]["created"] == 0
    assert await ConsentEvent.all().count() == 3


async def test_big_import_reports_progress_every_batch_and_reads_past_one_mebibyte(console: Console) -> None:
    await console.login("officer")
    note = "备注" * 600  # an extra column the import ignores: makes the file larger than 1 MiB
    body = "phone,name,township,note\n" + "".join(f"1390000{i:04d},农户{i},关防乡,{note}\n" for i in range(450))
    assert len(body.encode()) > 1024 * 1024
    lines = await _import(console, body)
    assert [line["done"] for line in lines[:-1]] == [0, 200, 400, 450]
    assert lines[-1]["report"]["created"] == 450 and await Subscriber.all().count() == 450

    too_big = await console.api("POST", "/api/v1/subscribers", data=io.BytesIO(b"x" * (20 * 1024 * 1024 + 1)),
                                headers={"Content-Type": "text/csv"})
    assert too_big.status == 413 and "error" in await too_big.json()


async def test_import_never_resubscribes_people_who_opted_out(console: Console) -> None:
    gone = await Subscriber.create(phone="+8613800138000", name="旧名字", status="opted_out",
                                   consent_source="first_message:sms")
    await console.login("officer")
    lines = await _import(console, HEADER + "13800138000,王大山,关防乡,,柑橘,技术,sms\n")
    report = lines[-1]["report"]
    assert report["opted_out"] == 1 and report["updated"] == 1 and report["created"] == 0
    await gone.refresh_from_db()
    assert gone.status == "opted_out" and gone.name == "王大山" and gone.consent_source == "first_message:sms"
    assert not await ConsentEvent.exists()
    single = await console.api("POST", "/api/v1/subscribers", json={"phone": "13800138000"})
    assert single.status == 409


async def test_bad_files_are_reported_on_line_one(console: Console) -> None:
    await console.login("officer")
    no_phone = await _import(console, "name,township\n张三,关防乡\n")
    assert no_phone[-1]["report"]["errors"][0]["line"] == 1
    assert "缺少 phone 列" in no_phone[-1]["report"]["errors"][0]["error"]
    # Excel on a Chinese PC saves "CSV" as GB18030, with Chinese headers.
    gbk = await _import(console, "手机号,姓名,乡镇,作物\n13800138000,王大山,关防乡,柑橘\n".encode("gb18030"))
    assert gbk[-1]["report"]["created"] == 1
    assert (await Subscriber.get(phone="+8613800138000")).township == "关防乡"


# --- export ------------------------------------------------------------------------------------


async def test_admin_export_round_trips_through_import(console: Console) -> None:
    await Subscriber.create(phone="+8613800138000", name="=HYPERLINK(\"x\")", township="关防乡", village="花果村",
                            crops=pack_set(["柑橘", "茶叶"]), topics=pack_set(["技术", "务工"]))
    await Subscriber.create(phone="+8613800138001", name="李四", township="太平镇", preferred_channel="wechat")
    await Subscriber.create(phone="+8613800138002", name="王五", township="太平镇", status="opted_out")
    before = await Subscriber.all().order_by("phone").values(*_fields())
    await console.login("admin")

    response = await console.client.get("/admin/subscribers/export.csv")
    assert response.status == 200 and response.content_type == "text/csv"
    assert "attachment" in response.headers["Content-Disposition"]
    text = (await response.read()).decode("utf-8")
    assert text.startswith("\ufeff" + HEADER.strip())
    assert "13800138000," in text and "'=HYPERLINK" in text  # a spreadsheet must not run it
    filtered = await (await console.client.get("/admin/subscribers/export.csv?township=太平镇")).text()
    assert filtered.count("\n") == 3
    audit = await AuditEvent.filter(action="subscribers_export").order_by("id")
    assert len(audit) == 2 and audit[0].detail.startswith("3 rows") and "phones full" in audit[0].detail
    assert "township=太平镇" in audit[1].detail

    await Subscriber.all().delete()
    lines = await _import(console, text.encode())
    assert lines[-1]["report"]["created"] == 3 and not lines[-1]["report"]["errors"]
    after = await Subscriber.all().order_by("phone").values(*_fields())
    assert [{**b, "status": "active"} for b in before] == after  # the export leaves status out


def _fields() -> tuple[str, ...]:
    return ("phone", "name", "township", "village", "crops", "topics", "preferred_channel", "status")


async def test_officer_export_masks_phones_and_streams_every_row(console: Console) -> None:
    await _people(1500, township="关防乡")
    await Subscriber.create(phone="+8613800138000", name="王大山", township="关防乡")
    await console.login("officer")
    response = await console.client.get("/admin/subscribers/export.csv")
    text = await response.text()
    assert response.status == 200 and "138****8000,王大山" in text and "13800138000" not in text
    assert text.count("\n") == 1502 and "139****1499,农户1499" in text
    audit = await AuditEvent.get(action="subscribers_export")
    assert audit.detail.startswith("1501 rows") and audit.detail.endswith("phones masked")


# --- JSON API ----------------------------------------------------------------------------------


async def test_api_lists_with_filters_keyset_pages_and_masking(console: Console) -> None:
    await _people(7, township="关防乡", crops=pack_set(["柑橘"]), topics=pack_set(["技术"]))
    await _people(2, township="太平镇", preferred_channel="wechat", status="opted_out")
    officer = await console.token("officer")

    first = await console.client.get("/api/v1/subscribers?limit=5", headers=officer)
    data = await first.json()
    assert first.status == 200 and data["total"] == 9 and len(data["subscribers"]) == 5
    assert data["subscribers"][0]["phone"] == "+86139****0000" and data["next"] == data["subscribers"][-1]["id"]
    assert set(data["subscribers"][0]) >= {"id", "phone", "name", "township", "village", "crops", "topics",
                                          "channel", "status", "created_at"}
    assert data["subscribers"][0]["crops"] == ["柑橘"]
    rest = await (await console.client.get(f"/api/v1/subscribers?limit=5&after={data['next']}",
                                           headers=officer)).json()
    assert len(rest["subscribers"]) == 4 and rest["next"] is None
    assert {s["id"] for s in data["subscribers"]}.isdisjoint({s["id"] for s in rest["subscribers"]})

    async def total(query: str) -> int:
        response = await console.client.get(f"/api/v1/subscribers?{query}", headers=officer)
        assert response.status == 200, await response.text()
        return int((await response.json())["total"])

    assert await total("township=关防乡&crop=柑橘&topic=技术") == 7
    assert await total("channel=wechat&status=opted_out") == 2
    assert await total("q=0008") == 1
    bad = await console.client.get("/api/v1/subscribers?status=gone", headers=officer)
    assert bad.status == 400 and "status" in (await bad.json())["error"]
    assert (await console.client.get("/api/v1/subscribers?limit=0", headers=officer)).status == 400

    admin = await (await console.client.get("/api/v1/subscribers?q=13900000000",
                                            headers=await console.token("admin"))).json()
    assert admin["subscribers"][0]["phone"] == "+8613900000000"


async def test_api_creates_one_refuses_duplicates_and_bad_phones(console: Console) -> None:
    headers = await console.token("officer")
    created = await console.client.post("/api/v1/subscribers", headers=headers, json={
        "phone": "13800138000", "name": "王大山", "township": "关防乡", "village": "花果村",
        "crops": ["柑橘", "茶叶"], "topics": ["技术"], "channel": "sms"})
    body = await created.json()
    assert created.status == 201 and body["phone"] == "+86138****8000" and body["crops"] == ["柑橘", "茶叶"]
    person = await Subscriber.get(id=body["id"])
    assert person.phone == "+8613800138000" and person.consent_source == f"import:{OFFICER_NAMES['officer']}"
    assert await ConsentEvent.filter(subscriber_id=person.id, action="opt_in").count() == 1

    duplicate = await console.client.post("/api/v1/subscribers", headers=headers, json={"phone": "+8613800138000"})
    assert duplicate.status == 409 and "already" in (await duplicate.json())["error"]
    bad = await console.client.post("/api/v1/subscribers", headers=headers, json={"phone": "12345"})
    assert bad.status == 400 and "phone" in (await bad.json())["error"]
    topic = await console.client.post("/api/v1/subscribers", headers=headers,
                                      json={"phone": "13800138001", "topics": ["股票"]})
    assert topic.status == 400 and "topics" in (await topic.json())["error"]
    assert await Subscriber.all().count() == 1

    several = await console.client.post("/api/v1/subscribers", headers=headers, json={"subscribers": [
        {"phone": "13800138001", "name": "李四"}, {"phone": "nope"}, {"phone": "13800138000", "name": "王大山"}]})
    report = (await several.json())["report"]
    assert several.status == 200 and (report["created"], report["updated"], report["unchanged"]) == (1, 0, 1)
    assert report["errors"] == [{"line": 2, "error": "手机号“nope”不是有效的手机号"}]
    assert (await console.client.post("/api/v1/subscribers", headers=headers, data=b"[1")).status == 400


# --- the command line's import (same code) -------------------------------------------------------


async def test_command_line_import_keeps_its_file_and_line_errors(app: web.Application, tmp_path: Path) -> None:
    path = tmp_path / "people.csv"
    path.write_text("phone,township,crops,topics\n13900000001,关防乡,柑橘,技术\nabc,,,\n", encoding="utf-8")
    report = await roster.import_csv(path)
    assert report.created == 1 and report.errors == [f"{path}:3: phone: not a mobile number: 'abc'"]
    person = await Subscriber.get(phone="+8613900000001")
    assert person.consent_source == "import" and await ConsentEvent.filter(source="import").count() == 1
    path.write_bytes(b"\xff\xfe\x00bad")
    assert "not UTF-8" in (await roster.import_csv(path)).errors[0]


# --- the page in a real browser -----------------------------------------------------------------


async def test_browser_import_shows_progress_and_line_errors(site: Site, tmp_path: Path) -> None:
    await site.login("officer")
    path = tmp_path / "名单.csv"
    path.write_text(HEADER + "".join(f"1390000{i:04d},农户{i},关防乡,,柑橘,技术,\n" for i in range(250))
                    + "12345,坏号码,,,,,\n" + "13800138000,王大山,,,,股票,\n", encoding="utf-8")
    page = site.page
    await page.goto(site.url("/admin/subscribers"))
    await page.set_input_files("#import-form input[type=file]", str(path))
    await page.click("#import-form button[type=submit]")
    await page.wait_for_selector("#import-report:not([hidden])")
    summary = await page.inner_text("#import-summary")
    assert "新增 250 人" in summary and "2 行有错" in summary
    rows = await page.locator("#import-errors tbody tr").all_inner_texts()
    assert len(rows) == 2 and "第 252 行" in rows[0] and "第 253 行" in rows[1] and "主题只能是" in rows[1]
    assert await page.get_attribute("#import-progress .progress", "aria-valuenow") == "100"
    await site.shot("subscribers-import")
    assert await Subscriber.all().count() == 250
    async with page.expect_navigation():
        await page.click("text=刷新名单")
    assert "<b>250</b> 人" in await page.content()
