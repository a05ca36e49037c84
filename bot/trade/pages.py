"""Console pages for 供求: listings (approve, reject, close, block the poster), matches, outcomes by
township, and buyers (register one, or a CSV with per-line errors). Officer acts are audited by the
console's middleware, with what was done in the detail."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from aiohttp import web

from bot.keys import CONFIG, OFFICER
from bot.models import unpack_set
from bot.trade import buyers, jobs, listings
from bot.trade.models import TradeBlock, TradeBuyer, TradeListing, TradeMatch, TradeOutcome
from bot.trade.parse import amount
from bot.web import auth, console, view
from bot.web.fields import Text
from bot.web.params import Query, accepts
from bot.web.view import render, see_other
from broadcasts.pushes import push

LIMIT = 200
MATCH_STATES = {"proposed": "等回复", "exchanged": "已交换电话", "declined": "有一方不要", "expired": "已过期"}
ANSWERS = {"": "未回复", "yes": "同意", "no": "不要"}
LISTING_QUERY = Query(state=Text(10, choices=tuple(listings.STATES), label="状态"),
                      side=Text(4, choices=("sell", "buy"), label="卖或收"), commodity=Text(30, label="品种"),
                      township=Text(50, label="乡镇"))
MATCH_QUERY = Query(state=Text(10, choices=tuple(MATCH_STATES), label="状态"), commodity=Text(30, label="品种"))
BUYER_FORM = ("name", "phone", "kind", "township", "commodities", "areas", "quantity", "price")


def setup(app: web.Application) -> None:
    app.router.add_get("/admin/trade", listings_page)
    app.router.add_post("/admin/trade/{id:\\d+}/approve", approve)
    app.router.add_post("/admin/trade/{id:\\d+}/reject", reject)
    app.router.add_post("/admin/trade/{id:\\d+}/close", close)
    app.router.add_post("/admin/trade/{id:\\d+}/block", block)
    app.router.add_get("/admin/trade/matches", matches_page)
    app.router.add_get("/admin/trade/outcomes", outcomes_page)
    app.router.add_get("/admin/trade/buyers", buyers_page)
    app.router.add_post("/admin/trade/buyers", add_buyer)
    app.router.add_post("/admin/trade/buyers/import", import_buyers)


def _back(form: Any) -> str:
    back = str(form.get("back", ""))
    return back if back.startswith("/admin/trade") and "//" not in back else "/admin/trade"


@auth.page("officer")
@accepts(query=LISTING_QUERY)
async def listings_page(request: web.Request) -> web.Response:
    q = {k: request.query.get(k, "") for k in ("state", "side", "commodity", "township")}
    query = TradeListing.all()
    for key, value in q.items():
        if value:
            query = query.filter(**{key: value})
    found = await query.order_by("-id").limit(LIMIT)
    counts = {state: await TradeListing.filter(state=state).count() for state in ("pending", "open")}
    blocked = {row["subscriber_id"] for row in await TradeBlock.all().values("subscriber_id")}
    rows = [(item, view.phone_for(request, item.contact), item.subscriber_id in blocked) for item in found]
    return render(request, "trade/index.html", {
        "rows": rows, "q": q, "states": listings.STATES, "counts": counts, "limit": LIMIT, "back": request.path_qs,
        "moderation": request.app[CONFIG].trade.moderation, "describe": listings.describe,
    })


async def _listing_act(request: web.Request, state: str, from_states: tuple[str, ...]) -> TradeListing | None:
    try:
        return await listings.set_state(int(request.match_info["id"]), state, from_states=from_states)
    except LookupError:
        return None


@auth.page("officer")
async def approve(request: web.Request) -> web.Response:
    form = await request.post()
    listing = await _listing_act(request, "open", ("pending",))
    if listing is None:
        return see_other(_back(form), err="这条供求已不在待审核状态。")
    request[console.AUDIT_DETAIL] = f"approve {listing.commodity} #{listing.number}"
    await push("trade", f"您的供求{listing.number}号（{listings.describe(listing, with_price=False)}）已审核发布，"
                        "有合适的会短信告诉您。", [listing.subscriber_id])
    await jobs.match_pass(request.app, commodities=[listing.commodity], verified_only=True)
    return see_other(_back(form), ok=f"已发布：{listings.describe(listing)}。")


@auth.page("officer")
async def reject(request: web.Request) -> web.Response:
    form = await request.post()
    listing = await _listing_act(request, "rejected", ("pending",))
    if listing is None:
        return see_other(_back(form), err="这条供求已不在待审核状态。")
    reason = str(form.get("reason", "")).strip()[:50]
    request[console.AUDIT_DETAIL] = f"reject {listing.commodity} #{listing.number} {reason}"
    await push("trade", f"您的供求{listing.number}号（{listings.describe(listing, with_price=False)}）没有通过审核"
                        f"{'：' + reason if reason else ''}。有疑问请联系县农技站。", [listing.subscriber_id])
    return see_other(_back(form), ok=f"已驳回：{listings.describe(listing)}。")


@auth.page("officer")
async def close(request: web.Request) -> web.Response:
    form = await request.post()
    listing = await _listing_act(request, "closed", listings.ACTIVE)
    if listing is None:
        return see_other(_back(form), err="这条供求已经不在挂了。")
    request[console.AUDIT_DETAIL] = f"close {listing.commodity} #{listing.number}"
    return see_other(_back(form), ok=f"已关闭：{listings.describe(listing)}。不再匹配。")


@auth.page("supervisor")
async def block(request: web.Request) -> web.Response:
    """Block the poster of this listing: their open listings close and new posts are refused."""
    form = await request.post()
    listing = await TradeListing.get_or_none(id=int(request.match_info["id"]))
    if listing is None:
        raise web.HTTPNotFound(reason="没有这条供求")
    reason = str(form.get("reason", "")).strip()[:100]
    if form.get("undo") == "1":
        await TradeBlock.filter(subscriber_id=listing.subscriber_id).delete()
        request[console.AUDIT_DETAIL] = f"unblock subscriber {listing.subscriber_id}"
        return see_other(_back(form), ok="已解除限制，这位农户可以再发供求。")
    await TradeBlock.get_or_create(subscriber_id=listing.subscriber_id,
                                   defaults={"reason": reason, "created_by": request[OFFICER].name[:50]})
    closed = await TradeListing.filter(subscriber_id=listing.subscriber_id, state__in=listings.ACTIVE).update(
        state="closed")
    request[console.AUDIT_DETAIL] = f"block subscriber {listing.subscriber_id} {reason}"
    return see_other(_back(form), ok=f"已限制这位农户发供求，关闭了{closed}条在挂的信息。")


@auth.page("officer")
@accepts(query=MATCH_QUERY)
async def matches_page(request: web.Request) -> web.Response:
    state = request.query.get("state", "")
    commodity = request.query.get("commodity", "")
    query = TradeMatch.all()
    if state:
        query = query.filter(state=state)
    if commodity:
        query = query.filter(sell__commodity=commodity)
    found = await query.order_by("-id").limit(LIMIT).prefetch_related("sell", "buy")
    return render(request, "trade/matches.html", {
        "matches": found, "states": MATCH_STATES, "answers": ANSWERS, "state": state, "commodity": commodity,
        "describe": listings.describe, "limit": LIMIT,
    })


@auth.page("officer")
async def outcomes_page(request: web.Request) -> web.Response:
    """成交 by township and commodity: deals, average price, no-deals; then the latest answers."""
    rows = await TradeOutcome.all().order_by("-id").limit(2000).values(
        "match_id", "township", "commodity", "unit", "dealt", "price")
    deals: dict[tuple[str, str, str], dict[int, list[float]]] = defaultdict(lambda: defaultdict(list))
    none: dict[tuple[str, str, str], set[int]] = defaultdict(set)
    for row in rows:
        key = (row["township"] or "未填", row["commodity"], row["unit"])
        if row["dealt"] and row["price"] is not None:
            deals[key][row["match_id"]].append(row["price"])
        elif not row["dealt"]:
            none[key].add(row["match_id"])
    table = []
    for key in sorted(set(deals) | set(none)):
        per_match = [sum(p) / len(p) for p in deals[key].values()] if key in deals else []
        table.append({"township": key[0], "commodity": key[1], "unit": key[2], "deals": len(per_match),
                      "average": amount(sum(per_match) / len(per_match)) if per_match else "",
                      "low": amount(min(per_match)) if per_match else "", "high": amount(max(per_match)) if per_match else "",
                      "no_deal": len(none.get(key, set()))})
    latest = await TradeOutcome.all().order_by("-id").limit(50)
    exchanged = await TradeMatch.filter(state="exchanged").count()
    return render(request, "trade/outcomes.html", {"table": table, "latest": latest, "exchanged": exchanged,
                                                   "amount": amount})


@auth.page("officer")
async def buyers_page(request: web.Request) -> web.Response:
    return await _buyers(request)


async def _buyers(request: web.Request, *, form: dict[str, str] | None = None,
                  errors: list[tuple[int, str]] | None = None, flash_error: str = "",
                  status: int = 200) -> web.Response:
    found = await TradeBuyer.all().order_by("-verified", "name").limit(LIMIT)
    context: dict[str, Any] = {
        "buyers": [(b, view.phone_for(request, b.phone), "、".join(unpack_set(b.commodities)),
                    "、".join(unpack_set(b.areas)) or "不限") for b in found],
        "form": {**dict.fromkeys(BUYER_FORM, ""), "verified": "", **(form or {})}, "errors": errors or [],
        "amount": amount,
    }
    if flash_error:
        context["flash_error"] = flash_error
    return render(request, "trade/buyers.html", context, status=status)


@auth.page("officer")
async def add_buyer(request: web.Request) -> web.Response:
    form = await request.post()
    values = {name: str(form.get(name, "")).strip()[:300] for name in BUYER_FORM}
    values["verified"] = "1" if form.get("verified") == "1" else ""
    try:
        row = buyers.parse_buyer(values)
    except buyers.BuyerError as exc:
        return await _buyers(request, form=values, status=400,
                              flash_error=f"收购商没有保存：{exc}。已填的内容还在下方表中。")
    buyer, created = await buyers.register(row, request[OFFICER].name, request.app[CONFIG].trade,
                                           view.today(request))
    request[console.AUDIT_DETAIL] = f"{buyer.name} verified={buyer.verified} {'/'.join(row.commodities)}"
    if buyer.verified:
        await jobs.match_pass(request.app, commodities=row.commodities, verified_only=True)
    done = "已登记" if created else "已更新"
    return see_other("/admin/trade/buyers", ok=f"{done}收购商：{buyer.name}（{'、'.join(row.commodities)}）。")


@auth.page("officer")
async def import_buyers(request: web.Request) -> web.Response:
    form = await request.post()
    upload = form.get("file")
    text = str(form.get("csv", ""))
    if upload is not None and hasattr(upload, "file"):
        raw = upload.file.read(1_000_000)
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            try:
                text = raw.decode("gb18030")
            except UnicodeDecodeError:
                return await _buyers(request, status=400, flash_error="文件不是 UTF-8 或 GBK 编码的 CSV。")
    if not text.strip():
        return await _buyers(request, status=400, flash_error="请选择 CSV 文件或粘贴内容。")
    if "\x00" in text:
        return await _buyers(request, status=400, flash_error="文件里有不能识别的字符，请另存为 CSV 再试。")
    report = await buyers.import_csv(text, request[OFFICER].name, request.app[CONFIG].trade, view.today(request))
    request[console.AUDIT_DETAIL] = f"created={report.created} updated={report.updated} errors={len(report.errors)}"
    if report.commodities:
        await jobs.match_pass(request.app, commodities=report.commodities, verified_only=True)
    if report.errors:
        head = f"导入完成：新登记{report.created}家，更新{report.updated}家；下面{len(report.errors)}行没有导入。"
        return await _buyers(request, errors=report.errors, flash_error=head,
                              status=400 if not (report.created or report.updated) else 200)
    return see_other("/admin/trade/buyers", ok=f"导入完成：新登记{report.created}家，更新{report.updated}家。")

