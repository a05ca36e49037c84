"""The console's 天气 page (per township: the stored forecast, the warnings in force, what was pushed;
the warnings history) and the dashboard card of warnings in force."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from aiohttp import web

from bot.keys import CONFIG, OFFICER
from bot.labels import BROADCAST_STATES
from bot.weather import digests, places, push, service
from bot.weather.models import Forecast, WarningBroadcast, WeatherAlert
from bot.weather.provider import Day
from bot.web import auth, view
from bot.web.console import AUDIT_DETAIL
from bot.web.view import render, see_other

HISTORY = 100
HHMM = re.compile(r"^([01]?\d|2[0-3]):[0-5]\d$")


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/weather", weather_page)
    app.router.add_post("/admin/weather/digests", make_digests)


async def pushed_for(alert_ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """alert id -> the broadcasts made from it (id, state, purpose, advice article)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in await WarningBroadcast.filter(alert_id__in=alert_ids).select_related("broadcast").order_by("id"):
        b = row.broadcast
        out.setdefault(row.alert_id, []).append({
            "broadcast_id": row.broadcast_id, "purpose": row.purpose, "article_ref": row.group,
            "state": b.state if b is not None else "", "state_label": BROADCAST_STATES.get(b.state, b.state) if b else "",
            "created_at": row.created_at.isoformat()})
    return out


def alert_json(a: WeatherAlert) -> dict[str, Any]:
    return {"id": a.alert_id, "township": a.township, "event": a.event, "color": a.color,
            "level": push.plain_level(a.color), "headline": a.headline, "description": a.description,
            "sender": a.sender, "state": a.state, "message_type": a.message_type,
            "issued_at": a.issued_at.isoformat() if a.issued_at else None,
            "expires_at": a.expires_at.isoformat() if a.expires_at else None, "seen_at": a.seen_at.isoformat()}


def forecast_json(row: Forecast | None, today: date) -> dict[str, Any] | None:
    if row is None:
        return None
    days = [Day.from_json(d) for d in row.days]
    return {"fetched_at": row.fetched_at.isoformat(),
            "days": [{**d.to_json(), "text": d.text} for d in days if d.day >= today][:3]}


async def active_warnings(_: web.Application) -> list[dict[str, Any]]:
    """The dashboard card: warnings in force, newest first (plain JSON: the page caches it)."""
    rows = await WeatherAlert.filter(state="active").exclude(message_type="cancel").order_by("-seen_at", "township")
    return [{"township": a.township, "event": a.event, "color": a.color, "level": push.plain_level(a.color),
             "headline": a.headline, "seen_at": a.seen_at.isoformat()} for a in rows[:50]]


@auth.page("officer")
async def weather_page(request: web.Request) -> web.Response:
    config = request.app[CONFIG]
    today = view.today(request)
    towns = places.townships(config.weather.townships)
    forecasts = {f.township: f for f in await Forecast.all()}
    active = await WeatherAlert.filter(state="active").exclude(message_type="cancel").order_by("-seen_at")
    history = await WeatherAlert.all().order_by("-seen_at", "-id").limit(HISTORY)
    pushed = await pushed_for(sorted({a.alert_id for a in [*active, *history]}))
    rows = []
    for town in towns:
        forecast = forecast_json(forecasts.get(town.name), today)
        rows.append({"town": town, "forecast": forecast,
                     "fetched_at": forecasts[town.name].fetched_at if town.name in forecasts else None,
                     "alerts": [a for a in active if a.township == town.name]})
    return render(request, "weather/index.html", {
        "enabled": service.enabled(config), "rows": rows, "history": history, "pushed": pushed,
        "levels": push.COLOR_NAMES, "plain_level": push.plain_level, "today": today,
        "now": datetime.now(config.tz), "poll_minutes": int(config.weather.poll_seconds // 60),
    })


@auth.page("officer")
async def make_digests(request: web.Request) -> web.Response:
    """为各乡镇建每日天气预报: one daily `weather` broadcast per township with villagers, for approval."""
    config = request.app[CONFIG]
    form = await request.post()
    at = str(form.get("time", "")).strip()
    if not service.enabled(config):
        return see_other("/admin/weather", err="还没有接入天气服务，建了也发不出预报。")
    if not HHMM.match(at):
        return see_other("/admin/weather", err="发送时间要写成 06:30 这样。")
    made = await digests.create_daily(config, request[OFFICER], at)
    request[AUDIT_DETAIL] = f"daily weather digests at {at}: broadcasts {','.join(str(b.id) for b in made) or 'none'}"
    if not made:
        return see_other("/admin/weather", ok="有农户的乡镇都已经有每日天气预报群发了，没有新建。")
    return see_other("/admin/weather", ok=f"已为{len(made)}个乡镇建好每天{at}的天气预报群发，审核员批准后每天发出。")
