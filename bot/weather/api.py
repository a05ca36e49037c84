"""GET /api/v1/weather/{township}: a township's forecast (as a villager would get it), the warnings in
force there and what was pushed from them."""

from __future__ import annotations

from datetime import datetime

from aiohttp import web

from bot.keys import CONFIG
from bot.weather import pages, places, service
from bot.weather.models import WeatherAlert
from bot.web.auth import error, requires


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/weather/{township}", township_weather)


@requires("officer")
async def township_weather(request: web.Request) -> web.Response:
    """A township's forecast, warnings in force and the broadcasts made from them.

    `township` is its name or a short form (关防乡, 关防). The forecast is the stored one while fresh
    (weather.forecast_minutes), else asked for; `forecast` is null when weather.provider is off or
    nothing is known, and `stale` is true when the provider could not be reached just now (the days
    are then the last ones fetched, at `fetched_at`). 404 for a township not in the townships file."""
    config = request.app[CONFIG]
    town = places.find(request.match_info["township"][:50], config.weather.townships)
    if town is None:
        return error(404, "no such township (see content/weather/townships.toml)")
    forecast = None
    if service.enabled(config):
        look = await service.outlook(request.app, config, town)
        today = datetime.now(config.tz).date()
        if look.days:
            forecast = {"fetched_at": look.fetched_at.isoformat() if look.fetched_at else None, "stale": look.down,
                        "days": [{**d.to_json(), "text": d.text} for d in look.days if d.day >= today][:3],
                        "sms": service.reply_text(look, "sms", today, tz=config.tz)}
    active = await WeatherAlert.filter(township=town.name, state="active").exclude(
        message_type="cancel").order_by("-seen_at")
    pushed = await pages.pushed_for([a.alert_id for a in active])
    return web.json_response({
        "township": town.name, "lat": town.lat, "lon": town.lon, "provider": config.weather.provider or None,
        "forecast": forecast,
        "warnings": [{**pages.alert_json(a), "pushed": pushed.get(a.alert_id, [])} for a in active],
    })
