"""The villagers' JSON API (/api/v1/subscribers): search, and add one person, a list or a CSV file."""

from __future__ import annotations

import json
import logging
from typing import Any

from aiohttp import web

from bot.keys import OFFICER
from bot.models import TOPICS, Subscriber
from bot.villagers import roster
from bot.villagers.pages import PAGE, SEARCH_QUERY, filters, is_admin
from bot.villagers.service import AlreadyRegistered, add_person, search, summary
from bot.web import console, limits
from bot.web.auth import error, json_body, requires
from bot.web.fields import MAX_ID, Field, Int, List, Obj, Scalar, Text
from bot.web.params import QUERY, Query, accepts
from bot.web.view import phone_for

log = logging.getLogger("nongbot.console.subscribers")
API_LIMIT = 500
MAX_CSV_BYTES = 20 * 1024 * 1024
MAX_JSON_PEOPLE = 5000
CSV_TYPES = ("text/csv", "application/csv")
API_QUERY = Query(**SEARCH_QUERY, limit=Int(1, API_LIMIT, default=PAGE, label="每页几位"),
                  after=Int(0, MAX_ID, label="从这个 id 之后（上一页的 next）"))
PERSON: dict[str, Field] = {
    "phone": Scalar(32, label="手机号"), "name": Text(50, label="姓名"), "township": Text(50, label="乡镇"),
    "village": Text(50, label="村"), "crops": List(Text(50), max_items=50, text_items=True, label="作物"),
    "topics": List(Text(10), max_items=len(TOPICS), text_items=True, label="主题"),
    "channel": Text(16, label="渠道（sms 或 wechat）")}
# A list is imported row by row: each row's problems are reported with its position, good rows kept.
CREATE_BODY = Obj(PERSON, subscribers=List(Obj(description="fields as for one person"), max_items=MAX_JSON_PEOPLE,
                                             label="农户列表（每行的问题按位置报告，好的行照样保存）"),
                  example={"phone": "13800138000", "name": "王大山", "township": "关防乡", "crops": ["柑橘"]})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/subscribers", list_api)
    app.router.add_post("/api/v1/subscribers", create_api)


def person_json(request: web.Request, s: Subscriber) -> dict[str, Any]:
    return {"id": s.id, "phone": phone_for(request, s.phone) or None, "name": s.name, "township": s.township,
            "village": s.village, "crops": s.crop_list, "topics": s.topic_list, "channel": s.preferred_channel,
            "status": s.status, "consent_source": s.consent_source, "created_at": s.created_at.isoformat()}


@requires("officer")
@limits.searches
@accepts(query=API_QUERY)
async def list_api(request: web.Request) -> web.Response:
    """Villagers matching the filters, oldest first; phones masked unless the caller is an admin.

    Query: q (name, village, or phone: last 4 digits or the full number), township, village, crop,
    topic, channel (sms|wechat), status (active|opted_out), limit (1-500, default 50), after=ID (the
    `next` of the previous page). Answers {"subscribers": [...], "next": ID or null, "total": N}.
    429 with Retry-After past 60 searches a minute per account (bot/web/limits.py)."""
    limit, after = request[QUERY]["limit"], request[QUERY]["after"] or 0
    query, hint = search(filters(request), admin=is_admin(request))
    if hint:
        return error(400, "q: give the last 4 digits or the full phone number")
    total = await query.count()
    rows = await query.filter(id__gt=after).order_by("id").limit(limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return web.json_response({"subscribers": [person_json(request, s) for s in rows],
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
        request[console.AUDIT_DETAIL] = summary("json list", report)
        return web.json_response({"report": report.as_json()})
    try:
        person = await add_person(body, source)
    except roster.RowError as exc:
        return error(400, str(exc))
    except AlreadyRegistered as exc:
        known = f" (subscriber {exc.subscriber_id})" if exc.subscriber_id is not None else ""
        return error(409, f"phone already registered{known}")
    request[console.AUDIT_DETAIL] = f"added subscriber {person.id}"
    return web.json_response(person_json(request, person), status=201)


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
    request[console.AUDIT_DETAIL] = summary("csv", report)
    await send({"report": report.as_json()})
    await response.write_eof()
    return response
