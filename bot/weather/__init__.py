"""Weather: township forecasts on request, official warnings turned into pushes (issue 20)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot.extend import Card, MenuEntry, Periodic, add_card, add_menu, add_periodic, add_templates
from bot.keys import CONFIG, ROLE
from bot.weather import api, pages, places, service, warnings
from broadcasts.placeholders import add_placeholder

HERE = Path(__file__).parent
URGENT_SECONDS = 20.0  # how soon a red warning's queued rows are let through quiet hours


def setup(app: web.Application) -> None:
    """The provider (when weather.provider is set), the warning poller in workers, the {天气} placeholder,
    and the console page, API and dashboard card."""
    config = app[CONFIG]
    places.configure(config.weather.townships)
    add_placeholder("天气", service.digest)  # "{天气:关防乡}" in a daily digest's text
    provider = service.make_provider(config)
    if provider is not None:
        app[service.PROVIDER] = provider

        async def close(_: web.Application) -> None:
            await provider.close()

        app.on_cleanup.append(close)
        add_periodic(app, Periodic("weather-warnings", config.weather.poll_seconds, warnings.poll, first_after=5))
        add_periodic(app, Periodic("weather-urgent", URGENT_SECONDS, warnings.expedite, first_after=10))
    if app[ROLE] in ("all", "web"):
        add_templates(app, HERE / "templates")
        api.setup(app)
        pages.setup(app)
        if provider is not None:
            add_menu(app, MenuEntry("/admin/weather", "天气", order=45))
            add_card(app, Card("weather_warnings", "weather/dashboard_warnings.html", pages.active_warnings,
                               order=25))
