"""农户 in the console: search the villagers, one person's profile with everything sent to them, edit
their details, opt them out on their behalf, send one of them a message, and the CSV export."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from aiohttp import web

from bot import sandbox
from bot.extend import OPEN_QUESTIONS, emit
from bot.keys import CONFIG, OFFICER
from bot.labels import BROADCAST_KINDS, CHANNEL_NAMES, DELIVERY_STATES, MESSAGE_STATES
from bot.models import CHANNELS, TOPICS, ConsentEvent, Message, Subscriber
from bot.phones import mask_phones_in
from bot.sms import segments
from bot.villagers import roster
from bot.villagers.service import (
    FIELD_NAMES,
    FILTERS,
    STATUS_NAMES,
    consent_label,
    edit_person,
    opt_out_for,
    search,
)
from bot.web import auth, console, export, limits
from bot.web.fields import Field, Int, Text
from bot.web.params import QUERY, Query, accepts
from bot.web.view import phone_for, render, see_other
from broadcasts import api as broadcasts_api
from broadcasts import pushes, quiet_hours
from broadcasts.models import Delivery
from content.safety import explain, find_forbidden

PAGE = 50
TIMELINE = 50  # messages and pushes each on a profile
MESSAGE_MAX = 300  # one message to one villager: five SMS segments at most
REASON_MAX = 200  # the consent log keeps 200 characters
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
    app.router.add_get("/admin/subscribers/{id:\\d+}/edit", edit_page)
    app.router.add_post("/admin/subscribers/{id:\\d+}/edit", edit)
    app.router.add_post("/admin/subscribers/{id:\\d+}/opt-out", opt_out)
    app.router.add_post("/admin/subscribers/{id:\\d+}/message", send_message)


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


async def _person(request: web.Request) -> Subscriber:
    person = await Subscriber.get_or_none(id=int(request.match_info["id"]))
    if person is None or sandbox.is_sandbox(person):
        raise web.HTTPNotFound(reason="没有这位农户（可能已被删除）。")
    return person


async def timeline(person: Subscriber, admin: bool) -> list[dict[str, Any]]:
    """What went between the villager and us, newest first: their texts and our replies (Message rows),
    and every push made for them (broadcast deliveries: tips, price alerts, job notices, an officer's
    message), so "did he get the frost warning?" has an answer."""

    def shown(text: str) -> str:
        return text if admin else mask_phones_in(text)

    items: list[dict[str, Any]] = [
        {"at": m.created_at, "what": "农户发来" if m.direction == "in" else "发给农户", "direction": m.direction,
         "channel": m.channel, "text": shown(m.body), "status": m.status,
         "state": MESSAGE_STATES.get(m.status, m.status), "error": m.error or "", "link": ""}
        for m in await Message.filter(subscriber_id=person.id).order_by("-id").limit(TIMELINE)]
    deliveries = await Delivery.filter(subscriber_id=person.id).order_by("-id").limit(TIMELINE).prefetch_related(
        "run__broadcast")
    for d in deliveries:
        broadcast = d.run.broadcast
        items.append({"at": d.sent_at or d.due_at, "what": f"推送·{BROADCAST_KINDS.get(broadcast.kind, broadcast.kind)}",
                      "direction": "push", "channel": d.channel, "text": shown(d.run.text or broadcast.text),
                      "status": d.state, "state": DELIVERY_STATES.get(d.state, "已跳过" if d.state == "skipped" else d.state),
                      "error": d.error or "", "link": f"/admin/broadcasts/{broadcast.id}"})
    items.sort(key=lambda item: item["at"], reverse=True)
    return items[:TIMELINE]


@auth.page("officer")
async def profile_page(request: web.Request) -> web.Response:
    return await _profile(request)


async def _profile(request: web.Request, *, message: str = "", flash_error: str = "",
                   status: int = 200) -> web.Response:
    person = await _person(request)
    admin = is_admin(request)

    def shown(text: str) -> str:
        return text if admin else mask_phones_in(text)

    events = await ConsentEvent.filter(subscriber_id=person.id).order_by("-id").limit(50)
    # Open questions live in the questions feature; it answers this event when it is installed.
    questions: list[Any] = [q for rows in await emit(request.app, OPEN_QUESTIONS, person.id) for q in rows]
    config = request.app[CONFIG]
    context: dict[str, Any] = {
        "person": person, "phone": phone_for(request, person.phone), "channel_names": CHANNEL_NAMES,
        "status_names": STATUS_NAMES, "consent_label": consent_label, "message_states": MESSAGE_STATES,
        "events": [(e, shown(e.text)) for e in events],
        "timeline": await timeline(person, admin),
        "questions": [(q, shown(q.text)) for q in questions],
        "message": message, "message_max": MESSAGE_MAX, "reason_max": REASON_MAX,
        "signature": config.sms.signature, "quiet_hours": config.sms.quiet_hours,
        "reachable": _reachable(person),
    }
    if flash_error:
        context["flash_error"] = flash_error
    return render(request, "subscribers/profile.html", context, status=status)


def _reachable(person: Subscriber) -> bool:
    return bool(person.phone) or bool(person.wechat_openid and person.wechat_followed)


def _form_values(person: Subscriber) -> dict[str, Any]:
    return {"name": person.name, "township": person.township, "village": person.village,
            "crops": "、".join(person.crop_list), "topics": person.topic_list, "channel": person.preferred_channel}


@auth.page("officer")
async def edit_page(request: web.Request) -> web.Response:
    person = await _person(request)
    return _edit_form(request, person, _form_values(person))


def _edit_form(request: web.Request, person: Subscriber, values: dict[str, Any], *, flash_error: str = "",
               status: int = 200) -> web.Response:
    context: dict[str, Any] = {
        "person": person, "values": values, "topics": TOPICS, "channel_names": CHANNEL_NAMES,
        "channels": [c for c in CHANNELS if (c == "sms" and person.phone) or (c == "wechat" and person.wechat_openid)],
        "phone": phone_for(request, person.phone)}
    if flash_error:
        context["flash_error"] = flash_error
    return render(request, "subscribers/edit.html", context, status=status)


@auth.page("officer")
async def edit(request: web.Request) -> web.Response:
    person = await _person(request)
    form = await request.post()
    values: dict[str, Any] = {key: str(form.get(key, "")).strip() for key in ("name", "township", "village", "crops")}
    values["topics"] = [str(t) for t in form.getall("topics", [])]
    values["channel"] = str(form.get("channel", person.preferred_channel)).strip()
    # Officers type crops as they speak: 柑橘、茶叶 or 柑橘，茶叶 or 柑橘 茶叶.
    row = {**values, "crops": ";".join(w for w in re.split(r"[;；,，、\s]+", values["crops"]) if w)}
    try:
        changed = await edit_person(person, row)
    except roster.RowError as exc:
        return _edit_form(request, person, values, status=400,
                          flash_error=f"没有保存：{exc.chinese}。已填的内容还在下面，改好后再保存。")
    if not changed:
        return see_other(f"/admin/subscribers/{person.id}", ok="资料没有变化。")
    words = "、".join(FIELD_NAMES.get(key, key) for key in changed)
    request[console.AUDIT_DETAIL] = f"改了{words}"
    return see_other(f"/admin/subscribers/{person.id}", ok=f"已保存：改了{words}。")


@auth.page("officer")
async def opt_out(request: web.Request) -> web.Response:
    person = await _person(request)
    form = await request.post()
    reason = " ".join(str(form.get("reason", "")).split())
    back = f"/admin/subscribers/{person.id}"
    # Refusals answer 400 with the page (never a redirect), so only a done opt-out is on the audit trail.
    if not reason:
        return await _profile(request, status=400,
                              flash_error="代为退订请写明原因（如：本人电话要求退订），会记入同意与退订记录。")
    if len(reason) > REASON_MAX:
        return await _profile(request, status=400, flash_error=f"退订原因最多 {REASON_MAX} 个字。")
    officer = request[OFFICER]
    if not await opt_out_for(person, officer.name, reason):
        return await _profile(request, status=400, flash_error="这位农户已经退订了，无需再办。")
    request[console.AUDIT_DETAIL] = f"原因：{reason}"
    return see_other(back, ok="已代为退订：从现在起不再给这位农户发任何推送。记录里写明了是您代办的和原因。")


@auth.page("officer")
async def send_message(request: web.Request) -> web.Response:
    """One message to one villager, through the delivery engine (quiet hours, rate limits, retries)
    like every push, so it is recorded as a delivery and shown on their profile."""
    person = await _person(request)
    form = await request.post()
    text = str(form.get("text", "")).strip()
    problem = ""
    if not text:
        problem = "请填写要发的内容。"
    elif len(text) > MESSAGE_MAX:
        problem = f"一条消息最多 {MESSAGE_MAX} 个字，现在有 {len(text)} 个字。"
    elif person.status != "active":
        problem = "这位农户已经退订，不能再给他发消息。"
    elif not _reachable(person):
        problem = "这位农户没有手机号，也没有关注公众号，消息发不出去。"
    elif found := find_forbidden(text, person.crop_list):
        problem = f"内容里有{explain(found[0])}，不能推荐给农户。"
    if problem:
        return await _profile(request, message=text, flash_error=f"消息没有发出：{problem}", status=400)
    officer = request[OFFICER]
    broadcast = await pushes.push("notice", text, [person.id], officer=officer)
    if broadcast is None:
        return await _profile(request, message=text, flash_error="消息没有发出：这位农户不能接收消息。", status=400)
    await broadcasts_api.wake(request)  # the scheduler fires it now, not at its next sync
    request[console.AUDIT_DETAIL] = f"群发 #{broadcast.id}：{text[:100]}"
    config = request.app[CONFIG]
    when = "马上发送"
    if quiet_hours.is_quiet(config.sms.quiet_hours, datetime.now(UTC), config.tz):
        end = config.sms.quiet_hours.split("-")[1]
        when = f"现在是夜间免打扰时段，{end} 以后发出"
    cost = segments(config.sms.signature + text) if person.preferred_channel == "sms" else 0
    paid = f"，短信约 {cost} 条计费" if cost else ""
    return see_other(f"/admin/subscribers/{person.id}", ok=f"已交给发送队列，{when}{paid}。结果见下面的“往来记录”。")


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

    async def batches() -> AsyncIterator[list[list[str]]]:
        last = 0
        while True:
            batch = await query.filter(id__gt=last).order_by("id").limit(1000)
            rows = []
            for person in batch:
                phone = phone_for(request, person.phone)
                # 13800138000 rather than +8613800138000: a spreadsheet keeps it as written.
                rows.append(roster.to_row(person, phone[3:] if phone.startswith("+86") else phone))
            yield rows
            if len(batch) < 1000:
                return
            last = batch[-1].id

    # bot/web/export.py: UTF-8 with BOM, and a name or village typed as =… never runs as a formula.
    return await export.stream(request, "subscribers", roster.COLUMNS, batches())
