"""JSON API for labour notices: post and list jobs (verified ones are pushed to matching workers), and the
wage-arrears warnings."""

from __future__ import annotations

from datetime import date
from typing import Any

from aiohttp import web

from bot.extend import emit
from bot.keys import CONFIG, OFFICER
from bot.labour import arrears, notices
from bot.labour.events import JOBS_VERIFIED
from bot.labour.fields import JobError
from bot.labour.matching import find_jobs, local_places
from bot.labour.models import Job, WageArrearsNotice
from bot.web import view
from bot.web.auth import error, json_body, requires
from bot.web.fields import Bool, List, Obj, OneOf, Text, Value
from bot.web.params import QUERY, Query, accepts, read_json

MAX_ROWS = 1000
# Rows are checked one by one (bot/labour/notices.py): each row's problems are listed by index, good rows kept.
JOB_ROWS = List(Value(description="a job notice (see the README's Labour notices)"), max_items=MAX_ROWS,
                label="招工信息列表")
JOBS = OneOf(JOB_ROWS, Obj(jobs=JOB_ROWS, description="one job notice, or {\"jobs\": [...]}"))
ARREARS_ROWS = List(Value(description="a warning"), max_items=MAX_ROWS, label="欠薪预警列表")
ARREARS = OneOf(ARREARS_ROWS, Obj(arrears=ARREARS_ROWS, description="one warning, or {\"arrears\": [...]}"))
ARREARS_UPDATE = Obj(active=Bool(label="是否显示"), case_status=Text(50, label="案件进展"))
LIST_JOBS = Query(q=Text(100, label="工种或地点（空格分开）"), all=Bool(label="包括过期和未核实的"))
LIST_ARREARS = Query(all=Bool(label="包括已关闭的"))


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/jobs", post_jobs)
    app.router.add_get("/api/v1/jobs", list_jobs)
    app.router.add_post("/api/v1/jobs/{id:\\d+}/verify", verify_job)
    app.router.add_post("/api/v1/jobs/{id:\\d+}/withdraw", withdraw_job)
    app.router.add_post("/api/v1/arrears", post_arrears)
    app.router.add_get("/api/v1/arrears", list_arrears)
    app.router.add_post("/api/v1/arrears/{id:\\d+}", update_arrears)


async def _rows(request: web.Request, plural: str) -> list[Any] | web.Response:
    """One object, a list of them, or {"<plural>": [...]}."""
    body = await read_json(request)  # the route's declaration has checked its shape
    if isinstance(body, dict) and isinstance(body.get(plural), list) and len(body) == 1:
        body = body[plural]
    rows = body if isinstance(body, list) else [body]
    if not rows:
        return error(400, "no rows given")
    if len(rows) > MAX_ROWS:
        return error(413, f"at most {MAX_ROWS} rows per request")
    return rows


def _job_json(job: Job) -> dict[str, Any]:
    out: dict[str, Any] = {"id": job.id}
    for name in notices.COLUMNS:
        value = getattr(job, name)
        out[name] = value.isoformat() if isinstance(value, date) else value
    out["pushed"] = job.pushed_at is not None
    return out


@requires("officer")
@accepts(body=JOBS)
async def post_jobs(request: web.Request) -> web.Response:
    """Post job notices; verified, current ones are pushed to matching workers.

    Body: a job object, a list of them, or {"jobs": [...]}. Good rows are kept; bad ones are listed
    by index. Verified, current jobs are handed to the job listeners (pushes to matching workers)."""
    rows = await _rows(request, "jobs")
    if isinstance(rows, web.Response):
        return rows
    report = await notices.store_jobs(((f"[{i}]", row) for i, row in enumerate(rows)), view.today(request))
    errors = [{"index": int(where.strip("[]")), "error": message} for where, message in report.errors]
    if not report.ids:
        return web.json_response({"error": "no valid job", "errors": errors}, status=400)
    await emit(request.app, JOBS_VERIFIED, report.verified_ids)
    return web.json_response(
        {"created": report.created, "updated": report.updated, "ids": report.ids, "errors": errors},
        status=201 if report.created else 200,
    )


