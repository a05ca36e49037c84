"""An officer works on one villager in a real Chromium, on a phone (390×844) and an office PC (1366×768):
edit the details (a dialect crop name is stored under its standard name), send a message that the
delivery engine hands to the provider, and opt the villager out on their behalf with a reason."""

from __future__ import annotations

import asyncio

import pytest
from playwright.async_api import expect

from bot.models import ConsentEvent, Subscriber, pack_set
from tests.browser import Site

pytestmark = pytest.mark.db
SIZES = {"phone": (390, 844), "pc": (1366, 768)}
NO_SIDEWAYS = "document.documentElement.scrollWidth <= window.innerWidth"


@pytest.mark.parametrize("size", SIZES)
async def test_edit_message_and_opt_out_a_villager(site: Site, size: str) -> None:
    wang = await Subscriber.create(phone="+8613800138000", name="王大山", township="关防乡", village="花果村",
                                   crops=pack_set(["柑橘"]), topics=pack_set(["技术"]), consent_source="demo")
    page = site.page
    width, height = SIZES[size]
    await page.set_viewport_size({"width": width, "height": height})
    await site.login("officer")
    await page.goto(site.url(f"/admin/subscribers/{wang.id}"))
    await page.click("a:has-text('修改资料')")
    await page.fill("input[name=village]", "石门村")
    await page.fill("input[name=crops]", "柑橘、洋芋")
    await page.check("input[name=topics][value=价格]")
    assert await page.evaluate(NO_SIDEWAYS)
    await site.shot(f"villager-{size}-1-edit")
    await page.click("button:has-text('保存')")
    await expect(page.locator(".flash.ok")).to_contain_text("已保存：改了村、作物、订阅主题")
    await expect(page.locator("text=马铃薯")).to_be_visible()
    saved = await Subscriber.get(id=wang.id)
    assert saved.crop_list == ["柑橘", "马铃薯"] and saved.topic_list == ["价格", "技术"]

    await page.fill("#send textarea[name=text]", "王大哥，明早九点到村委会领柑橘苗。")
    assert await page.evaluate(NO_SIDEWAYS)
    await page.click("#send button:has-text('发送')")
    await expect(page.locator(".flash.ok")).to_contain_text("已交给发送队列")
    for _ in range(100):  # the worker in the app fires the push and the engine sends it
        if any("领柑橘苗" in m["body"] for m in site.fake.messages.values()):
            break
        await asyncio.sleep(0.1)
    sent = [m for m in site.fake.messages.values() if "领柑橘苗" in m["body"]]
    assert [m["to"] for m in sent] == ["+8613800138000"]
    await page.reload()
    await expect(page.locator("#timeline")).to_contain_text("推送·通知")
    await expect(page.locator("#timeline")).to_contain_text("领柑橘苗")
    await site.shot(f"villager-{size}-2-timeline")

    await page.fill("#opt-out input[name=reason]", "本人来电说不想再收短信")
    await page.click("#opt-out button:has-text('代为退订')")  # the confirm dialog is accepted
    await expect(page.locator(".flash.ok")).to_contain_text("已代为退订")
    await expect(page.locator("h1 .badge")).to_have_text("已退订")
    await expect(page.locator("text=农技员代为办理（农技员小王）")).to_be_visible()
    assert await page.evaluate(NO_SIDEWAYS)
    await site.shot(f"villager-{size}-3-opted-out")
    event = await ConsentEvent.get(subscriber_id=wang.id, action="opt_out")
    assert event.text == "本人来电说不想再收短信" and event.source == "officer:农技员小王"
