"""Console pages for labour: job notices (publish, verify, withdraw) and wage-arrears warnings."""

from __future__ import annotations

import asyncio
from pathlib import PurePath
from typing import Any
from urllib.parse import unquote

from aiohttp import web

from bot.extend import emit
from bot.keys import OFFICER
from bot.labour import arrears, notices
from bot.labour.events import JOBS_VERIFIED
from bot.labour.fields import JobError
from bot.labour.models import Job, WageArrearsNotice
from bot.web import auth, console, view
from bot.web.fields import Text
from bot.web.params import Query, accepts
from bot.web.view import render, see_other, translate

LIST_LIMIT = 200
ARREARS_FORM = ("employer", "amount", "case_status", "published_by", "published_on")
STATES = {"": "全部", "current": "展示中", "unverified": "待核实", "expired": "已过期"}
LABELS = {"employer": "用工单位", "work_type": "工种", "place": "工作地点", "wage": "工资", "pay_terms": "结算方式",
          "headcount": "招工人数", "start_date": "开工日期", "end_date": "完工日期", "contact": "联系电话",
          "expires_on": "信息有效期至", "verified_by": "核实人", "amount": "欠薪金额", "case_status": "办理进展",
          "published_by": "发布单位", "published_on": "发布日期", "active": "是否展示"}
# parse_job / parse_arrears messages (after "field: ") -> what an officer reads.
DETAILS = (
    (r"^missing", "必须填写"),
    (r"^longer than (\d+) characters", "最多 {0} 个字"),
    (r"^needs an amount", "要写明金额，如 300元/天"),
    (r"amount", "金额不对，请核对"),
    (r"^needs a phone number", "要有电话号码（7 到 12 位数字）"),
    (r"^expected a whole number|^expected 1 to", "应为 1 到 10000 的整数"),
    (r"^expected a date|^no such date", "日期不对，应写成 2026-03-01 这样"),
    (r"^expected a number of yuan|^expected 0 to", "应为 0 到 1 亿之间的元数"),
    (r"^(\S+) has already passed", "{0} 已经过了"),
    (r"is more than a year ahead", "不能超过一年以后"),
    (r"is before start_date", "早于开工日期"),
    (r"is after the work ends \((\S+)\)", "晚于完工日期 {0}"),
    (r"is in the future", "不能晚于今天"),
)


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/jobs", jobs_page)
    app.router.add_post("/admin/jobs", publish_job)
    app.router.add_post("/admin/jobs/upload", upload_jobs)
    app.router.add_post("/admin/jobs/{id:\\d+}/verify", verify_job)
    app.router.add_post("/admin/jobs/{id:\\d+}/withdraw", withdraw_job)
    app.router.add_post("/admin/jobs/arrears", publish_arrears)
    app.router.add_post("/admin/jobs/arrears/{id:\\d+}", update_arrears)


def job_message(error: str) -> str:
    """'wage: needs an amount, e.g. …' -> '工资：要写明金额，如 300元/天'."""
    name, _, detail = error.partition(": ")
    label = LABELS.get(name, name)
    return f"{label}：{translate(detail, DETAILS) or f'填写有误（{detail}）'}"


async def _notify(request: web.Request, job_ids: list[int]) -> None:
    """Verified, open jobs are announced (pushes to matching workers), as the API does."""
    if job_ids:
        await emit(request.app, JOBS_VERIFIED, job_ids)


@auth.page("officer")
@accepts(query=Query(state=Text(16, choices=tuple(s for s in STATES if s), label="哪些招工")))
async def jobs_page(request: web.Request) -> web.Response:
    return await _show(request)


async def _show(request: web.Request, *, job_form: dict[str, str] | None = None,
                arrears_form: dict[str, str] | None = None, flash_error: str = "",
                status: int = 200, upload: dict[str, Any] | None = None) -> web.Response:
    today = view.today(request)
    state = request.query.get("state", "")
    state = state if state in STATES else ""
    query = Job.all()
    if state == "current":
        query = notices.current(today)
    elif state == "unverified":
        query = notices.unverified(today)
    elif state == "expired":
        query = notices.expired(today)
    found = await query.order_by("-created_at", "-id").limit(LIST_LIMIT)
    counts = {
        "current": await notices.current(today).count(),
        "unverified": await notices.unverified(today).count(),
        "arrears": await WageArrearsNotice.filter(active=True).count(),
    }
    context: dict[str, Any] = {
        "jobs": [(j, notices.is_open(j, today)) for j in found], "state": state, "states": STATES, "counts": counts,
        "arrears": await WageArrearsNotice.all().order_by("-active", "-published_on", "-id").limit(LIST_LIMIT),
        "job_form": {**dict.fromkeys(notices.COLUMNS, ""), "verified": "", **(job_form or {})},
        "arrears_form": {**dict.fromkeys(ARREARS_FORM, ""), **(arrears_form or {})},
        "today": today.isoformat(), "limit": LIST_LIMIT, "upload": upload,
        "back": request.path_qs if request.method == "GET" else "/admin/jobs",  # after a form: the page itself
        "upload_columns": "、".join(LABELS[c] for c in notices.COLUMNS),
    }
    if flash_error:
        context["flash_error"] = flash_error
    return render(request, "jobs/index.html", context, status=status)


