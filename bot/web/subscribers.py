"""农户 (subscribers): search, a person's profile, CSV import with progress, export, and the JSON API."""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from bot import consent, roster, sandbox
from bot.extend import MenuEntry, add_menu
from bot.keys import OFFICER
from bot.models import CHANNELS, TOPICS, ConsentEvent, Message, Subscriber
from bot.phones import mask_phones_in, normalise_phone
from bot.questions.models import Question
from bot.web import auth, console, limits
from bot.web.auth import error, json_body, requires
from bot.web.params import MAX_ID, QUERY, Int, List, Obj, Query, Scalar, Text, accepts
from bot.web.view import phone_for, render

log = logging.getLogger("nongbot.console.subscribers")
PAGE = 50
API_LIMIT = 500
MAX_CSV_BYTES = 20 * 1024 * 1024
MAX_JSON_PEOPLE = 5000
FILTERS = ("q", "township", "village", "crop", "topic", "channel", "status")
CHANNEL_NAMES = {"sms": "短信", "wechat": "微信"}
STATUS_NAMES = {"active": "接收中", "opted_out": "已退订"}
MESSAGE_STATES = {"processing": "处理中", "answered": "已回复", "failed": "失败", "queued": "排队中",
                  "sending": "发送中", "sent": "已发出", "delivered": "已送达", "undelivered": "未送达"}
CSV_TYPES = ("text/csv", "application/csv")
SEARCH_QUERY = dict(
    q=Text(50, label="姓名、村名或手机号（后 4 位或完整号码）"), township=Text(50, label="乡镇"),
    village=Text(50, label="村"), crop=Text(50, label="作物"), topic=Text(50, label="主题"),
    channel=Text(16, choices=CHANNELS, label="渠道"), status=Text(16, choices=tuple(STATUS_NAMES), label="状态"))
LIST_QUERY = Query(**SEARCH_QUERY, page=Int(1, 100_000, label="第几页"))
EXPORT_QUERY = Query(**SEARCH_QUERY)
API_QUERY = Query(**SEARCH_QUERY, limit=Int(1, API_LIMIT, default=PAGE, label="每页几位"),
                  after=Int(0, MAX_ID, label="从这个 id 之后（上一页的 next）"))
PERSON = dict(phone=Scalar(32, label="手机号"), name=Text(50, label="姓名"), township=Text(50, label="乡镇"),
              village=Text(50, label="村"), crops=List(Text(50), max_items=50, text_items=True, label="作物"),
              topics=List(Text(10), max_items=len(TOPICS), text_items=True, label="主题"),
              channel=Text(16, label="渠道（sms 或 wechat）"))
# A list is imported row by row: each row's problems are reported with its position, good rows kept.
CREATE_BODY = Obj(**PERSON, subscribers=List(Obj(description="fields as for one person"), max_items=MAX_JSON_PEOPLE,
                                             label="农户列表（每行的问题按位置报告，好的行照样保存）"),
                  example={"phone": "13800138000", "name": "王大山", "township": "关防乡", "crops": ["柑橘"]})


def setup(app: web.Application) -> None:
    add_menu(app, MenuEntry("/admin/subscribers", "农户", order=60))
    app.router.add_get("/admin/subscribers", list_page)
    app.router.add_get("/admin/subscribers/export.csv", export_csv)
    app.router.add_get("/admin/subscribers/{id:\\d+}", profile_page)
    app.router.add_get("/api/v1/subscribers", list_api)
    app.router.add_post("/api/v1/subscribers", create_api)


# --- search shared by the page, the export and the API -------------------------------------------


def _filters(request: web.Request) -> dict[str, str]:
    """The search filters as the route's declaration checked them ("" when not given)."""
    return {key: (request[QUERY][key] or "").strip() for key in FILTERS}


def _is_admin(request: web.Request) -> bool:
    return bool(request[OFFICER].role == "admin")


def _search(request: web.Request, f: dict[str, str]) -> tuple[QuerySet[Subscriber], str]:
    """The filtered subscribers, and a hint when the search text could not be used as given. The
    simulator's sandbox villagers are no villagers: never listed, found or exported."""
    query, hint = Subscriber.filter(sandbox.real()), ""
    if q := f["q"]:
        digits = re.sub(r"\D", "", q)
        if digits and re.fullmatch(r"[\d\s+\-()]+", q):
            phone = normalise_phone(q)
            if phone is not None:
                query = query.filter(phone=phone)
            elif len(digits) <= 4:  # what the masked number shows anyway
                query = query.filter(phone__endswith=digits)
            elif _is_admin(request):
                query = query.filter(phone__contains=digits)
            else:  # middle digits would let anyone unmask a number by trying
                query, hint = query.filter(id=-1), "按手机号查找请输入后 4 位或完整的 11 位号码。"
        else:
            query = query.filter(Q(name__icontains=q) | Q(village__icontains=q) | Q(township__icontains=q))
    if f["township"]:
        query = query.filter(township=f["township"])
    if f["village"]:
        query = query.filter(village__icontains=f["village"])
    if f["crop"]:
        query = query.filter(crops__contains=f",{f['crop']},")
    if f["topic"]:
        query = query.filter(topics__contains=f",{f['topic']},")
    if f["channel"]:
        query = query.filter(preferred_channel=f["channel"])
    if f["status"]:
        query = query.filter(status=f["status"])
    return query, hint


