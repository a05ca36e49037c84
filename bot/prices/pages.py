"""Console prices page: recent records, entering prices by hand or by CSV file, suspect ones to check
and confirm on a page of their own, unknown names to map, and price charts per commodity and market."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import PurePath
from typing import Any
from urllib.parse import unquote

from aiohttp import web
from tortoise.expressions import Subquery

from bot.extend import emit
from bot.keys import CONFIG, OFFICER
from bot.prices import chart, commodities, held, quotes, records, rows
from bot.prices.events import PRICES_STORED
from bot.prices.models import Commodity, Market, PriceAlert, PriceRecord
from bot.prices.rows import UNITS, PriceError
from bot.web import auth, console, view
from bot.web.fields import MAX_ID, Int, Text
from bot.web.params import QUERY, Query, accepts
from bot.web.view import render, see_other, translate

FORM_ROWS = 5  # empty rows on the entry form
MAX_FORM_ROWS = 20
LIST_LIMIT = 300
KINDS = {"commodity": "品名", "market": "市场"}
STATUS_NAMES = {"published": "已发布", "suspect": "待确认"}
PRICES_QUERY = Query(days=Int(1, 366, default=7, label="最近几天"), commodity=Text(30, label="品名"),
                     market=Int(1, MAX_ID, label="市场"), status=Text(12, choices=tuple(STATUS_NAMES), label="状态"))
# store()'s English row messages -> what an officer reads.
ROW_MESSAGES = (
    (r"unknown commodity '(.*)', kept", "品名“{0}”不认识，已暂存到“未识别名称”"),
    (r"unknown market '(.*)', kept", "市场“{0}”不认识，已暂存到“未识别名称”"),
    (r"(\S+) ([\d.]+) is far from the 30-day median ([\d.]+)",
     "{0} {1} 元与近 30 天中位数 {2} 元相差太大，已存为“待确认”，核对无误后请确认发布"),
    (r"date: expected", "日期格式不对，应写成 2026-03-01 这样"),
    (r"date: (\S+) is in the future", "日期 {0} 还没到"),
    (r"date: (\S+) is more than a year ago", "日期 {0} 已超过一年"),
    (r"market and commodity", "请选择市场和品名"),
    (r"price: expected a number", "价格要填数字"),
    (r"price: .* is not a price", "价格要大于 0"),
    (r"price: (\S+) (\S+) is (\d+) (\S+), not believable", "价格 {0}{1} 折合 {2}{3}，不可信，请核对单位"),
    (r"unit: unknown unit", "不认识的单位"),
    (r"unit: '(.*)' cannot be compared with (\S+)", "单位 {0} 无法换算成 {1}"),
    (r"^(\w+): longer than (\d+) characters", "“{0}”一栏太长（最多 {1} 个字）"),
)
CHART_QUERY = Query(commodity=Text(30, label="品名"), market=Int(1, MAX_ID, label="市场"),
                    days=Int(7, 366, default=30, label="最近几天"))
UPLOAD_COLUMNS = "日期,市场,品名,价格,单位（或 date,market,commodity,price,unit），可加一列 来源"


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/prices", prices_page)
    app.router.add_post("/admin/prices", enter_prices)
    app.router.add_post("/admin/prices/upload", upload_prices)
    app.router.add_get("/admin/prices/chart", chart_page)
    app.router.add_get("/admin/prices/{id:\\d+}/confirm", confirm_page)
    app.router.add_post("/admin/prices/{id:\\d+}/confirm", confirm_price)
    app.router.add_post("/admin/prices/{id:\\d+}/delete", delete_price)
    app.router.add_post("/admin/prices/unmapped/map", map_name)
    app.router.add_post("/admin/prices/unmapped/drop", drop_name)
    app.router.add_post("/admin/prices/markets", add_market)


def row_message(error: str, label: str = "第 {} 行") -> str:
    """'3: price: expected a number, got …' -> '第 3 行：价格要填数字'."""
    where, _, message = error.partition(": ")
    return f"{label.format(where)}：{translate(message, ROW_MESSAGES) or message}"



def _blank(today: str) -> dict[str, str]:
    return {"date": today, "market": "", "commodity": "", "price": "", "unit": "元/斤"}


def _back(form: Any) -> str:
    """Where a list action returns to: the prices page with the filters it was sent from."""
    back = str(form.get("back", ""))
    return back if back.startswith("/admin/prices") and "//" not in back else "/admin/prices"


async def _records(request: web.Request) -> tuple[list[PriceRecord], dict[str, Any]]:
    # Also shown again after a form (a POST to this page's address): its query is checked the same way.
    asked = request[QUERY] if QUERY in request else PRICES_QUERY.parse(request.query)
    days = asked["days"]
    filters: dict[str, Any] = {"days": days, "commodity": asked["commodity"] or "",
                               "market": str(asked["market"] or ""), "status": asked["status"] or ""}
    query = PriceRecord.filter(date__gte=view.today(request) - timedelta(days=days))
    if filters["commodity"]:
        query = query.filter(commodity__name=filters["commodity"])
    if asked["market"]:
        query = query.filter(market_id=asked["market"])
    if filters["status"]:
        query = query.filter(status=filters["status"])
    found = await query.order_by("-date", "commodity_id", "market_id").limit(LIST_LIMIT).prefetch_related(
        "market", "commodity")
    return found, filters


@auth.page("officer")
@accepts(query=PRICES_QUERY)
async def prices_page(request: web.Request) -> web.Response:
    return await _show(request)


async def _show(request: web.Request, *, form_rows: list[dict[str, str]] | None = None,
                flash_error: str = "", status: int = 200, upload: dict[str, Any] | None = None) -> web.Response:
    await commodities.ensure_commodities()
    shown, filters = await _records(request)
    suspects = await PriceRecord.filter(status="suspect").order_by("-date", "id").limit(100).prefetch_related(
        "market", "commodity")
    today = view.today(request).isoformat()
    context: dict[str, Any] = {
        "records": shown, "changes": await quotes.week_changes(shown), "filters": filters,
        "suspects": [(r, await records.median_for(r)) for r in suspects],
        "held": await held.held_names(), "kinds": KINDS, "status_names": STATUS_NAMES,
        "markets": await Market.all().order_by("name"),
        "commodities": await Commodity.all().order_by("group", "id"),
        "units": UNITS, "market_kinds": commodities.MARKET_KINDS, "arrow": quotes.arrow, "today": today,
        "rows": form_rows or [_blank(today) for _ in range(FORM_ROWS)],
        # After a form (a POST here) list actions come back to the page itself, not to the form's address.
        "limit": LIST_LIMIT, "back": request.path_qs if request.method == "GET" else "/admin/prices",
        "upload": upload, "upload_columns": UPLOAD_COLUMNS,
    }
    if flash_error:
        context["flash_error"] = flash_error
    return render(request, "prices/index.html", context, status=status)


@auth.page("officer")
async def enter_prices(request: web.Request) -> web.Response:
    form = await request.post()
    rows = []
    for n in range(1, MAX_FORM_ROWS + 1):
        if f"price_{n}" not in form:
            continue
        row = {name: str(form.get(f"{name}_{n}", "")).strip()
               for name in ("date", "market", "commodity", "price", "unit")}
        if row["price"] or row["market"] or row["commodity"]:
            rows.append((n, row))
    if not rows:
        return see_other("/admin/prices", err="没有填写任何价格：每行请选市场、品名并填价格。")
    config, name = request.app[CONFIG], request[OFFICER].name
    stored, kept, problems, failed = 0, 0, [], []
    commodity_ids: set[int] = set()
    for n, row in rows:  # one at a time, so each row's outcome is known
        if not row["price"]:
            problems.append(f"第 {n} 行：请填写价格")
            failed.append(row)
            continue
        report = await records.store([(n, row)], config, source="后台录入", recorded_by=name)
        commodity_ids |= report.commodity_ids
        problems += [row_message(e) for e in report.errors]
        if report.stored or report.updated:
            stored += 1
            kept += report.suspect
        elif report.unmapped:
            kept += 1
        else:
            failed.append(row)
    await emit(request.app, PRICES_STORED, commodity_ids)
    request[console.AUDIT_DETAIL] = f"entered {stored} prices, {kept} held, {len(failed)} refused"
    done = f"已保存 {stored} 条价格。" if stored else ""
    if not problems:
        return see_other("/admin/prices", ok=done)
    if not failed:
        return see_other("/admin/prices", err=done + "；".join(problems))
    # Refused rows come back on the form as they were typed, so nothing has to be typed twice.
    return await _show(
        request, form_rows=[*failed, _blank(view.today(request).isoformat())],
        flash_error=done + "以下各行没有保存，已放回表中，改好后再提交：" + "；".join(problems),
        status=200 if stored or kept else 400)


async def _suspect(request: web.Request) -> PriceRecord:
    record = await PriceRecord.get_or_none(id=int(request.match_info["id"])).prefetch_related("market", "commodity")
    if record is None:
        raise web.HTTPNotFound(reason="没有这条价格，可能已被删除")
    return record


@auth.page("officer")
async def confirm_page(request: web.Request) -> web.Response:
    """The step before a suspect price goes out: the price beside its 30-day median and the market's
    recent prices, and who would be alerted, so a 3× typing mistake is caught before villagers see it."""
    record = await _suspect(request)
    if record.status != "suspect":
        return see_other("/admin/prices", ok="这条价格已经发布，无需再确认。")
    return await _confirm(request, record, _back(request.query))


async def _confirm(request: web.Request, record: PriceRecord, back: str, *, flash_error: str = "",
                   status: int = 200) -> web.Response:
    median = await records.median_for(record)
    since = record.date - timedelta(days=records.MEDIAN_DAYS)
    lines = [*await chart.series(record.commodity_id, since, record.market_id),
             chart.Series("待确认的这条", ((record.date, record.price),))]
    recent = await PriceRecord.filter(commodity_id=record.commodity_id, status="published",
                                      date__gte=since).order_by("-date", "market_id").limit(15).prefetch_related("market")
    return render(request, "prices/confirm.html", {
        "r": record, "median": median, "ratio": record.price / median if median else None,
        "recent": recent, "alerts": await PriceAlert.filter(commodity_id=record.commodity_id).count(),
        "chart": chart.line_chart(lines, since, record.date, unit=record.commodity.unit,
                                  title=f"{record.commodity.name}在{record.market.name}近 30 天已发布的价格和待确认的这条"),
        "back": back, **({"flash_error": flash_error} if flash_error else {}),
    }, status=status)


@auth.page("officer")
async def confirm_price(request: web.Request) -> web.Response:
    form = await request.post()
    record_id = int(request.match_info["id"])
    if form.get("checked") != "1":
        # One click never publishes a suspect price: the officer checks it on its own page first
        # (400, not a redirect: only a done confirmation is on the audit trail).
        record = await _suspect(request)
        if record.status == "suspect":
            return await _confirm(request, record, _back(form), status=400,
                                  flash_error="请先核对这条价格，勾选“我已核对”后再确认发布。")
    try:
        record = await records.confirm(record_id)
    except LookupError:
        raise web.HTTPNotFound(reason="没有这条价格，可能已被删除") from None
    except PriceError:
        return see_other(_back(form), err="这条价格已经发布，无需再确认")
    await emit(request.app, PRICES_STORED, {record.commodity_id})
    request[console.AUDIT_DETAIL] = f"核对后确认发布：{record.date} {record.price:g} 元（编号 {record.id}）"
    return see_other(_back(form), ok=f"已确认发布：{record.date} {record.price:g} 元。"
                                     "设了价格提醒的农户会按规则收到提醒。")


@auth.page("officer")
async def delete_price(request: web.Request) -> web.Response:
    form = await request.post()
    record = await records.delete(int(request.match_info["id"]))
    if record is None:
        raise web.HTTPNotFound(reason="没有这条价格，可能已被删除")
    what = f"{record.date} {record.market.name} {record.commodity.name} {record.price:g}"
    request[console.AUDIT_DETAIL] = what
    return see_other(_back(form), ok=f"已删除：{what} 元")


def _held_name(form: Any) -> tuple[str, str]:
    kind, name = str(form.get("kind", "")), str(form.get("name", ""))
    if kind not in KINDS or not name:
        raise web.HTTPBadRequest(reason="表单不完整，请刷新页面后重试")
    return kind, name


@auth.page("officer")
async def map_name(request: web.Request) -> web.Response:
    form = await request.post()
    kind, name = _held_name(form)
    target = str(form.get("target", "")).strip()
    if not target:
        return see_other("/admin/prices", err=f"请选择把“{name}”归入哪个{KINDS[kind]}")
    save_alias = kind == "commodity" and form.get("save_alias") == "1"
    try:
        report = await held.map_held(kind, name, target, request.app[CONFIG], save_alias=save_alias,
                                     recorded_by=request[OFFICER].name)
    except LookupError:
        return see_other("/admin/prices", err=f"“{name}”下已没有待处理的价格（可能别人刚处理过）")
    except PriceError:
        return see_other("/admin/prices", err=f"没有名为“{target}”的{KINDS[kind]}，或它的别名已太多")
    await emit(request.app, PRICES_STORED, report.commodity_ids)
    request[console.AUDIT_DETAIL] = f"{kind} {name} -> {target}, alias={save_alias}, stored {report.stored}"
    return _mapped(name, target, report, save_alias)


def _mapped(name: str, target: str, report: records.PriceReport, save_alias: bool) -> web.Response:
    done = f"已把“{name}”归入“{target}”，保存 {report.stored + report.updated} 条价格"
    if save_alias:
        done += f"，以后再遇到“{name}”会自动识别"
    problems = [row_message(e, "编号 {}") for e in report.errors]
    if problems:
        return see_other("/admin/prices", err=done + "。" + "；".join(problems))
    return see_other("/admin/prices", ok=done + "。")


@auth.page("officer")
async def drop_name(request: web.Request) -> web.Response:
    form = await request.post()
    kind, name = _held_name(form)
    dropped = await held.drop_held(kind, name)
    if not dropped:
        return see_other("/admin/prices", err=f"“{name}”下已没有待处理的价格")
    return see_other("/admin/prices", ok=f"已忽略“{name}”下的 {dropped} 条价格（不会发布）")


@auth.page("officer")
async def add_market(request: web.Request) -> web.Response:
    form = await request.post()
    name = str(form.get("name", "")).strip()
    if not name or len(name) > 50:
        return see_other("/admin/prices", err="请填写市场名称（最多 50 个字）")
    try:
        market, created = await commodities.add_market(
            name, str(form.get("kind", "")), str(form.get("township", "")), str(form.get("city", "")))
    except PriceError:
        return see_other("/admin/prices", err="请选择市场类型：田头、批发或零售")
    done = f"已新增市场“{market.name}”" if created else f"市场“{market.name}”已经有了"
    if not await held.is_held("market", market.name):
        return see_other("/admin/prices", ok=done)
    report = await held.map_held("market", market.name, market.name, request.app[CONFIG],
                                 recorded_by=request[OFFICER].name)
    await emit(request.app, PRICES_STORED, report.commodity_ids)
    return _mapped(market.name, market.name, report, False)


@auth.page("officer")
async def upload_prices(request: web.Request) -> web.Response:
    """A CSV file of prices, read as `nongbot import prices` reads it (rows.read_sheet, records.store):
    each bad line reported with its number, the good ones saved, outliers held for confirmation."""
    form = await request.post()
    upload = form.get("file")
    if not isinstance(upload, web.FileField) or not upload.filename:
        return await _show(request, flash_error="请选择要上传的价格表（CSV 文件）。", status=400)
    data = await asyncio.to_thread(upload.file.read)
    name = PurePath(unquote(upload.filename).replace("\\", "/")).name[:60] or "价格表"
    sheet = await asyncio.to_thread(rows.read_sheet, data)
    report = await records.store([(line, dict(row)) for line, row in sheet.rows], request.app[CONFIG],
                                 source=f"上传 {name}", recorded_by=request[OFFICER].name)
    await emit(request.app, PRICES_STORED, report.commodity_ids)
    lines = [(e.line, "没有保存", e.chinese) for e in sheet.errors]
    for error in report.errors:
        where, _, message = error.partition(": ")
        outcome = ("待确认" if "held as suspect" in message else
                   "已暂存，名称未识别" if "kept for an officer" in message else "没有保存")
        lines.append((int(where), outcome, translate(message, ROW_MESSAGES) or message))
    lines.sort()
    refused = sum(1 for _, outcome, _ in lines if outcome == "没有保存")
    summary = (f"“{name}”：新增 {report.stored} 条，更新 {report.updated} 条；{report.suspect} 条待确认，"
               f"{report.unmapped} 条名称未识别（已暂存），{refused} 行有错没有保存。")
    request[console.AUDIT_DETAIL] = summary
    saved = report.stored + report.updated + report.suspect + report.unmapped
    return await _show(request, upload={"name": name, "summary": summary, "lines": lines},
                       status=200 if saved or not lines else 400)


@auth.page("officer")
@accepts(query=CHART_QUERY)
async def chart_page(request: web.Request) -> web.Response:
    """Prices of one commodity over time, one line per market (or one market)."""
    asked = request[QUERY]
    await commodities.ensure_commodities()
    priced = await Commodity.filter(
        id__in=Subquery(PriceRecord.filter(status="published").distinct().values("commodity_id"))).order_by("group", "id")
    name = asked["commodity"] or (priced[0].name if priced else "")
    commodity = await Commodity.get_or_none(name=name) if name else None
    days = asked["days"]
    last = view.today(request)
    first = last - timedelta(days=days - 1)
    lines = await chart.series(commodity.id, first, asked["market"]) if commodity else []
    market = await Market.get_or_none(id=asked["market"]) if asked["market"] else None
    where = market.name if market else "各市场"
    return render(request, "prices/chart.html", {
        "commodities": priced, "markets": await Market.all().order_by("name"), "commodity": commodity,
        "market": market, "days": days, "lines": lines,
        "chart": chart.line_chart(lines, first, last, unit=commodity.unit if commodity else "",
                                  title=f"{name}近 {days} 天{where}的价格") if commodity else None,
    })
