"""JSON API for prices: bulk upload, recent records, confirm or delete one, unknown names, markets."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from bot.extend import emit
from bot.keys import CONFIG, OFFICER
from bot.prices import commodities, held, records
from bot.prices.events import PRICES_STORED
from bot.prices.models import Market, PriceRecord
from bot.prices.rows import PriceError
from bot.web import console, view
from bot.web.auth import error, json_body, requires
from bot.web.fields import Bool, Field, Int, List, Obj, OneOf, Scalar, Text
from bot.web.params import BODY, QUERY, Query, accepts

MAX_PRICES = 5000
# Rows are stored one by one: each row's problems are reported with its position, good rows kept.
PRICE_ROW = Obj(date=Scalar(20, label="日期"), market=Text(50, label="市场"), commodity=Text(30, label="品名"),
                price=Scalar(20, label="价格"), unit=Text(10, label="单位"), description="one price")
PRICE_ROWS = List(Obj(description="a price: date, market, commodity, price, unit"), max_items=MAX_PRICES,
                  label="价格列表")
UPLOAD = OneOf(PRICE_ROWS, Obj(prices=PRICE_ROWS, source=Text(100, label="来源"), example={
    "prices": [{"date": "2026-03-01", "market": "关防乡收购点", "commodity": "柑橘", "price": 2.4, "unit": "元/斤"}],
    "source": "关防乡采价点"}))
RECENT = Query(days=Int(1, 366, default=7, label="最近几天"), commodity=Text(30, label="品名（或别名）"),
               status=Text(12, choices=("published", "suspect"), label="状态"))
MARKET = Obj(name=Text(50, required=True, label="市场名"), kind=Text(8, label="类型（田头、批发或零售）"),
             township=Text(50, label="乡镇"), city=Text(50, label="城市"))
HELD: dict[str, Field] = {"kind": Text(16, choices=held.UNMAPPED_KINDS, required=True, label="哪种名称"),
                          "name": Text(50, required=True, label="不认识的名称")}
MAP = Obj(HELD, target=Text(50, required=True, label="对应的已有名称"), save_alias=Bool(label="以后也这样认"))
DROP = Obj(HELD)


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/prices", upload)
    app.router.add_get("/api/v1/prices", recent)
    app.router.add_post("/api/v1/prices/{id:\\d+}/confirm", confirm)
    app.router.add_delete("/api/v1/prices/{id:\\d+}", delete)
    app.router.add_get("/api/v1/prices/unmapped", unmapped)
    app.router.add_post("/api/v1/prices/unmapped/map", map_unmapped)
    app.router.add_post("/api/v1/prices/unmapped/drop", drop_unmapped)
    app.router.add_get("/api/v1/markets", markets)
    app.router.add_post("/api/v1/markets", add_market)


@requires("officer")
@accepts(body=UPLOAD)
async def upload(request: web.Request) -> web.Response:
    """Store prices (bad rows reported, unknown names held, outliers held as suspect).

    Body: {"prices": [{date, market, commodity, price, unit}, …], "source": "…"} or the list alone."""
    body = request[BODY]
    rows = body.get("prices") if isinstance(body, dict) else body
    if not isinstance(rows, list):
        return error(400, "prices：应是价格列表 [{date, market, commodity, price, unit}, …]")
    source = str(body.get("source") or "api") if isinstance(body, dict) else "api"
    report = await records.store(list(enumerate(rows)), request.app[CONFIG], source=source,
                                recorded_by=request[OFFICER].name)
    await emit(request.app, PRICES_STORED, report.commodity_ids)
    return _report(report)


@requires("officer")
@accepts(query=RECENT)
async def recent(request: web.Request) -> web.Response:
    """Recent price records, newest first (at most 1000).

    Query: days (default 7), commodity=NAME (or another name for it), status=published|suspect."""
    asked = request[QUERY]
    since = view.today(request) - timedelta(days=asked["days"])
    query = PriceRecord.filter(date__gte=since)
    if name := asked["commodity"]:
        table = await commodities.name_table()
        if name not in table:
            return error(404, f"unknown commodity {name!r}")
        query = query.filter(commodity_id=table[name].id)
    if status := asked["status"]:
        query = query.filter(status=status)
    rows = await query.order_by("-date", "id").limit(1000).values(
        "id", "date", "market__name", "commodity__name", "price", "raw_price", "raw_unit", "status")
    return web.json_response({"prices": [{**r, "date": r["date"].isoformat()} for r in rows]})


@requires("officer")
async def confirm(request: web.Request) -> web.Response:
    """Publish a price held as suspect (price alerts are checked)."""
    try:
        record = await records.confirm(int(request.match_info["id"]))
    except LookupError as exc:
        return error(404, str(exc))
    except PriceError as exc:
        return error(409, str(exc))
    await emit(request.app, PRICES_STORED, {record.commodity_id})
    return web.json_response({"id": record.id, "status": record.status})


@requires("officer")
@accepts(body=MARKET)
async def add_market(request: web.Request) -> web.Response:
    """Add a market (201), or return the existing one of that name (200).

    Body: {"name": "…", "kind": "田头|批发|零售", "township": "…", "city": "…"}."""
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    try:
        market, created = await commodities.add_market(
            str(body.get("name") or ""), str(body.get("kind") or "批发"),
            str(body.get("township") or ""), str(body.get("city") or ""))
    except PriceError as exc:
        return error(400, str(exc))
    return web.json_response({"id": market.id, "name": market.name, "created": created}, status=201 if created else 200)


@requires("officer")
async def markets(request: web.Request) -> web.Response:
    """Markets where prices are collected."""
    rows = await Market.all().order_by("name").values("id", "name", "kind", "township", "city")
    return web.json_response({"markets": rows})


@requires("officer")
async def delete(request: web.Request) -> web.Response:
    """Delete a wrongly entered price record."""
    record = await records.delete(int(request.match_info["id"]))
    if record is None:
        return error(404, "no such price")
    request[console.AUDIT_DETAIL] = (f"{record.date} market {record.market_id} commodity {record.commodity_id}"
                                     f" {record.price:g} {record.status}")
    return web.json_response({"id": record.id, "deleted": True})


@requires("officer")
async def unmapped(request: web.Request) -> web.Response:
    """Prices held because their commodity or market name is unknown, grouped by that name."""
    groups = await held.held_names()
    return web.json_response({"unmapped": [
        {"kind": g.kind, "name": g.name, "count": len(g.rows), "prices": [
            {"id": r.id, "date": r.date.isoformat(), "market": r.market_name, "commodity": r.commodity_name,
             "price": r.raw_price, "unit": r.raw_unit, "source": r.source} for r in g.rows]}
        for g in groups]})


async def _held_body(request: web.Request) -> tuple[dict[str, Any], tuple[str, str]] | web.Response:
    """A map or drop request's body and the unknown (kind, name) it is about."""
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    kind, name = body.get("kind"), body.get("name")
    if kind not in held.UNMAPPED_KINDS or not isinstance(name, str) or not name:
        return error(400, "kind (commodity or market) and name required")
    return body, (str(kind), name)


