"""JSON API for 供求: list and post listings, list matches. Phones are masked (admins see them whole)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.keys import CONFIG, OFFICER
from bot.models import Subscriber
from bot.phones import mask_phone, normalise_phone
from bot.trade import listings
from bot.trade.models import TradeListing, TradeMatch
from bot.trade.parse import MAX_PRICE, MAX_QUANTITY, Draft, goods_named, parse
from bot.web import view
from bot.web.auth import error, requires
from bot.web.fields import Int, Obj, Scalar, Text
from bot.web.params import BODY, QUERY, Query, accepts

LIMIT = 500
LIST_LISTINGS = Query(
    state=Text(10, choices=tuple(listings.STATES), label="状态"), side=Text(4, choices=("sell", "buy"), label="卖或收"),
    commodity=Text(30, label="品种"), township=Text(50, label="乡镇"), before=Int(label="只看编号小于它的"))
LIST_MATCHES = Query(state=Text(10, choices=("proposed", "exchanged", "declined", "expired"), label="状态"),
                     commodity=Text(30, label="品种"), before=Int(label="只看编号小于它的"))
NEW_LISTING = Obj(
    phone=Text(32, required=True, label="农户手机号"),
    text=Text(200, label="短信原文（如“卖 柑橘 2000斤 2.5元”），或用下面各项"),
    side=Text(4, choices=("sell", "buy"), label="卖或收"), commodity=Text(30, label="品种"),
    quantity=Scalar(20, label="数量"), price=Scalar(20, label="单价（元）"), township=Text(50, label="乡镇"),
    village=Text(50, label="村"), closed=True,
    description="a listing for a registered villager: their text, or side, commodity and quantity",
    example={"phone": "13800138000", "text": "卖 柑橘 2000斤 2.5元"})


def listing_json(listing: TradeListing, full_phone: bool = False) -> dict[str, Any]:
    return {
        "id": listing.id, "number": listing.number, "side": listing.side, "commodity": listing.commodity,
        "quantity": listing.quantity, "unit": listing.unit, "price": listing.price,
        "price_unit": listing.price_unit or None, "township": listing.township, "village": listing.village,
        "grade": listing.grade, "available": listing.available, "state": listing.state,
        "contact": listing.contact if full_phone else mask_phone(listing.contact),
        "buyer_id": listing.buyer_id, "expires_on": listing.expires_on.isoformat(),
        "created_at": listing.created_at.isoformat(),
    }


def match_json(match: TradeMatch) -> dict[str, Any]:
    return {
        "id": match.id, "sell_id": match.sell_id, "buy_id": match.buy_id, "score": match.score,
        "reasons": match.reasons, "market_price": match.market_price, "state": match.state,
        "sell_answer": match.sell_answer or None, "buy_answer": match.buy_answer or None,
        "proposed_on": match.proposed_on.isoformat(),
        "exchanged_at": match.exchanged_at.isoformat() if match.exchanged_at else None,
    }


def setup(app: web.Application) -> None:
    app.router.add_get("/api/v1/listings", list_listings)
    app.router.add_post("/api/v1/listings", post_listing)
    app.router.add_get("/api/v1/matches", list_matches)


@requires("officer")
@accepts(query=LIST_LISTINGS)
async def list_listings(request: web.Request) -> web.Response:
    """供求 listings, newest first (at most 500).

    Filters: ?state=pending|open|closed|cancelled|expired|rejected, ?side=sell|buy, ?commodity=柑橘,
    ?township=关防乡, ?before=<id> for the next page. Phones are masked except for admins."""
    q = request[QUERY]
    query = TradeListing.all()
    for key in ("state", "side", "commodity", "township"):
        if q[key]:
            query = query.filter(**{key: q[key]})
    if q["before"]:
        query = query.filter(id__lt=q["before"])
    found = await query.order_by("-id").limit(LIMIT)
    admin = request[OFFICER].role == "admin"
    return web.json_response({"listings": [listing_json(item, admin) for item in found]})


def _number(value: Any, top: float) -> float | None:
    try:
        number = float(str(value).strip().removesuffix("元").removesuffix("斤"))
    except ValueError:
        return None
    return number if 0 < number <= top else None


@requires("officer")
@accepts(body=NEW_LISTING)
async def post_listing(request: web.Request) -> web.Response:
    """Post a listing for a registered villager (what they told an officer).

    Body: {"phone", "text"} (read like the villager's SMS) or {"phone", "side", "commodity", "quantity",
    "price", "township", "village"}. The villager's limits and the block list apply; it is matched like any."""
    body = request[BODY]
    assert isinstance(body, dict)  # the route's declaration has checked its shape
    phone = normalise_phone(str(body.get("phone") or ""))
    subscriber = await Subscriber.get_or_none(phone=phone) if phone else None
    if subscriber is None or phone is None:
        return error(400, "phone：没有这个手机号的登记农户")
    if body.get("text"):
        draft = parse(str(body["text"]))
    else:
        goods = goods_named(str(body.get("commodity") or ""))
        if goods is None:
            return error(400, "commodity：不认识的品种")
        price = _number(body["price"], MAX_PRICE) if body.get("price") not in (None, "") else None
        draft = Draft(side=body.get("side"), commodity=goods.name, unit=goods.unit,
                      quantity=_number(body.get("quantity"), MAX_QUANTITY), price=price,
                      price_unit=goods.unit if price is not None else None)
    missing = [label for label, value in (("side（卖或收）", draft.side), ("commodity（品种）", draft.commodity),
                                          ("quantity（数量）", draft.quantity)) if not value]
    if missing or draft.bad_price:
        return error(400, f"缺少或看不懂：{'、'.join(missing) or 'price（价格）'}")
    township = str(body.get("township") or subscriber.township)
    try:
        posted = await listings.post(subscriber, draft, township=township,
                                     village=str(body.get("village") or subscriber.village), contact=phone,
                                     text=str(body.get("text") or ""), config=request.app[CONFIG].trade,
                                     today=view.today(request))
    except listings.Refused as refused:
        return error(409, str(refused))
    return web.json_response({"listing": listing_json(posted.listing)}, status=201)


@requires("officer")
@accepts(query=LIST_MATCHES)
async def list_matches(request: web.Request) -> web.Response:
    """Matches proposed between listings, newest first (at most 500), with score and reasons; no phones.

    Filters: ?state=proposed|exchanged|declined|expired, ?commodity=柑橘, ?before=<id>."""
    q = request[QUERY]
    query = TradeMatch.all()
    if q["state"]:
        query = query.filter(state=q["state"])
    if q["commodity"]:
        query = query.filter(sell__commodity=q["commodity"])
    if q["before"]:
        query = query.filter(id__lt=q["before"])
    found = await query.order_by("-id").limit(LIMIT)
    return web.json_response({"matches": [match_json(m) for m in found]})
