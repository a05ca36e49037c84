"""The periodic 供求 work (bot.extend.add_periodic, worker processes): end expired listings and lapsed
proposals, ask outcomes, then one matching pass; and the pass run at once for verified buyers."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import date, datetime

from aiohttp import web

from bot.extend import MARKET_PRICE, ask
from bot.keys import CONFIG
from bot.trade import listings, matching, proposals
from bot.trade.models import TradeMatch
from broadcasts.pushes import push

log = logging.getLogger("nongbot.trade")


def market_lookup(app: web.Application, today: date) -> matching.MarketLookup:
    async def lookup(commodity: str) -> float | None:
        found = await ask(app, MARKET_PRICE, commodity, today)
        return found.price if found is not None and found.unit == "元/斤" else None
    return lookup


async def match_pass(app: web.Application, *, commodities: Iterable[str] | None = None,
                     verified_only: bool = False) -> list[TradeMatch]:
    """Choose pairs and propose them (all commodities, or these)."""
    config = app[CONFIG]
    today = datetime.now(config.tz).date()
    lookup = market_lookup(app, today)
    if commodities is None:
        pairs = await matching.find_pairs(today, config.trade, lookup, verified_only=verified_only)
        return await proposals.propose(pairs, today)
    made: list[TradeMatch] = []
    for commodity in sorted(set(commodities)):
        pairs = await matching.find_pairs(today, config.trade, lookup, commodity=commodity,
                                          verified_only=verified_only)
        made += await proposals.propose(pairs, today)
    return made


async def upkeep(app: web.Application) -> None:
    config = app[CONFIG]
    now = datetime.now(config.tz)
    today = now.date()
    for listing in await listings.expire(today):
        await push(proposals.KIND, f"您的供求{listing.number}号（{listings.describe(listing, with_price=False)}）"
                                   f"已到期下架。还要挂请回复“延期 {listing.number}”。", [listing.subscriber_id])
    await proposals.lapse(today, config.trade.proposal_days)
    await proposals.ask_outcomes(now, config.trade.outcome_days)
    made = await match_pass(app)
    log.info("trade upkeep", extra={"proposed": len(made)})
