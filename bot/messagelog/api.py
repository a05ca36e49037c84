"""The message log's JSON API: /api/v1/messages (the log, filtered, a page at a time) and resending a
failed message or broadcast delivery."""

from __future__ import annotations

from aiohttp import web

from bot.keys import CONFIG, OFFICER
from bot.messagelog import entries, resend
from bot.messagelog.entries import Cursor
from bot.messagelog.pages import LOG_QUERY, filters, is_admin
from bot.web.auth import error, requires
from bot.web.console import AUDIT_DETAIL
from bot.web.params import QUERY, accepts


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/messages", messages_api)
    app.router.add_post("/api/v1/messages/{id:\\d+}/resend", resend_api)
    app.router.add_post("/api/v1/deliveries/{id:\\d+}/resend", resend_api)


@requires("officer")
@accepts(query=LOG_QUERY)
async def messages_api(request: web.Request) -> web.Response:
    """Every text in and out and every broadcast delivery, newest first, 50 a page.

    Query: direction=in|out, channel=sms|wechat, status=failed|pending|sent|delivered|answered|skipped,
    township, text (part of it), day=YYYY-MM-DD, subscriber=ID, run=ID (one broadcast run's deliveries);
    m and d: the cursor "next" of the page before. Phones are masked except for admins."""
    asked = request[QUERY]
    rows, after = await entries.page(filters(request), Cursor(message=asked["m"], delivery=asked["d"]),
                                     request.app[CONFIG].tz, admin=is_admin(request))
    return web.json_response({
        "messages": [{"kind": e.kind, "id": e.id, "at": e.at.isoformat(), "direction": e.direction,
                      "channel": e.channel, "status": e.status, "status_label": e.status_label, "body": e.body,
                      "subscriber_id": e.subscriber_id, "name": e.person, "address": e.address,
                      "township": e.township, "handler": e.handler, "broadcast_id": e.broadcast_id,
                      "run_id": e.run_id, "error": e.error, "resent_as": e.resent_as, "resendable": e.resendable}
                     for e in rows],
        # The query parameters of the next page (with the same filters), or null after the last one.
        "next": None if after.done or not rows else after.query()})


@requires("officer")
async def resend_api(request: web.Request) -> web.Response:
    """Send a failed message (or broadcast delivery) again, once: a one-off push through the delivery
    engine (quiet hours respected). 409 when it was resent already, is not failed, or the villager
    opted out. Answers {"broadcast_id"}."""
    kind = "delivery" if request.path.startswith("/api/v1/deliveries/") else "message"
    source_id = int(request.match_info["id"])
    try:
        done = await resend.resend(kind, source_id, request[OFFICER])
    except resend.Refused as refused:
        return error(409, str(refused))
    request[AUDIT_DETAIL] = f"{kind} {source_id} resent as broadcast {done.broadcast.id}"
    return web.json_response({"broadcast_id": done.broadcast.id}, status=201)
