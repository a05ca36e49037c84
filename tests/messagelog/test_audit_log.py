"""操作记录 in Chinese: one sentence per officer act naming what was acted on, previews left out, filters,
phones masked for supervisors, the CSV export; and bot/web/export.py's cells."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta

import pytest

from bot.models import AuditEvent, Officer, Subscriber
from bot.web import audit, export
from broadcasts.models import Broadcast
from tests.helpers import OFFICER_NAMES, Console

pytestmark = pytest.mark.db
WANG, LI = OFFICER_NAMES["officer"], OFFICER_NAMES["supervisor"]


@pytest.mark.parametrize(("value", "kept"), [
    ("=1+1", "'=1+1"), ("+8613800138000", "'+8613800138000"), ("-5", "'-5"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=cmd", "'\t=cmd"), ("柑橘 3.5 元", "柑橘 3.5 元"), (None, ""), (12, "12"), ("a=b", "a=b"),
])
def test_formula_cells_are_kept_as_text(value: object, kept: str) -> None:
    assert export.cell(value) == kept


async def _acts() -> Broadcast:
    officer = await Officer.get(name=WANG)
    cast = await Broadcast.create(kind="tip", text="明早有霜冻，柑橘园请盖膜。\n第二行", created_by=officer,
                                  audience={})
    person = await Subscriber.create(phone="+8613800138000", name="", consent_source="demo")
    rows = [
        (WANG, "login", "", ""), (WANG, "POST /admin/broadcasts", "", f"broadcast {cast.id}"),
        (WANG, "POST /api/v1/broadcasts/preview", "", ""),  # typing in the compose box: not an act
        (LI, "POST /admin/broadcasts/{id}/approve", f"id={cast.id}", ""),
        (WANG, "POST /admin/subscribers/{id}/opt-out", f"id={person.id}", "农户来电 13700137000 要求退订"),
        (WANG, "POST /admin/prices/unmapped/map", "", ""), (LI, "DELETE /api/v1/prices/{id}", "id=7", ""),
        (WANG, "POST /admin/brand-new/{id}/{thing}", "id=3", ""),
    ]
    for name, action, target, detail in rows:
        await AuditEvent.create(officer_name=name, action=action, target=target, detail=detail, ip="127.0.0.1")
    return cast


async def test_each_act_is_one_chinese_sentence(console: Console) -> None:
    await _acts()
    await console.login("supervisor")
    text = await (await console.client.get("/admin/audit")).text()
    for said in (f"{WANG} 登录了后台", f"{WANG} 新建了群发", f"{LI} 批准了群发《明早有霜冻，柑橘园请盖膜。》",
                 f"{WANG} 代为退订了农户+86138****8000", f"{WANG} 归并了未识别的品名", f"{LI} 删除了价格 7 号",
                 f"{LI} 登录了后台"):
        assert said in text, said
    assert "preview" not in text and "POST /" not in text
    assert "137****7000" in text and "13700137000" not in text  # a supervisor sees phones masked
    await console.login("admin")
    assert "13700137000" in await (await console.client.get("/admin/audit")).text()


@pytest.mark.parametrize(("query", "shown", "hidden"), [
    (f"officer={LI}", ["批准了群发"], ["代为退订了"]),
    ("kind=broadcasts", ["批准了群发", "新建了群发"], ["代为退订了", "登录了后台"]),
    ("kind=login", ["登录了后台"], ["批准了群发"]),
    ("kind=subscribers", ["代为退订了"], ["批准了群发"]),
])
async def test_filters(console: Console, query: str, shown: list[str], hidden: list[str]) -> None:
    await _acts()
    await console.login("supervisor")
    text = await (await console.client.get(f"/admin/audit?{query}")).text()
    assert all(s in text for s in shown) and not any(h in text for h in hidden), query


async def test_day_filter_and_a_wrong_day(console: Console) -> None:
    await _acts()
    old = await AuditEvent.create(officer_name=WANG, action="POST /admin/articles", ip="")
    await AuditEvent.filter(id=old.id).update(created_at=datetime.now(UTC) - timedelta(days=40))
    await console.login("supervisor")
    since = (datetime.now(UTC) - timedelta(days=2)).date()
    text = await (await console.client.get(f"/admin/audit?since={since}")).text()
    assert "新建了文章" not in text and "批准了群发" in text
    until = (datetime.now(UTC) - timedelta(days=30)).date()
    assert "新建了文章" in await (await console.client.get(f"/admin/audit?until={until}")).text()
    bad = await console.client.get("/admin/audit?since=2026-13-01", allow_redirects=False)
    assert bad.status == 303 and "err=" in bad.headers["Location"]


async def test_export_and_api(console: Console) -> None:
    await _acts()
    await console.login("supervisor")
    response = await console.client.get("/admin/audit/export.csv?kind=broadcasts")
    raw = await response.read()
    assert response.status == 200 and raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0] == ["时间", "操作", "说明", "来源 IP"]
    assert [r[1] for r in rows[1:]] == [f"{LI} 批准了群发《明早有霜冻，柑橘园请盖膜。》", f"{WANG} 新建了群发"]
    api = await (await console.client.get("/api/v1/audit?kind=subscribers",
                                          headers=await console.token("supervisor"))).json()
    assert [e["text"] for e in api["events"]] == [f"{WANG} 代为退订了农户+86138****8000"]
    # the export itself is on the record, and an officer cannot read the log
    assert await AuditEvent.filter(action="audit_export", officer_name=LI).exists()
    await console.login("officer")
    assert (await console.client.get("/admin/audit/export.csv")).status == 403


def test_unknown_routes_still_read_as_chinese() -> None:
    event = AuditEvent(officer_name=WANG, action="POST /admin/brand-new/{id}/{thing}", target="id=3")
    act = audit.read(event)
    assert audit.sentence(event, act, {}) == f"{WANG} 修改了记录 3 号"


@pytest.mark.parametrize(("action", "said"), [
    ("POST /admin/prices/upload", "上传了价格"), ("POST /admin/jobs/upload", "上传了务工信息"),
    ("POST /admin/trade/buyers/import", "导入了供求"),
])
def test_uploads_read_as_uploads(action: str, said: str) -> None:
    event = AuditEvent(officer_name=WANG, action=action, target="")
    assert said in audit.sentence(event, audit.read(event), {})
