"""Console labour page and API additions: publishing jobs (only verified ones reach villagers and are
pushed), verify and withdraw, refused forms keep what was typed, wage-arrears warnings."""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import aiohttp
import pytest

from bot.keys import CONFIG
from bot.labour import arrears, matching
from bot.labour.models import Job, WageArrearsNotice, WorkerProfile
from bot.models import AuditEvent, Subscriber, pack_set
from broadcasts.models import Broadcast
from tests.helpers import Console, reply_text

pytestmark = pytest.mark.db


def today() -> date:
    return datetime.now(ZoneInfo("Asia/Shanghai")).date()


def day(offset: int) -> str:
    return (today() + timedelta(days=offset)).isoformat()


def flash(response: Any) -> dict[str, str]:
    assert response.status == 303, response.status
    return {k: v[0] for k, v in parse_qs(urlsplit(response.headers["Location"]).query).items()}


def job_form(**changes: str) -> dict[str, str]:
    base = {"employer": "十堰电力安装公司", "work_type": "电工", "place": "十堰市张湾区", "wage": "350元/天",
            "pay_terms": "月结", "headcount": "5", "start_date": day(2), "end_date": day(40),
            "contact": "王经理 13900001111", "expires_on": day(20), "verified": "1"}
    return {**base, **changes}


async def visible(console: Console) -> list[str]:
    local = matching.local_places(console.app[CONFIG].bot.county)
    return [j.employer for j in await matching.find_jobs([], today(), local)]


@pytest.fixture
async def electrician(console: Console) -> Subscriber:
    worker = await Subscriber.create(phone="+8613900000001", topics=pack_set(["务工"]))
    await WorkerProfile.create(subscriber=worker, skills=pack_set(["电工"]))
    return worker


async def test_page_renders_with_explanation(console: Console) -> None:
    await console.login("officer")
    await Job.create(employer="旧工地", work_type="建筑", place="武汉", wage="280元/天", contact="13900005555",
                     expires_on=today() - timedelta(days=1), verified_by="人社局")
    page = await console.client.get("/admin/jobs")
    text = await page.text()
    assert page.status == 200
    for heading in ("务工信息", "招工信息", "发布招工信息", "欠薪预警", "发布欠薪预警"):
        assert heading in text
    assert "只有<b>已核实</b>且未过期的招工信息才会让农户看到" in text and "已过期" in text
    assert "旧工地" not in await (await console.client.get("/admin/jobs?state=current")).text()


async def test_verified_job_from_the_form_reaches_villagers_and_workers(console: Console,
                                                                        electrician: Subscriber) -> None:
    await console.login("officer")
    response = await console.post_form("/admin/jobs", job_form())
    assert "已保存招工信息并发布" in flash(response)["ok"]
    job = await Job.get(employer="十堰电力安装公司")
    assert job.verified_by == "农技员小王" and job.headcount == 5 and job.pushed_at is not None
    push = await Broadcast.get(kind="labour")
    assert push.audience == {"subscriber_ids": [electrician.id]} and "电工" in push.text
    assert "十堰市张湾区电工，350元/天，招5人" in await reply_text(console.app, "找工作")
    assert await AuditEvent.filter(action="POST /admin/jobs").exists()


async def test_unverified_job_is_hidden_until_verified_then_withdrawn(console: Console,
                                                                      electrician: Subscriber) -> None:
    await console.login("officer")
    response = await console.post_form("/admin/jobs", job_form(verified=""))
    assert "未核实" in flash(response)["ok"]
    job = await Job.get(employer="十堰电力安装公司")
    assert job.verified_by == "" and await visible(console) == []
    assert not await Broadcast.filter(kind="labour").exists()
    assert "核实并发布" in await (await console.client.get("/admin/jobs?state=unverified")).text()

    verified = await console.post_form(f"/admin/jobs/{job.id}/verify", {"back": "/admin/jobs?state=unverified"})
    assert verified.headers["Location"].startswith("/admin/jobs?state=unverified&ok=")
    assert await visible(console) == ["十堰电力安装公司"] and await Broadcast.filter(kind="labour").count() == 1

    withdrawn = await console.post_form(f"/admin/jobs/{job.id}/withdraw")
    assert "已撤下" in flash(withdrawn)["ok"] and await visible(console) == []
    await console.post_form(f"/admin/jobs/{job.id}/verify")  # back up again: not pushed a second time
    assert await visible(console) == ["十堰电力安装公司"] and await Broadcast.filter(kind="labour").count() == 1
    assert (await console.post_form("/admin/jobs/999/verify")).status == 404


async def test_bad_job_form_is_refused_and_kept(console: Console) -> None:
    await console.login("officer")
    response = await console.post_form("/admin/jobs", job_form(wage="面议"))
    text = await response.text()
    assert response.status == 400 and "招工信息没有保存：工资：要写明金额" in text
    assert 'value="十堰电力安装公司"' in text and 'value="王经理 13900001111"' in text
    assert not await Job.exists()
    passed = await console.post_form("/admin/jobs", job_form(expires_on=day(-1)))
    assert f"信息有效期至：{day(-1)} 已经过了" in await passed.text()
    expired = await Job.create(employer="旧工地", work_type="建筑", place="武汉", wage="280元/天",
                               contact="13900005555", expires_on=today() - timedelta(days=1))
    refused = await console.post_form(f"/admin/jobs/{expired.id}/verify")
    assert "已过期" in flash(refused)["err"] and (await Job.get(id=expired.id)).verified_by == ""