@requires("officer")
@accepts(query=LIST_JOBS)
async def list_jobs(request: web.Request) -> web.Response:
    """Job notices villagers can see (verified, not expired).

    ?q=建筑 武汉 filters by work type/place; ?all=1 includes expired and unverified notices."""
    today = view.today(request)
    if request[QUERY]["all"]:
        found = await Job.all().order_by("-id").limit(500)
    else:
        words = (request[QUERY]["q"] or "").split()
        found = await find_jobs(words, today, local_places(request.app[CONFIG].bot.county), limit=500)
    return web.json_response({"jobs": [_job_json(j) for j in found]})


def _arrears_json(notice: WageArrearsNotice) -> dict[str, Any]:
    return {"id": notice.id, "employer": notice.employer, "amount": notice.amount,
            "case_status": notice.case_status, "published_by": notice.published_by,
            "published_on": notice.published_on.isoformat(), "active": notice.active}


@requires("officer")
@accepts(body=ARREARS)
async def post_arrears(request: web.Request) -> web.Response:
    """Publish wage-arrears warnings.

    Body: a warning {employer, amount, case_status, published_by, published_on, active}, a list, or
    {"arrears": [...]}. Good rows are kept; bad ones are listed by index."""
    rows = await _rows(request, "arrears")
    if isinstance(rows, web.Response):
        return rows
    today = view.today(request)
    good: list[dict[str, Any]] = []
    errors = []
    for i, row in enumerate(rows):
        try:
            good.append(arrears.parse_arrears(row, today))
        except JobError as exc:
            errors.append({"index": i, "error": str(exc)})
    if not good:
        return web.json_response({"error": "no valid warning", "errors": errors}, status=400)
    made = await arrears.publish(good)
    return web.json_response({"created": len(made), "ids": [n.id for n in made], "errors": errors}, status=201)


@requires("officer")
@accepts(query=LIST_ARREARS)
async def list_arrears(request: web.Request) -> web.Response:
    """Active warnings, newest first; ?all=1 includes closed ones."""
    query = WageArrearsNotice.all() if request[QUERY]["all"] else WageArrearsNotice.filter(active=True)
    found = await query.order_by("-published_on", "-id").limit(500)
    return web.json_response({"arrears": [_arrears_json(n) for n in found]})


@requires("officer")
@accepts(body=ARREARS_UPDATE)
async def update_arrears(request: web.Request) -> web.Response:
    """Update a wage-arrears warning's case status or whether it is shown.

    Body: {"active": false, "case_status": "已结清"} (either or both)."""
    notice = await WageArrearsNotice.get_or_none(id=int(request.match_info["id"]))
    if notice is None:
        return error(404, "no such warning")
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    unknown = sorted(set(body) - {"case_status", "active"})
    if unknown:
        return error(400, f"unknown field {', '.join(unknown)} (expected case_status, active)")
    try:
        notice = await arrears.update_arrears(notice.id, case_status=body.get("case_status", arrears.KEEP),
                                              active=body.get("active", arrears.KEEP))
    except JobError as exc:
        return error(400, str(exc))
    return web.json_response(_arrears_json(notice))


@requires("officer")
async def verify_job(request: web.Request) -> web.Response:
    """Mark a job verified by the caller: villagers see it and matching workers get it pushed once."""
    try:
        job = await notices.verify_job(int(request.match_info["id"]), request[OFFICER].name, view.today(request))
    except LookupError as exc:
        return error(404, str(exc))
    except JobError as exc:
        return error(409, str(exc))
    await emit(request.app, JOBS_VERIFIED, [job.id])
    await job.refresh_from_db()
    return web.json_response(_job_json(job))


@requires("officer")
async def withdraw_job(request: web.Request) -> web.Response:
    """Take a job down: it becomes unverified, so no villager sees it (it can be verified again)."""
    try:
        job = await notices.withdraw_job(int(request.match_info["id"]))
    except LookupError as exc:
        return error(404, str(exc))
    return web.json_response(_job_json(job))
