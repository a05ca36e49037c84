"""Broadcasts that can be fixed, in a real Chromium on a phone (390×844) and an office PC (1366×768):
a supervisor rejects one, the officer copies it into a new draft, edits the pending copy, and the
supervisor approves it having seen its reach, channels and cost; the fake provider gets the messages."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect

from bot.models import Subscriber, pack_set
from broadcasts.models import Broadcast
from tests.browser import Site

pytestmark = pytest.mark.db
SIZES = {"phone": (390, 844), "pc": (1366, 768)}
NO_SIDEWAYS = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.mark.parametrize("size", SIZES)
async def test_reject_copy_edit_and_approve_with_the_cost_shown(site: Site, size: str) -> None:
    phones = [f"+861390000000{i}" for i in range(3)]
    for phone in phones:
        await Subscriber.create(phone=phone, township="关防乡", crops=pack_set(["柑橘"]), consent_source="test")
    await Subscriber.create(phone="+8613900000009", township="上津镇", consent_source="test")
    page = site.page
    width, height = SIZES[size]
    await page.set_viewport_size({"width": width, "height": height})

    await site.login("officer")
    await page.goto(site.url("/admin/broadcasts/new"))
    await page.fill("#text", "明早有霜冻。")
    await page.check("input[name=townships][value=关防乡]")
    await expect(page.locator("#pv-recipients")).to_have_text("3")
    await page.click("button:has-text('提交审批')")
    await expect(page.locator("#broadcast-state")).to_have_attribute("data-state", "pending_approval")
    first = await Broadcast.get(state="pending_approval")

    await site.login("supervisor")
    await page.goto(site.url(f"/admin/broadcasts/{first.id}"))
    await page.fill("#actions input[name=reason]", "请写明怎么防冻")
    await page.click("#actions button:has-text('驳回')")
    await expect(page.locator("#broadcast-state")).to_have_attribute("data-state", "rejected")

    await site.login("officer")
    await page.goto(site.url(f"/admin/broadcasts/{first.id}"))
    await page.click("a:has-text('复制成新群发')")
    await expect(page.locator("#copied-note")).to_contain_text("请写明怎么防冻")
    await expect(page.locator("input[name=townships][value=关防乡]")).to_be_checked()
    await page.fill("#text", "明早有霜冻，柑橘园请盖膜。")
    assert await page.evaluate(NO_SIDEWAYS)
    await site.shot(f"broadcast-{size}-1-copy")
    await page.click("button:has-text('提交审批')")
    await expect(page.locator("#broadcast-state")).to_have_attribute("data-state", "pending_approval")
    copy = await Broadcast.get(state="pending_approval")
    assert copy.id != first.id

    await page.click("a:has-text('修改这条群发')")
    await page.fill("#text", "明早有霜冻，柑橘园请盖膜、熏烟防冻。")
    await page.click("button:has-text('保存修改')")
    await expect(page.locator(".flash.ok")).to_contain_text("已保存修改（预计发给 3 人）")
    assert (await Broadcast.get(id=copy.id)).text == "明早有霜冻，柑橘园请盖膜、熏烟防冻。"

    await site.login("supervisor")
    await expect(page.locator("#pending-approvals")).to_be_visible()  # its numbers: the page tests (cached 30 s)
    await page.goto(site.url("/admin/broadcasts"))
    await expect(page.locator("#approval-queue .queue-cost")).to_contain_text("目前 3 人：短信 3 人")
    await expect(page.locator("#approval-queue .queue-cost")).to_contain_text("约 ¥")
    await page.goto(site.url(f"/admin/broadcasts/{copy.id}"))
    await expect(page.locator("#cost-recipients")).to_have_text("3")
    await expect(page.locator("#cost-segments")).to_contain_text("共 3 条")
    assert await page.evaluate(NO_SIDEWAYS)
    await site.shot(f"broadcast-{size}-2-approve")
    await page.click("#actions button:has-text('批准发送')")
    for _ in range(100):
        if len(site.fake.messages) == 3:
            break
        await asyncio.sleep(0.1)
    assert sorted(m["to"] for m in site.fake.messages.values()) == phones
    assert all("熏烟防冻" in m["body"] for m in site.fake.messages.values())