def _back(form: Any) -> str:
    back = str(form.get("back", ""))
    return back if back.startswith("/admin/jobs") and "//" not in back else "/admin/jobs"


@auth.page("officer")
async def publish_job(request: web.Request) -> web.Response:
    form = await request.post()
    values = {name: str(form.get(name, "")).strip() for name in notices.COLUMNS if name != "verified_by"}
    verified = form.get("verified") == "1"
    row = {**values, "verified_by": request[OFFICER].name if verified else ""}
    report = await notices.store_jobs([("form", row)], view.today(request))
    if report.errors:
        problem = job_message(report.errors[0][1])
        return await _show(request, job_form={**values, "verified": "1" if verified else ""}, status=400,
                           flash_error=f"招工信息没有保存：{problem}。已填的内容还在下方表中，改好后再提交。")
    await _notify(request, report.verified_ids)
    request[console.AUDIT_DETAIL] = f"{values['employer']} {values['work_type']} verified={verified}"
    done = "已更新原有的同一条招工信息" if report.updated else "已保存招工信息"
    if verified:
        return see_other("/admin/jobs", ok=f"{done}并发布：农户发“找工作”即可查到，"
                                            "登记了相应工种和去向的务工人员会收到推送（每条只推一次）。")
    return see_other("/admin/jobs", ok=f"{done}（未核实）：农户暂时看不到，核实后请点“核实并发布”。")


@auth.page("officer")
async def verify_job(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        job = await notices.verify_job(int(request.match_info["id"]), request[OFFICER].name, view.today(request))
    except LookupError:
        raise web.HTTPNotFound(reason="没有这条招工信息") from None
    except JobError:
        return see_other(_back(form), err="这条招工信息已过期，不能再发布；如仍在招工，请重新填写有效期后发布。")
    await _notify(request, [job.id])
    return see_other(_back(form), ok=f"已核实并发布：{job.employer}招{job.work_type}。"
                                     "农户可以查到，匹配的务工人员会收到推送（每条只推一次）。")


@auth.page("officer")
async def withdraw_job(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        job = await notices.withdraw_job(int(request.match_info["id"]))
    except LookupError:
        raise web.HTTPNotFound(reason="没有这条招工信息") from None
    return see_other(_back(form), ok=f"已撤下：{job.employer}招{job.work_type}。农户不再看到这条信息。")


@auth.page("officer")
async def publish_arrears(request: web.Request) -> web.Response:
    form = await request.post()
    values = {name: str(form.get(name, "")).strip() for name in ARREARS_FORM}
    try:
        parsed = arrears.parse_arrears(values, view.today(request))
    except JobError as exc:
        return await _show(request, arrears_form=values, status=400,
                           flash_error=f"欠薪预警没有发布：{job_message(str(exc))}。已填的内容还在下方表中。")
    [notice] = await arrears.publish([parsed])
    request[console.AUDIT_DETAIL] = f"{notice.employer} {notice.amount:g}"
    return see_other("/admin/jobs", ok=f"已发布欠薪预警：{notice.employer}。农户发“欠薪”或“维权”时会看到。")


@auth.page("officer")
async def update_arrears(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        notice = await arrears.update_arrears(int(request.match_info["id"]),
                                              case_status=str(form.get("case_status", "")),
                                              active=form.get("active") == "1")
    except LookupError:
        raise web.HTTPNotFound(reason="没有这条欠薪预警") from None
    except JobError as exc:
        return see_other("/admin/jobs", err=f"没有保存：{job_message(str(exc))}")
    shown = "继续展示" if notice.active else "已停止展示"
    return see_other("/admin/jobs", ok=f"已更新欠薪预警：{notice.employer}，{shown}。")


@auth.page("officer")
async def upload_jobs(request: web.Request) -> web.Response:
    """A CSV file of job notices, read as `nongbot import jobs` reads it (notices.read_sheet, store_jobs):
    each bad line reported with its number, good rows kept, verified ones announced to matching workers."""
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField) or not upload.filename:
        return await _show(request, flash_error="请选择要上传的招工表（CSV 文件）。", status=400)
    data = await asyncio.to_thread(upload.file.read)
    name = PurePath(unquote(upload.filename).replace("\\", "/")).name[:60] or "招工表"
    sheet = await asyncio.to_thread(notices.read_sheet, data)
    report = await notices.store_jobs(((str(line), row) for line, row in sheet.rows), view.today(request))
    await _notify(request, report.verified_ids)
    lines = sorted([(e.line, e.chinese) for e in sheet.errors]
                   + [(int(where), job_message(message)) for where, message in report.errors])
    summary = (f"“{name}”：新增 {report.created} 条，更新 {report.updated} 条，其中 {len(report.verified_ids)} 条已核实并发布"
               f"（匹配的务工人员会收到推送）；{len(lines)} 行有错没有保存。")
    request[console.AUDIT_DETAIL] = summary
    saved = report.created + report.updated
    return await _show(request, upload={"name": name, "summary": summary, "lines": lines},
                       status=200 if saved or not lines else 400)