async def test_arrears_warning_published_and_updated(console: Console) -> None:
    await console.login("officer")
    response = await console.post_form("/admin/jobs/arrears", {
        "employer": "某某劳务公司", "amount": "86000", "case_status": "已立案", "published_by": "县人社局",
        "published_on": ""})
    assert "已发布欠薪预警" in flash(response)["ok"]
    notice = await WageArrearsNotice.get(employer="某某劳务公司")
    assert notice.amount == 86000 and notice.published_on == today() and notice.active
    assert "某某劳务公司欠薪8.6万元" in await reply_text(console.app, "欠薪")
    assert "86,000 元" in await (await console.client.get("/admin/jobs")).text()

    bad = await console.post_form("/admin/jobs/arrears", {"employer": "未来公司", "amount": "很多"})
    text = await bad.text()
    assert bad.status == 400 and "欠薪预警没有发布：欠薪金额" in text and 'value="未来公司"' in text
    assert await WageArrearsNotice.all().count() == 1

    closed = await console.post_form(f"/admin/jobs/arrears/{notice.id}", {"case_status": "已结清"})
    assert "已停止展示" in flash(closed)["ok"]
    notice = await WageArrearsNotice.get(id=notice.id)
    assert notice.case_status == "已结清" and not notice.active
    assert await arrears.active_arrears() == []
    too_long = await console.post_form(f"/admin/jobs/arrears/{notice.id}", {"case_status": "长" * 51, "active": "1"})
    assert "办理进展" in flash(too_long)["err"] and not (await WageArrearsNotice.get(id=notice.id)).active


async def test_api_verify_and_withdraw(console: Console, electrician: Subscriber) -> None:
    token = await console.token("officer")
    job = await Job.create(employer="十堰电力", work_type="电工", place="十堰", wage="300元/天",
                           contact="13900002222", expires_on=today() + timedelta(days=5))
    verified = await console.client.post(f"/api/v1/jobs/{job.id}/verify", headers=token)
    body = await verified.json()
    assert verified.status == 200 and body["verified_by"] == "农技员小王" and body["pushed"] is True
    assert (await Broadcast.get(kind="labour")).audience == {"subscriber_ids": [electrician.id]}
    withdrawn = await console.client.post(f"/api/v1/jobs/{job.id}/withdraw", headers=token)
    assert (await withdrawn.json())["verified_by"] == "" and await visible(console) == []
    assert (await console.client.post("/api/v1/jobs/999/withdraw", headers=token)).status == 404
    old = await Job.create(employer="旧", work_type="电工", place="十堰", wage="300元/天", contact="13900002222",
                           expires_on=today() - timedelta(days=1))
    late = await console.client.post(f"/api/v1/jobs/{old.id}/verify", headers=token)
    assert late.status == 409 and "has already passed" in (await late.json())["error"]
    assert (await console.client.post(f"/api/v1/jobs/{job.id}/verify")).status == 401


async def test_a_job_file_is_uploaded_with_each_bad_line_reported(console: Console, electrician: Subscriber) -> None:
    await console.login("officer")
    data = ("用工单位,工种,工作地点,工资,联系电话,有效期至,核实人\n"
            f"十堰电力安装公司,电工,十堰市张湾区,350元/天,王经理 13900001111,{day(20)},县人社局\n"
            f"丹江口茶厂,采茶,丹江口市,面议,13900002222,{day(20)},\n"
            f"武当山茶园,采茶,丹江口市,120元/天,13900003333,{day(20)},\n"
            f"旧工地,建筑,武汉,280元/天,13900005555,{day(-1)},县人社局\n").encode("gbk")
    form = aiohttp.FormData()
    form.add_field("_csrf", console.csrf)
    form.add_field("file", data, filename="招工.csv", content_type="text/csv")
    response = await console.client.post("/admin/jobs/upload", data=form)
    body = await response.text()
    assert response.status == 200, body
    assert "“招工.csv”：新增 2 条，更新 0 条，其中 1 条已核实并发布" in body and "2 行有错没有保存" in body
    lines = re.findall(r"<tr><td>第 (\d+) 行</td><td>([^<]+)</td></tr>", body)
    assert [n for n, _ in lines] == ["3", "5"]
    assert lines[0][1].startswith("工资：要写明金额") and "已经过了" in lines[1][1]
    assert await Job.filter(employer="武当山茶园", verified_by="").exists()  # kept, waiting to be verified
    push = await Broadcast.get(kind="labour")
    assert push.audience == {"subscriber_ids": [electrician.id]}
    audit = await AuditEvent.filter(action="POST /admin/jobs/upload").get()
    assert audit.detail.startswith("“招工.csv”：新增 2 条")

    header = aiohttp.FormData()
    header.add_field("_csrf", console.csrf)
    header.add_field("file", "用工单位,薪水\n甲,1\n".encode(), filename="x.csv", content_type="text/csv")
    refused = await console.client.post("/admin/jobs/upload", data=header)
    assert refused.status == 400 and "第 1 行" in await refused.text()
