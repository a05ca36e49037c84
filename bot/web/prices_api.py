"""JSON API for prices: bulk upload from a collection station, recent records, confirm a suspect one."""

from __future__ import annotations

from datetime import datetime, timedelta

from aiohttp import web

from bot import prices
from bot.keys import CONFIG, PRICE_LISTENERS
from bot.models import Market, PriceRecord
from bot.web.auth import OFFICER, error, json_body, requires


def setup(app: web.Application) -> None:
    app.router.add_post("/api/v1/prices", upload)
    app.router.add_get("/api/v1/prices", recent)
    app.router.add_post("/api/v1/prices/{id:\\d+}/confirm", confirm)
    app.router.add_post("/api/v1/markets", add_market)


async def _notify(request: web.Request, commodity_ids: set[int]) -> None:
    for listener in request.app[PRICE_LISTENERS]:
        await listener(commodity_ids)


@requires("officer")
async def upload(request: web.Request) -> web.Response:
    """Body: {"prices": [{date, market, commodity, price, unit}, …], "source": "…"} or the list alone."""
    try:
        body = await request.json()
    except ValueError:
        return error(400, "body must be JSON")
    rows = body.get("prices") if isinstance(body, dict) else body
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        return error(400, "expected a list of price objects (or {\"prices\": [...]})")
    if len(rows) > 5000:
        return error(413, "at most 5000 prices per request")
    source = str(body.get("source") or "api") if isinstance(body, dict) else "api"
    report = await prices.store(list(enumerate(rows)), request.app[CONFIG], source=source,
                                recorded_by=request[OFFICER].name)
    await _notify(request, report.commodity_ids)
    return web.json_response({"stored": report.stored, "updated": report.updated, "suspect": report.suspect,
                              "unmapped": report.unmapped, "errors": report.errors})


@requires("officer")
async def recent(request: web.Request) -> web.Response:
    try:
        days = min(int(request.query.get("days", "7")), 366)
    except ValueError:
        return error(400, "days: expected a whole number")
    since = datetime.now(request.app[CONFIG].tz).date() - timedelta(days=days)
    query = PriceRecord.filter(date__gte=since)
    if name := request.query.get("commodity"):
        table = await prices.name_table()
        if name not in table:
            return error(404, f"unknown commodity {name!r}")
        query = query.filter(commodity_id=table[name].id)
    if status := request.query.get("status"):
        query = query.filter(status=status)
    rows = await query.order_by("-date", "id").limit(1000).values(
        "id", "date", "market__name", "commodity__name", "price", "raw_price", "raw_unit", "status")
    return web.json_response({"prices": [{**r, "date": r["date"].isoformat()} for r in rows]})


@requires("officer")
async def confirm(request: web.Request) -> web.Response:
    record = await PriceRecord.get_or_none(id=int(request.match_info["id"]))
    if record is None:
        return error(404, "no such price")
    if record.status != "suspect":
        return error(409, f"price is {record.status}, not suspect")
    record.status = "published"
    await record.save(update_fields=["status", "updated_at"])
    await _notify(request, {record.commodity_id})
    return web.json_response({"id": record.id, "status": record.status})


@requires("officer")
async def add_market(request: web.Request) -> web.Response:
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    name = str(body.get("name") or "").strip()
    kind = str(body.get("kind") or "批发")
    if not name or kind not in ("田头", "批发", "零售"):
        return error(400, "name required; kind one of 田头, 批发, 零售")
    market, created = await Market.get_or_create(name=name[:50], defaults={
        "township": str(body.get("township") or "")[:50], "city": str(body.get("city") or "")[:50], "kind": kind})
    return web.json_response({"id": market.id, "name": market.name, "created": created}, status=201 if created else 200)
