"""Supply and demand (供求): listings by text, buyers, matching with consent to share phones (issue 19)."""

from __future__ import annotations

from pathlib import Path

from aiohttp import web

from bot import sandbox
from bot.extend import DEAL_PRICES, MenuEntry, Periodic, add_menu, add_periodic, add_templates, listen, provide
from bot.keys import CONFIG, ROLE
from bot.trade import api, digest, jobs, pages, proposals
from bot.trade.models import TradeListing
from broadcasts.placeholders import add_placeholder

HERE = Path(__file__).parent


def setup(app: web.Application) -> None:
    add_periodic(app, Periodic("trade", app[CONFIG].trade.match_seconds, jobs.upkeep, first_after=30.0))
    provide(app, DEAL_PRICES, proposals.deal_prices)  # 成交价 next to market prices
    add_placeholder("收购信息", digest.open_buys)  # "本周收购信息：{收购信息}" in a weekly 收购信息 broadcast
    listen(app, sandbox.RESET, lambda subscriber_id: TradeListing.filter(subscriber_id=subscriber_id).delete())
    if app[ROLE] in ("all", "web"):
        add_templates(app, HERE / "templates")
        add_menu(app, MenuEntry("/admin/trade", "供求", order=55))
        api.setup(app)
        pages.setup(app)
