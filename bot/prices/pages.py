"""Console prices page: recent records, entering prices, suspect ones to confirm, unknown names to map."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from aiohttp import web

from bot.extend import emit
from bot.keys import CONFIG, OFFICER
from bot.prices import commodities, held, quotes, records
from bot.prices.events import PRICES_STORED
from bot.prices.models import Commodity, Market, PriceRecord
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
)


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/prices", prices_page)
    app.router.add_post("/admin/prices", enter_prices)
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
                flash_error: str = "", status: int = 200) -> web.Response:
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
        "limit": LIST_LIMIT, "back": request.path_qs,
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


@auth.page("officer")
async def confirm_price(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        record = await records.confirm(int(request.match_info["id"]))
    except LookupError:
        raise web.HTTPNotFound(reason="没有这条价格，可能已被删除") from None
    except PriceError:
        return see_other(_back(form), err="这条价格已经发布，无需再确认")
    await emit(request.app, PRICES_STORED, {record.commodity_id})
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
