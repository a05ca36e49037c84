"""供求 in the console and the API, with moderation on: approve, reject, block (supervisor), buyers by
CSV with per-line errors (verified ones matched at once), matches and outcomes pages, the JSON API and
its OpenAPI description, and the weekly 收购信息 digest placeholder."""

from __future__ import annotations

from datetime import date
from urllib.parse import unquote

import pytest

from bot.config import Config
from bot.models import AuditEvent, Subscriber
from bot.trade import jobs
from bot.trade.models import TradeBlock, TradeBuyer, TradeListing, TradeMatch
from broadcasts.models import Broadcast
from broadcasts.placeholders import render
from tests.conftest import make_config
from tests.helpers import Console, reply_text

pytestmark = pytest.mark.db
SELLER = "+8613800138000"
OTHER = "+8613700137000"


@pytest.fixture
def config(db_url: str) -> Config:
    return make_config(db_url, trade={"moderation": True})


async def _posted(console: Console) -> tuple[TradeListing, TradeListing]:
    await Subscriber.create(phone=SELLER, name="张三", township="城关镇")
    await Subscriber.create(phone=OTHER, name="李四", township="城关镇")
    reply = await reply_text(console.app, "卖 核桃 300斤 12元", address=SELLER)
    assert "农技员看过后发布" in reply
    await reply_text(console.app, "收 柑橘 100斤", address=OTHER)
    return await TradeListing.get(subscriber__phone=SELLER), await TradeListing.get(subscriber__phone=OTHER)


async def test_first_posts_wait_for_an_officer_who_approves_or_rejects(console: Console) -> None:
    walnut, citrus = await _posted(console)
    assert walnut.state == citrus.state == "pending"
    await console.login("officer")
    page = await console.client.get("/admin/trade?state=pending")
    body = await page.text()
    assert page.status == 200 and "待审核" in body and "卖核桃300斤" in body
    assert "+86138****8000" in body and SELLER not in body  # officers see masked phones
    response = await console.post_form(f"/admin/trade/{walnut.id}/approve", {"back": "/admin/trade"})
    assert response.status == 303 and "已发布" in unquote(response.headers["Location"])
    await walnut.refresh_from_db()
    assert walnut.state == "open"
    assert await Broadcast.filter(kind="trade", text__contains="已审核发布").exists()
    response = await console.post_form(f"/admin/trade/{citrus.id}/reject", {"reason": "信息不全"})
    await citrus.refresh_from_db()
    assert response.status == 303 and citrus.state == "rejected"
    assert await Broadcast.filter(text__contains="没有通过审核：信息不全").exists()
    again = await console.post_form(f"/admin/trade/{citrus.id}/approve")
    assert again.status == 303 and "err=" in again.headers["Location"]
    actions = await AuditEvent.filter(officer_name="农技员小王").values_list("action", flat=True)
    assert any("approve" in str(a) for a in actions) and any("reject" in str(a) for a in actions)
    # A second post of an approved poster needs no review.
    assert "已登记供求2号" in await reply_text(console.app, "卖 板栗 200斤", address=SELLER)


async def test_blocking_needs_a_supervisor_and_refuses_new_posts(console: Console) -> None:
    walnut, _ = await _posted(console)
    await console.login("officer")
    refused = await console.post_form(f"/admin/trade/{walnut.id}/block", {"reason": "骗定金"})
    assert refused.status == 403 and not await TradeBlock.exists()
    await console.login("supervisor")
    done = await console.post_form(f"/admin/trade/{walnut.id}/block", {"reason": "骗定金"})
    assert done.status == 303 and await TradeBlock.exists()
    await walnut.refresh_from_db()
    assert walnut.state == "closed"
    assert "暂时不能发布" in await reply_text(console.app, "卖 核桃 100斤", address=SELLER)
    await console.post_form(f"/admin/trade/{walnut.id}/block", {"undo": "1"})
    assert not await TradeBlock.exists()


CSV = (
    "名称,电话,类型,乡镇,收购品种,收购区域,数量,价格,认证\n"
    "城关核桃合作社,13600136000,合作社,城关镇,核桃 板栗,,500,12,是\n"
    "坏品种商行,13600136001,经纪人,城关镇,火星果,,,,\n"
    "没电话的,12345,经纪人,城关镇,核桃,,,,\n"
    "老王收购点,13600136002,经纪人,关防乡,柑橘,,,,\n"
    "远方商行,13600136003,经纪人,关防乡,核桃,关防乡 夹河镇,,,是\n"
)


