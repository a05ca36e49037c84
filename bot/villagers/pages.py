"""农户 in the console: search the villagers, one person's profile, and the CSV export."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot import sandbox
from bot.extend import OPEN_QUESTIONS, emit
from bot.keys import OFFICER
from bot.labels import CHANNEL_NAMES, MESSAGE_STATES
from bot.models import CHANNELS, TOPICS, ConsentEvent, Message, Subscriber
from bot.phones import mask_phones_in
from bot.villagers import roster
from bot.villagers.service import FILTERS, STATUS_NAMES, consent_label, search
from bot.web import auth, console, limits
from bot.web.fields import Field, Int, Text
from bot.web.params import QUERY, Query, accepts
from bot.web.view import phone_for, render

PAGE = 50
SEARCH_QUERY: dict[str, Field] = {
    "q": Text(50, label="姓名、村名或手机号（后 4 位或完整号码）"), "township": Text(50, label="乡镇"),
    "village": Text(50, label="村"), "crop": Text(50, label="作物"), "topic": Text(50, label="主题"),
    "channel": Text(16, choices=CHANNELS, label="渠道"),
    "status": Text(16, choices=tuple(STATUS_NAMES), label="状态")}
LIST_QUERY = Query(**SEARCH_QUERY, page=Int(1, 100_000, label="第几页"))
EXPORT_QUERY = Query(**SEARCH_QUERY)


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/subscribers", list_page)
    app.router.add_get("/admin/subscribers/export.csv", export_csv)
    app.router.add_get("/admin/subscribers/{id:\\d+}", profile_page)


def filters(request: web.Request) -> dict[str, str]:
    """The search filters as the route's declaration checked them ("" when not given)."""
    return {key: (request[QUERY][key] or "").strip() for key in FILTERS}


def is_admin(request: web.Request) -> bool:
    return bool(request[OFFICER].role == "admin")


@auth.page("officer")
@limits.searches
@accepts(query=LIST_QUERY)
async def list_page(request: web.Request) -> web.Response:
    f = filters(request)
    query, hint = search(f, admin=is_admin(request))
    page = request[QUERY]["page"] or 1
    total = await query.count()
    people = await query.order_by("-id").offset((page - 1) * PAGE).limit(PAGE)
    townships = await Subscriber.filter(sandbox.real()).exclude(township="").distinct().order_by(
        "township").values_list("township", flat=True)
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
    admin = is_admin(request)

    def shown(text: str) -> str:
        return text if admin else mask_phones_in(text)

    events = await ConsentEvent.filter(subscriber_id=person.id).order_by("-id").limit(50)
    messages = await Message.filter(subscriber_id=person.id).order_by("-id").limit(20)
    # Open questions live in the questions feature; it answers this event when it is installed.
    questions: list[Any] = [q for rows in await emit(request.app, OPEN_QUESTIONS, person.id) for q in rows]
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
    f = filters(request)
    admin = is_admin(request)
    query, _ = search(f, admin=admin)
    # Recorded before the first row leaves, so an export cut off half-way is on the record too.
    described = ", ".join(f"{k}={v}" for k, v in f.items() if v) or "none"
    await console.record(request, "subscribers_export", officer=request[OFFICER], detail=(
        f"{await query.count()} rows, filters: {described}, phones {'full' if admin else 'masked'}"))
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
