"""Which sell and buy listings to propose to each other: same commodity and unit, a quantity that fits,
prices near each other and the market, the same village or township, fresh listings. Each pair gets a
score (0-100) and the reasons in plain words; a pass proposes the best pairs within everyone's limits."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from datetime import date
from typing import Any, cast

from tortoise.expressions import Q

from bot import sandbox
from bot.config import TradeConfig
from bot.models import unpack_set
from bot.trade.models import TradeBuyer, TradeListing, TradeMatch
from bot.trade.parse import amount

log = logging.getLogger("nongbot.trade")
OPEN_PER_LISTING = 2  # proposals waiting for answers per listing at once
# In a commodity with more sells than SMALL_GROUP, a buy is compared with every sell of its township and
# the OTHER_PLACES freshest elsewhere (a pass stays fast with 10,000 listings up).
SMALL_GROUP = 100
OTHER_PLACES = 30
COLUMNS = ("id", "subscriber_id", "buyer_id", "side", "commodity", "quantity", "unit", "price", "price_unit",
           "township", "village", "created_on")
# The newest market price per unit for a commodity (None when unknown): the prices feature through bot.extend.
MarketLookup = Callable[[str], Awaitable[float | None]]


@dataclass(frozen=True)
class Pair:
    sell: dict[str, Any]
    buy: dict[str, Any]
    score: int
    reasons: str
    market: float | None


def score(sell: dict[str, Any], buy: dict[str, Any], market: float | None, config: TradeConfig, today: date,
          verified: bool = False, *, explain: bool = True) -> tuple[int, str] | None:
    """(score 0-100, why) for a sell and a buy listing of the same commodity and unit; None when they
    cannot trade (the asking price too far above the offer). explain=False: the number only (fast)."""
    reasons: list[str] = []
    say = reasons.append if explain else _silent
    unit = sell["unit"]
    have, want = sell["quantity"], buy["quantity"]
    points = 30 * (min(have, want) / max(have, want) if have and want else 1.0)
    if explain:
        say(f"数量{amount(want)}/{amount(have)}{unit}" if want else f"数量不限/{amount(have)}{unit}")
    ask, offer = sell["price"], buy["price"]
    if ask is not None and offer is not None and sell["price_unit"] == buy["price_unit"]:
        if ask <= offer:
            points += 35
            if explain:
                say(f"出价{amount(offer)}不低于要价{amount(ask)}元")
        else:
            gap = (ask - offer) / offer
            if gap > config.max_price_gap:
                return None
            points += 35 * (1 - gap / config.max_price_gap)
            if explain:
                say(f"要价比出价高{gap:.0%}")
    else:
        points += 20
        say("价格待双方商量")
    if market and (sell["price_unit"] or buy["price_unit"]) == "斤":
        offered = offer if offer is not None else ask
        if offered is not None:
            off = (offered - market) / market
            if abs(off) > 0.3:
                points -= 10
            if explain:
                say(f"市场价{amount(market)}元" + (f"，{'高' if off > 0 else '低'}{abs(off):.0%}"
                                                  if abs(off) >= 0.05 else ""))
    if sell["township"] and sell["township"] == buy["township"]:
        if sell["village"] and sell["village"] == buy["village"]:
            points += 25
            say(f"同在{sell['village']}")
        else:
            points += 20
            say(f"同在{sell['township']}")
    else:
        points += 10
        say("不在一个乡镇")
    age = (today - max(sell["created_on"], buy["created_on"])).days
    points += 10 * max(0.0, 1 - age / max(config.expiry_days, 1))
    if verified:
        points += 5
        say("认证收购商")
    return max(0, min(100, round(points))), "；".join(reasons)[:200]


def fast_score(sell: dict[str, Any], buy: dict[str, Any], market: float | None, config: TradeConfig, today: int,
               verified: bool) -> int | None:
    """score()'s number without its words, for the many pairs a pass looks at (`today` as an ordinal,
    each row's "day" its created_on as one); tests check the two agree."""
    have, want = sell["quantity"], buy["quantity"]
    points = 30.0 if not (have and want) else 30 * (have / want if have < want else want / have)
    ask, offer = sell["price"], buy["price"]
    if ask is not None and offer is not None and sell["price_unit"] == buy["price_unit"]:
        if ask <= offer:
            points += 35
        else:
            gap = (ask - offer) / offer
            if gap > config.max_price_gap:
                return None
            points += 35 * (1 - gap / config.max_price_gap)
    else:
        points += 20
    if market and (sell["price_unit"] or buy["price_unit"]) == "斤":
        offered = offer if offer is not None else ask
        if offered is not None and abs(offered - market) > 0.3 * market:
            points -= 10
    town = sell["township"]
    if town and town == buy["township"]:
        points += 25 if sell["village"] and sell["village"] == buy["village"] else 20
    else:
        points += 10
    newest = sell["day"] if sell["day"] > buy["day"] else buy["day"]
    fresh = 1 - (today - newest) / (config.expiry_days or 1)
    if fresh > 0:
        points += 10 * fresh
    if verified:
        points += 5
    rounded = round(points)
    return 0 if rounded < 0 else 100 if rounded > 100 else rounded


def _silent(_: str) -> None:
    """Reasons nobody reads (explain=False)."""