def consent_label(source: str) -> str:
    """'import:张三' -> '表格导入（张三）': where a consent came from, in words."""
    kind, _, rest = source.partition(":")
    word, _, _channel = rest.partition(":")
    if kind == "import":
        return f"表格导入（{rest}）" if rest else "表格导入"
    if kind == "keyword":
        return f"发送“{word}”" if _channel else "发送关键词"
    if kind == "wechat":
        return {"subscribe": "关注公众号", "unsubscribe": "取消关注公众号"}.get(word, "扫码关注公众号")
    return {"first_message": "首次发来消息", "demo": "演示数据"}.get(kind, source)


def _as_json(request: web.Request, s: Subscriber) -> dict[str, Any]:
    return {"id": s.id, "phone": phone_for(request, s.phone) or None, "name": s.name, "township": s.township,
            "village": s.village, "crops": s.crop_list, "topics": s.topic_list, "channel": s.preferred_channel,
            "status": s.status, "consent_source": s.consent_source, "created_at": s.created_at.isoformat()}


# --- pages -------------------------------------------------------------------------------------


@auth.page("officer")
@limits.searches
@accepts(query=LIST_QUERY)
async def list_page(request: web.Request) -> web.Response:
    f = _filters(request)
    query, hint = _search(request, f)
    page = request[QUERY]["page"] or 1
    total = await query.count()
    people = await query.order_by("-id").offset((page - 1) * PAGE).limit(PAGE)
    townships = await Subscriber.filter(sandbox.real()).exclude(township="").distinct().order_by("township").values_list(
        "township", flat=True)
    active = {key: value for key, value in f.items() if value}
    return render(request, "subscribers/list.html", {
        "people": people, "total": total, "page": page, "pages": max(1, -(-total // PAGE)), "f": f,
        "active_filters": active, "hint": hint, "townships": townships, "topics": TOPICS,
        "channel_names": CHANNEL_NAMES, "status_names": STATUS_NAMES, "consent_label": consent_label,
        "phones": {s.id: phone_for(request, s.phone) for s in people}, "columns": ",".join(roster.COLUMNS),
    })


@auth.page("officer")
async def profile_page(request: web.Request) -> web.Response:
    person = await Subscriber.get_or_none(id=int(request.match_info["id"]))
    if person is None or sandbox.is_sandbox(person):
        raise web.HTTPNotFound(reason="没有这位农户（可能已被删除）。")
    admin = _is_admin(request)

    def shown(text: str) -> str:
        return text if admin else mask_phones_in(text)

    events = await ConsentEvent.filter(subscriber_id=person.id).order_by("-id").limit(50)
    messages = await Message.filter(subscriber_id=person.id).order_by("-id").limit(20)
    questions = await Question.filter(subscriber_id=person.id, status="open").order_by("-id")
    return render(request, "subscribers/profile.html", {
        "person": person, "phone": phone_for(request, person.phone), "channel_names": CHANNEL_NAMES,
        "status_names": STATUS_NAMES, "consent_label": consent_label, "message_states": MESSAGE_STATES,
        "events": [(e, shown(e.text)) for e in events],
        "messages": [(m, shown(m.body)) for m in messages],
        "questions": [(q, shown(q.text)) for q in questions],
    })


@auth.page("officer")
@limits.searches
@accepts(query=EXPORT_QUERY)
async def export_csv(request: web.Request) -> web.StreamResponse:
    f = _filters(request)
    query, _ = _search(request, f)
    # Recorded before the first row leaves, so an export cut off half-way is on the record too.
    filters = ", ".join(f"{k}={v}" for k, v in f.items() if v) or "none"
    await console.record(request, "subscribers_export", officer=request[OFFICER], detail=(
        f"{await query.count()} rows, filters: {filters}, phones {'full' if _is_admin(request) else 'masked'}"))
    stamp = datetime.now(UTC).strftime("%Y%m%d")
    response = web.StreamResponse(headers={
        **console.SECURITY_HEADERS, "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="subscribers-{stamp}.csv"'})
    await response.prepare(request)
    out = io.StringIO()
    writer = csv.writer(out)
    out.write("\ufeff")  # so that Excel reads the Chinese as UTF-8
    writer.writerow(roster.COLUMNS)
    last = 0
    while True:
        batch = await query.filter(id__gt=last).order_by("id").limit(1000)
        for person in batch:
            phone = phone_for(request, person.phone)
            # 13800138000 rather than +8613800138000: a spreadsheet keeps it as written.
            writer.writerow(roster.to_row(person, phone[3:] if phone.startswith("+86") else phone))
        await response.write(out.getvalue().encode())
        out.seek(0)
        out.truncate()
        if len(batch) < 1000:
            break
        last = batch[-1].id
    await response.write_eof()
    return response


# --- API ---------------------------------------------------------------------------------------


@requires("officer")
@limits.searches
@accepts(query=API_QUERY)
async def list_api(request: web.Request) -> web.Response:
    """Villagers matching the filters, oldest first; phones masked unless the caller is an admin.

    Query: q (name, village, or phone: last 4 digits or the full number), township, village, crop,
    topic, channel (sms|wechat), status (active|opted_out), limit (1-500, default 50), after=ID (the
    `next` of the previous page). Answers {"subscribers": [...], "next": ID or null, "total": N}.
    429 with Retry-After past 60 searches a minute per account (bot/web/limits.py)."""
    f = _filters(request)
    limit, after = request[QUERY]["limit"], request[QUERY]["after"] or 0
    query, hint = _search(request, f)
    if hint:
        return error(400, "q: give the last 4 digits or the full phone number")
    total = await query.count()
    rows = await query.filter(id__gt=after).order_by("id").limit(limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return web.json_response({"subscribers": [_as_json(request, s) for s in rows],
                              "next": rows[-1].id if more else None, "total": total})


@requires("officer")
@accepts(body=CREATE_BODY, other_types=CSV_TYPES)
async def create_api(request: web.Request) -> web.StreamResponse:
    """Add villagers: one person, a list of them, or a whole CSV file.

    JSON {"phone", "name", "township", "village", "crops": [...], "topics": [...], "channel"} adds one
    person: 201 with the person, 400 for a bad field, 409 when the phone is already registered.
    JSON {"subscribers": [{...}, ...]} (at most 5000) answers {"report": {"created", "updated",
    "unchanged", "opted_out", "errors": [{"line", "error"}]}} where line is the position in the list.
    Content-Type text/csv (columns phone,name,township,village,crops,topics,channel; at most 20 MiB)
    streams NDJSON: {"done": n, "total": N} as rows are saved, then {"report": {...}} as above.
    Known phones get their details updated; people who opted out stay opted out."""
    officer = request[OFFICER]
    source = f"import:{officer.name}"
    if request.content_type in CSV_TYPES:
        return await _import_csv(request, source)
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    if "subscribers" in body:
        people = body["subscribers"]
        if not isinstance(people, list) or not all(isinstance(p, dict) for p in people):
            return error(400, "subscribers: expected a list of objects")
        if len(people) > MAX_JSON_PEOPLE:
            return error(413, f"at most {MAX_JSON_PEOPLE} subscribers per request")
        report = await roster.import_rows(enumerate(people, 1), source=source)
        request[console.AUDIT_DETAIL] = _summary("json list", report)
        return web.json_response({"report": report.as_json()})
    try:
        values = roster.parse_row(body)
    except roster.RowError as exc:
        return error(400, str(exc))
    if existing := await Subscriber.get_or_none(phone=values["phone"]):
        return error(409, f"phone already registered (subscriber {existing.id})")
    try:
        async with in_transaction():
            person = await Subscriber.create(**values, consent_source=source[:64], opted_in_at=datetime.now(UTC))
            await consent.record(person, "opt_in", person.preferred_channel, source)
    except IntegrityError:  # registered at the same moment by another request
        return error(409, "phone already registered")
    request[console.AUDIT_DETAIL] = f"added subscriber {person.id}"
    return web.json_response(_as_json(request, person), status=201)


def _summary(kind: str, report: roster.RosterReport) -> str:
    return (f"{kind} import: {report.created} new, {report.updated} updated, {report.unchanged} unchanged, "
            f"{report.opted_out} opted out kept, {len(report.problems)} errors")


async def _read_csv(request: web.Request) -> bytes | None:
    """The body, streamed past the app's 1 MiB limit up to MAX_CSV_BYTES; None when larger."""
    if (request.content_length or 0) > MAX_CSV_BYTES:
        return None
    chunks, size = [], 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > MAX_CSV_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def _import_csv(request: web.Request, source: str) -> web.StreamResponse:
    data = await _read_csv(request)
    if data is None:
        return error(413, f"CSV larger than {MAX_CSV_BYTES // (1024 * 1024)} MiB: split it into several files")
    response = web.StreamResponse(headers={"Content-Type": "application/x-ndjson; charset=utf-8",
                                           "Cache-Control": "no-store"})
    await response.prepare(request)

    async def send(line: dict[str, Any]) -> None:
        await response.write(json.dumps(line, ensure_ascii=False).encode() + b"\n")

    async def progress(done: int, total: int) -> None:
        await send({"done": done, "total": total})

    try:  # read and checked in a worker thread, saved in batches: the server keeps answering meanwhile
        report = await roster.import_bytes(data, source=source, progress=progress)
    except OSError:
        raise  # the browser went away: the batches saved so far stay saved
    except Exception:  # the status line is sent: say it in the stream
        log.exception("subscriber import failed")
        request[console.AUDIT_DETAIL] = "csv import failed part-way"
        await send({"error": "导入中途出错，已保存的行保留。请稍后重新导入同一个文件（已导入的行不会重复）。"})
        await response.write_eof()
        return response
    request[console.AUDIT_DETAIL] = _summary("csv", report)
    await send({"report": report.as_json()})
    await response.write_eof()
    return response
