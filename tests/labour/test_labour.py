"""Labour notices: job rows with located errors, matching and expiry, the text commands through the
inbound pipeline, the JSON API, and pushes to matching workers at most once a day."""

from __future__ import annotations

import subprocess
import sys
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from bot.config import Config
from bot.keys import CONFIG, SEARCH
from bot.labour import matching, notices, workers
from bot.labour import push as job_push
from bot.labour.models import Job, WageArrearsNotice, WorkerProfile
from bot.models import ConsentEvent, Subscriber, pack_set, unpack_set
from bot.sms import ucs2_capacity
from bot.web import auth
from broadcasts.models import Broadcast
from content import importer
from content.loader import BUNDLED, read_path
from tests.conftest import ROOT
from tests.helpers import PHONE, reply_text, say

pytestmark = pytest.mark.db

TZ = ZoneInfo("Asia/Shanghai")


def today() -> date:
    return datetime.now(TZ).date()


def day(offset: int) -> str:
    return (today() + timedelta(days=offset)).isoformat()


def job(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "employer": "武汉宏达建设", "work_type": "建筑小工", "place": "武汉市", "wage": "300元/天",
        "pay_terms": "月结", "headcount": 10, "start_date": day(3), "end_date": day(60),
        "contact": "027-8888 6666", "expires_on": day(20), "verified_by": "县人社局王明",
    }
    return {**base, **changes}


def sms_budget(config: Config) -> int:
    return ucs2_capacity(config.sms.max_segments) - len(config.sms.signature)