def _pool(buy: dict[str, Any], sells: list[dict[str, Any]], by_town: dict[str, list[dict[str, Any]]]
          ) -> list[dict[str, Any]]:
    """The sells a buy is compared with: all of them in a small group; in a large one every sell of its
    township and the OTHER_PLACES freshest elsewhere (sells are ordered freshest first)."""
    if len(sells) <= SMALL_GROUP:
        return sells
    elsewhere = []
    for sell in sells:
        if sell["township"] != buy["township"]:
            elsewhere.append(sell)
            if len(elsewhere) >= OTHER_PLACES:
                break
    return by_town.get(buy["township"], []) + elsewhere


def best_pairs(listings: Iterable[dict[str, Any]], markets: dict[str, float | None], config: TradeConfig,
               today: date, *, known: set[tuple[int, int]], waiting: dict[int, int], proposed_today: dict[int, int],
               verified_buyers: set[int], verified_only: bool = False,
               buyer_areas: dict[int, set[str]] | None = None) -> list[Pair]:
    """The pairs to propose now, best first: not proposed before, between two different people, each
    listing with fewer than OPEN_PER_LISTING proposals waiting, each person under their daily number."""
    listings = list(listings)
    groups: dict[tuple[str, str], tuple[list[dict[str, Any]], list[dict[str, Any]]]] = defaultdict(lambda: ([], []))
    for row in listings:
        groups[(row["commodity"], row["unit"])][0 if row["side"] == "sell" else 1].append(row)
    candidates: list[tuple[int, int, int, dict[str, Any], dict[str, Any], float | None]] = []
    today_day = today.toordinal()
    for row in listings:
        row["day"] = row["created_on"].toordinal()
    for (commodity, _), (sells, buys) in groups.items():
        if not sells or not buys:
            continue
        market = markets.get(commodity)
        sells.sort(key=lambda r: (r["created_on"], r["id"]), reverse=True)
        by_town: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for sell in sells:
            by_town[sell["township"]].append(sell)
        for buy in buys:
            verified = buy["buyer_id"] in verified_buyers
            if verified_only and not verified:
                continue
            areas = (buyer_areas or {}).get(buy["buyer_id"] or 0)
            for sell in _pool(buy, sells, by_town):
                if sell["subscriber_id"] == buy["subscriber_id"] or (sell["id"], buy["id"]) in known:
                    continue
                if areas and sell["township"] not in areas:
                    continue  # a registered buyer who only buys in some townships
                points = fast_score(sell, buy, market, config, today_day, verified)
                if points is not None and points >= config.min_score:
                    candidates.append((-points, sell["id"], buy["id"], sell, buy, market))
    candidates.sort(key=lambda c: c[:3])
    chosen: list[Pair] = []
    waiting = dict(waiting)
    proposed_today = dict(proposed_today)
    limit = config.max_proposals_per_day
    for _, _, _, s, b, market in candidates:
        if len(chosen) >= config.max_proposals_per_pass:
            break
        if waiting.get(s["id"], 0) >= OPEN_PER_LISTING or waiting.get(b["id"], 0) >= OPEN_PER_LISTING:
            continue
        if proposed_today.get(s["subscriber_id"], 0) >= limit or proposed_today.get(b["subscriber_id"], 0) >= limit:
            continue
        explained = score(s, b, market, config, today, b["buyer_id"] in verified_buyers)
        assert explained is not None
        chosen.append(Pair(s, b, explained[0], explained[1], market))
        for key, table in ((s["id"], waiting), (b["id"], waiting), (s["subscriber_id"], proposed_today),
                           (b["subscriber_id"], proposed_today)):
            table[key] = table.get(key, 0) + 1
    return chosen


async def open_listings(today: date, commodity: str | None = None) -> list[dict[str, Any]]:
    """Listings up for matching: open, not expired, of villagers who still take messages."""
    query = TradeListing.filter(sandbox.real("subscriber__"), state="open", expires_on__gte=today,
                                subscriber__status="active")
    if commodity is not None:
        query = query.filter(commodity=commodity)
    return list(await query.values(*COLUMNS))


async def find_pairs(today: date, config: TradeConfig, market: MarketLookup, *, commodity: str | None = None,
                     verified_only: bool = False) -> list[Pair]:
    """Read what a pass needs in a few queries and choose the pairs (nothing is written)."""
    listings = await open_listings(today, commodity)
    ids = {row["id"] for row in listings}
    matches = await TradeMatch.filter(Q(sell__state="open") | Q(buy__state="open")).values(
        "sell_id", "buy_id", "state", "proposed_on", "sell__subscriber_id", "buy__subscriber_id")
    known = {(m["sell_id"], m["buy_id"]) for m in matches}
    waiting: dict[int, int] = defaultdict(int)
    proposed_today: dict[int, int] = defaultdict(int)
    for m in matches:
        if m["state"] == "proposed":
            waiting[m["sell_id"]] += 1
            waiting[m["buy_id"]] += 1
        if m["proposed_on"] == today:
            proposed_today[m["sell__subscriber_id"]] += 1
            proposed_today[m["buy__subscriber_id"]] += 1
    # values_list(flat=True) gives the ids themselves; Tortoise's stubs only know the tuple form.
    verified = set(cast(list[int], await TradeBuyer.filter(verified=True, active=True).values_list("id", flat=True)))
    areas = {row["id"]: set(unpack_set(row["areas"])) for row in await TradeBuyer.exclude(areas="").values("id", "areas")}
    commodities = {row["commodity"] for row in listings if row["id"] in ids}
    markets = {name: await market(name) for name in sorted(commodities)}
    return best_pairs(listings, markets, config, today, known=known, waiting=waiting,
                      proposed_today=proposed_today, verified_buyers=verified,
                      verified_only=verified_only, buyer_areas=areas)