def _report(report: records.PriceReport) -> web.Response:
    return web.json_response({"stored": report.stored, "updated": report.updated, "suspect": report.suspect,
                              "unmapped": report.unmapped, "errors": report.errors})


@requires("officer")
@accepts(body=MAP)
async def map_unmapped(request: web.Request) -> web.Response:
    """Store the prices held under an unknown name as an existing commodity or market.

    Body: {"kind": "commodity|market", "name": "unknown name", "target": "existing name",
    "save_alias": true (commodities only: recognise the name from now on)}."""
    asked = await _held_body(request)
    if isinstance(asked, web.Response):
        return asked
    body, which = asked
    target, save_alias = body.get("target"), body.get("save_alias", False)
    if not isinstance(target, str) or not target or not isinstance(save_alias, bool):
        return error(400, "target (an existing name) required; save_alias true or false")
    try:
        report = await held.map_held(*which, target, request.app[CONFIG], save_alias=save_alias,
                                     recorded_by=request[OFFICER].name)
    except LookupError as exc:
        return error(404, str(exc))
    except PriceError as exc:
        return error(400, str(exc))
    await emit(request.app, PRICES_STORED, report.commodity_ids)
    return _report(report)


@requires("officer")
@accepts(body=DROP)
async def drop_unmapped(request: web.Request) -> web.Response:
    """Give up on the prices held under an unknown name.

    Body: {"kind": "commodity|market", "name": "unknown name"}."""
    asked = await _held_body(request)
    if isinstance(asked, web.Response):
        return asked
    _, which = asked
    try:
        dropped = await held.drop_held(*which)
    except PriceError as exc:
        return error(400, str(exc))
    if not dropped:
        return error(404, f"no open prices held under {which[1]!r}")
    return web.json_response({"dropped": dropped})