async def test_buyers_by_csv_are_matched_at_once_when_verified(console: Console) -> None:
    walnut, _ = await _posted(console)
    await console.login("officer")
    await console.post_form(f"/admin/trade/{walnut.id}/approve")
    response = await console.post_form("/admin/trade/buyers/import", {"csv": CSV})
    body = await response.text()
    assert response.status == 200 and "第 3 行" in body and "火星果" in body and "第 4 行" in body
    assert await TradeBuyer.all().count() == 3
    assert {b.name for b in await TradeBuyer.filter(verified=True)} == {"城关核桃合作社", "远方商行"}
    unverified = await TradeListing.get(buyer__name="老王收购点")
    assert unverified.state == "pending"  # moderation: unverified buyers wait
    match = await TradeMatch.get(sell_id=walnut.id)  # not 远方商行: it buys in 关防乡 and 夹河镇 only
    assert "认证收购商" in match.reasons and match.buy_id == (await TradeListing.get(buyer__name="城关核桃合作社",
                                                                                commodity="核桃")).id
    texts = [b.text for b in await Broadcast.filter(kind="trade")]
    assert any(f"供求{match.id}号：城关核桃合作社（认证收购商）收核桃500斤，出价12元/斤" in t for t in texts)
    page = await (await console.client.get("/admin/trade/buyers")).text()
    assert "认证收购商" in page and "13600136000" not in page
    matches = await (await console.client.get("/admin/trade/matches")).text()
    assert "认证收购商" in matches and "等回复" in matches
    outcomes = await console.client.get("/admin/trade/outcomes")
    assert outcomes.status == 200 and "成交" in await outcomes.text()
    # The weekly digest's placeholder: open buy listings, no phones.
    digest = await render("本周收购信息：{收购信息}", date.today())
    assert "核桃：2家收，共500斤，出价12元/斤（城关镇、关防乡）" in digest and "136" not in digest


async def test_buyer_form_errors_keep_what_was_typed(console: Console) -> None:
    await console.login("officer")
    response = await console.post_form("/admin/trade/buyers", {"name": "好收购", "phone": "123",
                                                               "commodities": "核桃"})
    body = await response.text()
    assert response.status == 400 and "电话不对" in body and "好收购" in body
    ok = await console.post_form("/admin/trade/buyers", {"name": "好收购", "phone": "13600136009",
                                                         "commodities": "核桃", "verified": "1"})
    assert ok.status == 303 and await TradeBuyer.exists(name="好收购", verified=True)


async def test_listings_and_matches_api(console: Console) -> None:
    await Subscriber.create(phone=SELLER, township="城关镇")
    headers = await console.token("officer")
    created = await console.client.post("/api/v1/listings", json={"phone": "13800138000", "text": "卖 核桃 300斤 12元"},
                                        headers=headers)
    assert created.status == 201
    listing = (await created.json())["listing"]
    assert listing["commodity"] == "核桃" and listing["contact"] == "+86138****8000" and listing["state"] == "pending"
    bad = await console.client.post("/api/v1/listings", json={"phone": "13800138000", "text": "卖 核桃"},
                                    headers=headers)
    assert bad.status == 400 and "quantity" in (await bad.json())["error"]
    nobody = await console.client.post("/api/v1/listings", json={"phone": "13999999999", "side": "sell",
                                                                 "commodity": "核桃", "quantity": 10}, headers=headers)
    assert nobody.status == 400
    listed = await (await console.client.get("/api/v1/listings?state=pending", headers=headers)).json()
    assert [row["id"] for row in listed["listings"]] == [listing["id"]]
    admin = await (await console.client.get("/api/v1/listings", headers=await console.token("admin"))).json()
    assert admin["listings"][0]["contact"] == SELLER
    assert (await console.client.get("/api/v1/listings?state=nonsense", headers=headers)).status == 400
    assert (await console.client.get("/api/v1/matches", headers=headers)).status == 200
    assert (await console.client.get("/api/v1/matches")).status == 401
    await jobs.match_pass(console.app)
    spec = await (await console.client.get("/api/v1/openapi.json")).json()
    assert {"get", "post"} <= set(spec["paths"]["/api/v1/listings"]) and "get" in spec["paths"]["/api/v1/matches"]
