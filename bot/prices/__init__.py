"""Market prices: commodities and markets, price records, the console page and API, price alerts."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot import sandbox
from bot.extend import MARKET_PRICE, MenuEntry, add_menu, add_templates, listen, provide
from bot.keys import ROLE
from bot.prices import alerts, api, demo, pages, quotes
from bot.prices.events import PRICES_STORED
from bot.prices.models import PriceAlert
from bot.seed import add_seed
from broadcasts.placeholders import add_placeholder

HERE = Path(__file__).parent


def setup(app: web.Application) -> None:
    listen(app, PRICES_STORED, alerts.evaluate)  # in every role: the CLI's imports emit it too
    provide(app, MARKET_PRICE, quotes.market_price)  # the newest price, for other features' texts
    add_placeholder("价格", quotes.digest)  # "本周价格：{价格:水果}" in a broadcast's text
    add_seed(demo.seed)  # commodities, demo markets and a week of prices
    listen(app, sandbox.RESET, lambda subscriber_id: PriceAlert.filter(subscriber_id=subscriber_id).delete())
    if app[ROLE] in ("all", "web"):
        add_templates(app, HERE / "templates")
        add_menu(app, MenuEntry("/admin/prices", "价格", order=40))
        api.setup(app)
        pages.setup(app)