# --- Parsing -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("changes", "message"), [
    ({"employer": ""}, "employer: missing"),
    ({"wage": "面议"}, "wage: needs an amount"),
    ({"wage": "-300元/天"}, "wage: negative"),
    ({"wage": "3000000元/月"}, "wage: not a believable"),
    ({"contact": "找老李"}, "contact: needs a phone number"),
    ({"headcount": "0"}, "headcount: expected 1 to"),
    ({"headcount": "十个"}, "headcount: expected a whole number"),
    ({"expires_on": ""}, "expires_on: missing"),
    ({"expires_on": day(-1)}, "has already passed"),
    ({"expires_on": day(400), "end_date": ""}, "more than a year ahead"),
    ({"start_date": "2026-02-30"}, "start_date: no such date"),
    ({"start_date": "下个月"}, "start_date: expected a date"),
    ({"start_date": day(10), "end_date": day(5), "expires_on": day(4)}, "before start_date"),
    ({"expires_on": day(70)}, "after the work ends"),
    ({"salary": "1"}, "unknown field salary"),
    ({"employer": "x" * 101}, "employer: longer than 100"),
])
def test_bad_job_fields_are_named(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(notices.JobError, match=message):
        notices.parse_job(job(**changes), today())


def test_good_job_fields_are_normalised() -> None:
    parsed = notices.parse_job(job(headcount="5人", start_date="2026/3/1", end_date="", expires_on=day(1)), today())
    assert parsed["headcount"] == 5 and parsed["start_date"] == date(2026, 3, 1) and parsed["end_date"] is None
    assert notices.parse_job(job(headcount=None, verified_by=None), today())["headcount"] == 1


async def test_csv_reports_bad_rows_by_line_and_keeps_good_ones(app: web.Application, tmp_path: Path) -> None:
    header = ",".join(notices.COLUMNS)
    rows = [
        header,
        f"十堰华联电子,普工,十堰市,4500元/月,月结,20,{day(1)},,0719-5550000,{day(30)},县人社局",
        f"坏老板,建筑,武汉,-200元/天,,3,,,13900001111,{day(10)},",
        f"郧西茶厂,采茶,郧西县,120元/天,日结,15,,,13900002222,{day(-2)},乡劳动站",
        '"逗号,公司",电工,"武汉","350元/天",,2,,,13900003333,' + day(9) + ",",
        f"十堰华联电子,普工,十堰市,4800元/月,月结,30,{day(1)},,0719-5550000,{day(30)},县人社局",
        "",
        f"多一格,电工,武汉,300元/天,,1,,,13900004444,{day(9)},,extra",
    ]
    path = tmp_path / "jobs.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    report = await notices.import_csv(path, today())
    lines = report.error_lines()
    assert [line.split(": ")[0] for line in lines] == [f"{path}:3", f"{path}:4", f"{path}:8"]
    assert "wage: negative" in lines[0] and "already passed" in lines[1] and "more cells" in lines[2]
    # Line 6 repeats line 2 (same employer, work, place, start): one notice, the later values.
    assert report.created == 2 and await Job.all().count() == 2
    plant = await Job.get(employer="十堰华联电子")
    assert plant.headcount == 30 and plant.wage == "4800元/月"
    assert report.verified_ids == [plant.id]  # the other one has no verified_by
    again = await notices.import_csv(path, today())
    assert again.created == 0 and again.updated == 2 and await Job.all().count() == 2


async def test_csv_header_problems_stop_the_file(app: web.Application, tmp_path: Path) -> None:
    path = tmp_path / "jobs.csv"
    path.write_text("employer,place\n某厂,武汉\n", encoding="utf-8")
    report = await notices.import_csv(path, today())
    assert report.error_lines() == [f"{path}:1: missing column work_type, wage, contact, expires_on "
                                    f"(expected {','.join(notices.COLUMNS)})"]
    path.write_bytes(b"PK\x03\x04\xff\xfe\x00")  # an .xlsx, not its CSV
    assert (await notices.import_csv(path, today())).error_lines() == [
        f"{path}:1: not UTF-8 or GBK text (save the sheet as CSV UTF-8)"]
    # What Excel saves on a Chinese PC: GBK, Chinese headers, spaces after the commas.
    path.write_bytes(("用工单位, 工种, 工作地点, 工资, 联系电话, 有效期至\n"
                      f"某厂, 普工, 十堰市, 4500元/月, 13900001111, {day(9)}\n").encode("gbk"))
    report = await notices.import_csv(path, today())
    assert report.errors == [] and (await Job.get()).employer == "某厂"


# --- Matching and expiry -------------------------------------------------------------------------

async def store(*rows: dict[str, Any]) -> list[int]:
    report = await notices.store_jobs(((f"[{i}]", r) for i, r in enumerate(rows)), today())
    assert not report.errors, report.errors
    return report.ids


async def test_search_matches_work_type_and_place_and_hides_expired(app: web.Application) -> None:
    await store(
        job(),
        job(employer="十堰电力", work_type="电工", place="十堰市张湾区", wage="350元/天"),
        job(employer="郧西茶厂", work_type="采茶", place="郧西县关防乡", wage="120元/天", start_date=None),
        job(employer="未核实的厂", work_type="电工", place="武汉", verified_by=""),
    )
    expired = await Job.create(employer="旧工地", work_type="建筑", place="武汉", wage="280元/天",
                               contact="13900005555", expires_on=today() - timedelta(days=1), verified_by="人社局")
    local = matching.local_places("郧西县")
    names = lambda found: sorted(j.employer for j in found)  # noqa: E731
    assert names(await matching.find_jobs(["建筑", "武汉"], today(), local)) == ["武汉宏达建设"]
    assert names(await matching.find_jobs(["本地"], today(), local)) == ["郧西茶厂"]
    assert names(await matching.find_jobs(["电工"], today(), local)) == ["十堰电力"]
    assert names(await matching.find_jobs(["十堰"], today(), local)) == ["十堰电力"]
    assert len(await matching.find_jobs([], today(), local)) == 3
    assert await notices.open_job(expired.id, today()) is None
    # The last day of a notice still shows it; the next day it is gone.
    assert len(await matching.find_jobs([], today() + timedelta(days=20), local)) == 3
    assert len(await matching.find_jobs([], today() + timedelta(days=21), local)) == 0


def test_worker_matching_rules() -> None:
    notice = Job(employer="厂", work_type="电工", place="十堰市", wage="300元/天", contact="1",
                 expires_on=today(), end_date=today() + timedelta(days=5))
    local = matching.local_places("郧西县")

    def wants(skills: list[str], places: list[str], available: date | None = None) -> bool:
        profile = WorkerProfile(skills=pack_set(skills), destinations=pack_set(places), available_from=available)
        return matching.worker_wants(notice, profile, local)

    assert wants(["电工"], ["十堰"]) and wants(["电工"], []) and wants([], ["十堰市"]) and wants([], [])
    assert not wants(["厨师"], ["十堰"]) and not wants(["电工"], ["武汉"]) and not wants(["电工"], ["本地"])
    assert not wants(["电工"], [], today() + timedelta(days=30))
    assert workers.split_profile_words(["电工", "十堰市", "本地", "武汉"], "郧西县") == (
        ["电工"], ["十堰", "本地", "武汉"])


# --- Text commands through the inbound pipeline --------------------------------------------------

async def test_find_jobs_by_text_and_details(app: web.Application) -> None:
    config = app[CONFIG]
    await store(*[job(employer=f"武汉建工{i}队", start_date=day(i)) for i in range(5)],
                job(employer="郧西茶厂", work_type="采茶", place="郧西县", wage="120元/天"))
    text = await reply_text(app, "找工作")
    assert text.count("\n") == 4 and "详情1" in text and len(text) <= sms_budget(config)
    text = await reply_text(app, "务工 建筑 武汉")
    assert "建筑" in text and "郧西" not in text and "1." in text and "3." in text and "4." not in text
    details = await reply_text(app, "详情 2")
    assert "电话：027-8888 6666" in details and "300元/天，月结" in details and "押金" in details
    assert len(details) <= sms_budget(config)
    assert "电话" in await reply_text(app, "3")  # a bare number picks from the list too
    assert "没有第9条" in await reply_text(app, "详情9")
    text = await reply_text(app, "工作 本地")
    assert "郧西茶厂" not in text and "郧西县采茶" in text
    assert "120元/天" in await reply_text(app, "详情")  # one notice listed: 详情 alone opens it
    assert "暂时没有厨师、深圳的招工信息" in await reply_text(app, "务工 厨师 深圳")
    assert "招工" in await reply_text(app, "务工建筑武汉")  # unspaced
    wechat = await reply_text(app, "找工作", address="oWechatUser0000000000000001", channel="wechat")
    assert "6." in wechat and "武汉建工" in wechat  # WeChat lists more, with the employer


async def test_details_of_a_job_that_expired_since_the_list(app: web.Application) -> None:
    [job_id] = await store(job())
    await reply_text(app, "找工作")
    await Job.filter(id=job_id).update(expires_on=today() - timedelta(days=1))
    assert "过期" in await reply_text(app, "详情1")
    assert "请先发“找工作”" in await reply_text(app, "详情1", address="+8613800138001")


async def test_questions_about_work_go_to_the_knowledge_base(app: web.Application) -> None:
    # The whole bundle, as a county has it: with the five labour articles alone, every one of them
    # mentions wages, so none leads enough for the answer gate to be sure.
    await importer.upsert(read_path(BUNDLED).articles)
    await app[SEARCH].refresh()
    for question, title in (("务工 老板欠工资不给咋办", "拖欠工资"), ("工地上摔伤了算工伤不", "工伤")):
        outcome = await say(app, question)
        assert outcome.handler == "search.answer_question"
        assert outcome.reply is not None and "农技员" not in outcome.reply.text
        assert title in app[SEARCH].search(question).best.title  # type: ignore[union-attr]
    assert jobs_query("务工 合同咋签") is None and jobs_query("务工 建筑 武汉") == ["建筑", "武汉"]


def jobs_query(text: str) -> list[str] | None:
    from handlers.labour import query_words

    return query_words(text, "郧西县")


async def test_register_as_worker(app: web.Application) -> None:
    text = await reply_text(app, "登记务工 电工 十堰")
    assert "务工登记好了" in text and "工种：电工" in text and "地方：十堰" in text
    sub = await Subscriber.get(phone=PHONE)
    profile = await WorkerProfile.get(subscriber=sub)
    assert unpack_set(profile.skills) == ["电工"] and unpack_set(profile.destinations) == ["十堰"]
    assert "务工" in sub.topic_list
    assert await ConsentEvent.filter(subscriber=sub, source="keyword:登记务工:sms").count() == 1
    text = await reply_text(app, "登记务工 焊工 武汉 本地")
    assert "已更新" in text
    await profile.refresh_from_db()
    assert unpack_set(profile.skills) == ["焊工"] and sorted(unpack_set(profile.destinations)) == ["本地", "武汉"]
    assert await WorkerProfile.all().count() == 1
    assert "每天最多推3条" in await reply_text(app, "多推")
    assert "每天最多推5条" in await reply_text(app, "多推 9")
    assert "每天最多推1条" in await reply_text(app, "少推")
    assert "请按" in await reply_text(app, "登记务工")
    # Registering for work after a full opt-out resumes pushes, with the consent recorded.
    await reply_text(app, "TD", address="+8613800138002")
    await reply_text(app, "登记务工 厨师", address="+8613800138002")
    assert (await Subscriber.get(phone="+8613800138002")).status == "active"


async def test_other_words_keep_their_meaning(app: web.Application) -> None:
    assert "已订阅：务工" in await reply_text(app, "订阅 务工")
    assert "已退订：务工" in await reply_text(app, "退订 务工")
    assert "已退订" in await reply_text(app, "取消")
    assert (await Subscriber.get(phone=PHONE)).status == "opted_out"
    assert "登记好了" in await reply_text(app, "登记 张三 关防乡 东川村")
    assert "您还没有务工登记" in await reply_text(app, "多推")


async def test_labour_rights_and_arrears_warnings(app: web.Application) -> None:
    config = app[CONFIG]
    text = await reply_text(app, "维权")
    assert config.bot.labour_hotline in text and "目前没有欠薪预警" in text
    for i in range(12):
        await WageArrearsNotice.create(employer=f"某某劳务公司{i}", amount=120000 + i, case_status="立案调查中",
                                       published_by="县人社局", published_on=today() - timedelta(days=i))
    await WageArrearsNotice.create(employer="已结清公司", amount=5000, published_on=today(), active=False)
    text = await reply_text(app, "欠薪")
    assert "某某劳务公司0欠薪12.0万元" in text and "已结清" not in text and len(text) <= sms_budget(config)
    wechat = await reply_text(app, "讨薪", address="oWechatUser0000000000000002", channel="wechat")
    assert "某某劳务公司9" in wechat


# --- JSON API ------------------------------------------------------------------------------------

def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def officer_token() -> str:
    return await auth.create_token(await auth.add_officer("wang", "officer", "password-123"))


async def test_jobs_api(client: TestClient) -> None:
    assert (await client.post("/api/v1/jobs", json=job())).status == 401
    assert (await client.get("/api/v1/jobs", headers=bearer("nb_wrong"))).status == 401
    headers = bearer(await officer_token())
    bad = await client.post("/api/v1/jobs", data="{not json", headers=headers)
    assert bad.status == 400 and "JSON" in (await bad.json())["error"]
    none = await client.post("/api/v1/jobs", json=[job(wage="面议")], headers=headers)
    assert none.status == 400 and (await none.json())["errors"][0]["index"] == 0
    assert (await client.post("/api/v1/jobs", json=[], headers=headers)).status == 400
    one = await client.post("/api/v1/jobs", json=job(), headers=headers)
    assert one.status == 201 and (await one.json())["created"] == 1
    many = await client.post("/api/v1/jobs", headers=headers, json={"jobs": [
        job(employer="十堰电力", work_type="电工", place="十堰"), "not an object", job(contact="无")]})
    body = await many.json()
    assert many.status == 201 and body["created"] == 1
    assert [e["index"] for e in body["errors"]] == [1, 2] and "contact" in body["errors"][1]["error"]
    again = await client.post("/api/v1/jobs", json=job(wage="320元/天"), headers=headers)
    assert again.status == 200 and (await again.json())["updated"] == 1
    listed = (await (await client.get("/api/v1/jobs?q=电工", headers=headers)).json())["jobs"]
    assert [j["employer"] for j in listed] == ["十堰电力"] and listed[0]["expires_on"] == day(20)
    assert len((await (await client.get("/api/v1/jobs", headers=headers)).json())["jobs"]) == 2


async def test_arrears_api(client: TestClient) -> None:
    assert (await client.get("/api/v1/arrears")).status == 401
    headers = bearer(await officer_token())
    made = await client.post("/api/v1/arrears", headers=headers, json=[
        {"employer": "某劳务公司", "amount": 86000, "case_status": "已立案", "published_by": "县人社局"},
        {"employer": "未来公司", "published_on": day(3)},
        {"employer": "负数公司", "amount": -5},
    ])
    body = await made.json()
    assert made.status == 201 and body["created"] == 1
    assert [e["index"] for e in body["errors"]] == [1, 2] and "future" in body["errors"][0]["error"]
    [notice_id] = body["ids"]
    listed = (await (await client.get("/api/v1/arrears", headers=headers)).json())["arrears"]
    assert listed[0]["employer"] == "某劳务公司" and listed[0]["published_on"] == day(0)
    closed = await client.post(f"/api/v1/arrears/{notice_id}", headers=headers,
                               json={"active": False, "case_status": "已结清"})
    assert closed.status == 200 and (await closed.json())["case_status"] == "已结清"
    assert (await (await client.get("/api/v1/arrears", headers=headers)).json())["arrears"] == []
    assert (await client.post("/api/v1/arrears/999", headers=headers, json={})).status == 404
    bad = await client.post(f"/api/v1/arrears/{notice_id}", headers=headers, json={"amount": 1})
    assert bad.status == 400 and "unknown field amount" in (await bad.json())["error"]


async def test_verified_jobs_posted_to_the_api_are_pushed(client: TestClient) -> None:
    worker = await Subscriber.create(phone="+8613900000001", topics=pack_set(["务工"]))
    await WorkerProfile.create(subscriber=worker, skills=pack_set(["电工"]))
    headers = bearer(await officer_token())
    await client.post("/api/v1/jobs", json=job(work_type="电工", verified_by=""), headers=headers)
    assert await Broadcast.filter(kind="labour").count() == 0  # not verified: stored, not pushed
    await client.post("/api/v1/jobs", json=job(work_type="电工"), headers=headers)  # now verified
    pushed = await Broadcast.get(kind="labour")
    assert pushed.audience == {"subscriber_ids": [worker.id]} and "电工" in pushed.text


# --- Pushes to matching workers ------------------------------------------------------------------

async def worker(phone: str, skills: list[str], places: list[str], **kw: Any) -> Subscriber:
    sub = await Subscriber.create(phone=phone, topics=pack_set(kw.pop("topics", ["务工"])),
                                  status=kw.pop("status", "active"), township=kw.pop("township", ""))
    await WorkerProfile.create(subscriber=sub, skills=pack_set(skills), destinations=pack_set(places),
                               home_township=sub.township, **kw)
    return sub


async def test_pushes_reach_matching_workers_once_a_day(app: web.Application) -> None:
    config = app[CONFIG]
    electrician = await worker("+8613900000001", ["电工"], ["十堰"])
    anywhere = await worker("+8613900000002", ["电工"], [])
    keen = await worker("+8613900000003", ["电工"], [], max_pushes_per_day=2)
    await worker("+8613900000004", ["厨师"], [])  # other work
    await worker("+8613900000005", ["电工"], ["武汉"])  # other place
    await worker("+8613900000006", ["电工"], [], status="opted_out")
    await worker("+8613900000007", ["电工"], [], topics=["技术"])  # 退订 务工
    await worker("+8613900000008", ["电工"], [], active=False)
    first, second, third = await store(
        job(employer="十堰电力", work_type="电工", place="十堰市"),
        job(employer="十堰水电", work_type="水电工", place="十堰市", start_date=day(5)),
        job(employer="郧西电力", work_type="电工", place="郧西县", start_date=day(6)),
    )
    assert await job_push.push_jobs(config, [first]) == 3
    broadcast = await Broadcast.get(kind="labour")
    assert broadcast.audience["subscriber_ids"] == sorted([electrician.id, anywhere.id, keen.id])
    assert broadcast.state == "scheduled" and broadcast.approved_by_id is not None
    assert "十堰电力招电工10人" in broadcast.text and len(broadcast.text) <= sms_budget(config)
    assert await job_push.push_jobs(config, [first]) == 0  # a job is pushed once
    # Second job the same day: only the worker who asked for two a day still has one left.
    assert await job_push.push_jobs(config, [second]) == 1
    assert (await Broadcast.filter(kind="labour").order_by("-id").first()).audience == {"subscriber_ids": [keen.id]}
    assert await job_push.push_jobs(config, [third]) == 0
    assert await Broadcast.filter(kind="labour").count() == 2  # nobody left: no empty broadcast
    # Tomorrow everyone has a push again.
    await WorkerProfile.all().update(last_pushed_on=today() - timedelta(days=1))
    fourth = (await store(job(employer="郧西电力二队", work_type="电工", place="郧西县")))[0]
    assert await job_push.push_jobs(config, [fourth]) == 2  # electrician wants 十堰 only


async def test_local_workers_and_expired_jobs(app: web.Application) -> None:
    config = app[CONFIG]
    home = await worker("+8613900000011", [], ["本地"], township="关防乡")
    [local_job] = await store(job(employer="关防乡合作社", work_type="采茶", place="关防乡"))
    assert await job_push.push_jobs(config, [local_job]) == 1
    assert (await Broadcast.get(kind="labour")).audience == {"subscriber_ids": [home.id]}
    old = await Job.create(employer="过期", work_type="采茶", place="郧西县", wage="100元/天", contact="13900000000",
                           expires_on=today() - timedelta(days=1), verified_by="人社局")
    await WorkerProfile.all().update(last_pushed_on=None, pushes_today=0)
    assert await job_push.push_jobs(config, [old.id, 9999]) == 0
    assert await Broadcast.filter(kind="labour").count() == 1


def test_import_jobs_command_pushes_verified_rows(db_url: str, tmp_path: Path) -> None:
    env = {"NONGBOT_DATABASE_URL": db_url, "NONGBOT_SMS_QUIET_HOURS": "", "PATH": "/usr/bin:/bin"}
    path = tmp_path / "jobs.csv"
    path.write_text(",".join(notices.COLUMNS) + "\n"
                    f"十堰电力,电工,十堰,300元/天,,2,,,13900000000,{day(5)},人社局\n"
                    "坏行,电工,十堰,300元/天,,2,,,13900000000,昨天,\n", encoding="utf-8")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml"), *args],
                              capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)

    proc = run("import", "jobs", str(path))
    assert proc.returncode == 1, proc.stderr
    assert f"{path}:3: expires_on" in proc.stderr and "jobs: 1 new, 0 updated, 1 skipped; 0 workers" in proc.stdout
    assert run("import", "jobs", str(tmp_path / "missing.csv")).returncode == 2
