"""消息记录 and 渠道状态 in the console: the log with its filters, resending a failed message, the CSV
export (also of one broadcast run's deliveries), and the channels' status."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from bot import sandbox
from bot.keys import CONFIG, OFFICER
from bot.messagelog import channels, entries, resend
from bot.messagelog.entries import DIRECTIONS, STATUS_GROUPS, Cursor, Entry, Filters
from bot.models import CHANNELS, Subscriber
from bot.phones import mask_phone
from bot.web import auth, console, export, limits
from bot.web.console import AUDIT_DETAIL
from bot.web.fields import MAX_ID, Day, Int, Text
from bot.web.params import QUERY, Query, accepts
from bot.web.view import render, see_other

BIG_ID = 2**63 - 1  # Delivery ids are 64-bit
FILTERS = {
    "direction": Text(3, choices=tuple(DIRECTIONS), label="收到或发出"),
    "channel": Text(16, choices=CHANNELS, label="渠道"),
    "status": Text(16, choices=tuple(STATUS_GROUPS), label="状态"),
    "township": Text(50, label="乡镇"), "text": Text(50, label="内容里的字"), "day": Day(label="哪一天"),
    "subscriber": Int(1, MAX_ID, label="农户编号"), "run": Int(1, MAX_ID, label="群发的第几次发送"),
}
LOG_QUERY = Query(**FILTERS, m=Int(0, MAX_ID, label="消息从这条往前"), d=Int(0, BIG_ID, label="群发从这条往前"))
EXPORT_QUERY = Query(**FILTERS)
EXPORT_HEADER = ["时间", "收发", "渠道", "农户", "手机号", "乡镇", "内容", "来源", "状态", "错误", "已重发"]
TOWNSHIPS_SECONDS = 300.0
_townships: dict[str, Any] = {"at": 0.0, "names": []}


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/messages", log_page)
    app.router.add_get("/admin/messages/export.csv", export_csv)
    app.router.add_post("/admin/messages/{id:\\d+}/resend", resend_form)
    app.router.add_post("/admin/deliveries/{id:\\d+}/resend", resend_form)
    app.router.add_get("/admin/channels", channels_page)


def is_admin(request: web.Request) -> bool:
    return bool(request[OFFICER].role == "admin")


def filters(request: web.Request) -> Filters:
    asked = request[QUERY]
    return Filters(direction=asked["direction"] or "", channel=asked["channel"] or "", status=asked["status"] or "",
                   township=(asked["township"] or "").strip(), text=(asked["text"] or "").strip(),
                   day=asked["day"], subscriber=asked["subscriber"], run=asked["run"])


async def townships() -> list[str]:
    """The townships villagers live in, for the filter (counted anew every few minutes: a scan of the
    whole villager list is not worth doing on every page)."""
    if time.monotonic() - _townships["at"] > TOWNSHIPS_SECONDS or not _townships["names"]:
        _townships["names"] = list(await Subscriber.filter(sandbox.real()).exclude(township="").distinct().order_by(
            "township").values_list("township", flat=True))
        _townships["at"] = time.monotonic()
    return list(_townships["names"])


async def whose(f: Filters, admin: bool) -> str:
    """The villager the log is narrowed to, as the page names them."""
    if not f.subscriber:
        return ""
    person = await Subscriber.get_or_none(id=f.subscriber)
    if person is None:
        return "（已删除的农户）"
    phone = person.phone if admin or not person.phone else mask_phone(person.phone)
    return " ".join(x for x in (person.name, phone or "微信用户") if x)


@auth.page("officer")
@limits.searches
@accepts(query=LOG_QUERY)
async def log_page(request: web.Request) -> web.Response:
    f = filters(request)
    asked = request[QUERY]
    cursor = Cursor(message=asked["m"], delivery=asked["d"])
    admin = is_admin(request)
    rows, after = await entries.page(f, cursor, request.app[CONFIG].tz, admin=admin)
    active = f.active()
    return render(request, "messagelog/log.html", {
        "rows": rows, "f": f, "active": active, "later": cursor != Cursor(),
        "older": None if after.done or not rows else {**active, **after.query()},
        "townships": await townships(), "directions": DIRECTIONS, "statuses": STATUS_GROUPS,
        "channels": CHANNELS, "whose": await whose(f, admin), "back": request.path_qs,
    })


def _row(entry: Entry, tz: Any) -> list[object]:
    return [entry.at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"), DIRECTIONS[entry.direction],
            entry.channel_label, entry.person, entry.address, entry.township, entry.body, entry.handler,
            entry.status_label, entry.error, "是" if entry.resent_as is not None else ""]


@auth.page("officer")
@limits.searches
@accepts(query=EXPORT_QUERY)
async def export_csv(request: web.Request) -> web.StreamResponse:
    f = filters(request)
    admin = is_admin(request)
    tz = request.app[CONFIG].tz
    described = ", ".join(f"{k}={v}" for k, v in f.active().items()) or "none"
    # Recorded before the first row leaves, so an export cut off half-way is on the record too.
    await console.record(request, "deliveries_export" if f.run else "messages_export", officer=request[OFFICER],
                         detail=f"filters: {described}, phones {'full' if admin else 'masked'}")

    async def batches() -> AsyncIterator[list[list[object]]]:
        cursor = Cursor()
        while not cursor.done:
            rows, cursor = await entries.page(f, cursor, tz, admin=admin, limit=1000)
            if not rows:
                return
            yield [_row(e, tz) for e in rows]

    return await export.stream(request, f"deliveries-run{f.run}" if f.run else "messages", EXPORT_HEADER, batches())


def _back(form: Any) -> str:
    back = str(form.get("back", ""))
    return back if back.startswith("/admin/messages") and not back.startswith("//") else "/admin/messages"


@auth.page("officer")
async def resend_form(request: web.Request) -> web.Response:
    kind = "delivery" if request.path.startswith("/admin/deliveries/") else "message"
    source_id = int(request.match_info["id"])
    form = await request.post()
    back = _back(form)
    try:
        done = await resend.resend(kind, source_id, request[OFFICER])
    except resend.Refused as refused:  # a page, not a redirect: a refusal is no act for the audit log
        return render(request, "messagelog/refused.html", {"reason": str(refused), "back": back}, status=409)
    request[AUDIT_DETAIL] = f"{kind} {source_id} resent as broadcast {done.broadcast.id}"
    who = done.subscriber.name or (mask_phone(done.subscriber.phone) if done.subscriber.phone else "微信用户")
    return see_other(back, ok=f"已重发给{who}：会尽快发出（夜间免打扰时段会顺延到早上）。")


@auth.page("officer")
async def channels_page(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    admin = is_admin(request)
    return render(request, "messagelog/channels.html", {
        "providers": await channels.providers(config, admin=admin),
        "broadcasts": await channels.broadcasts_by_channel(admin=admin),
        "token": await channels.wechat_token(config), "aliyun": await channels.aliyun_limit(config),
        "backlog": await channels.intake_backlog(), "sms_provider": config.sms.provider,
    })
