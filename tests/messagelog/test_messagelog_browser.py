"""The message log and the answer review as an officer uses them, in Chromium on a phone (390×844) and on
an office PC (1366×768): filter the log, resend a failed reply (the villager gets it once, through the
fake Twilio), export a CSV, mark a bot answer wrong and answer it from the inbox, read it in the audit log."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from bot.models import Message, Subscriber
from bot.questions.models import Answer
from content.models import Article
from tests.browser import Site
from tests.helpers import OFFICER_NAMES

pytestmark = pytest.mark.db
SIZES = {"phone": {"width": 390, "height": 844}, "pc": {"width": 1366, "height": 768}}
WANG = "+8613800138000"


async def _no_sideways_scroll(page: Page) -> None:
    wide = await page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    assert wide <= 1, f"the page scrolls sideways by {wide} px"


async def _sent_to(site: Site, number: str, words: str, within: float = 10.0) -> int:
    """How many texts with `words` the fake Twilio got for `number`, once at least one came (or time ran out)."""
    for _ in range(int(within / 0.1)):
        found = [m for m in site.fake.messages.values() if m["to"] == number and words in m["body"]]
        if found:
            await asyncio.sleep(0.5)  # a second copy would show up by now
            return len([m for m in site.fake.messages.values() if m["to"] == number and words in m["body"]])
        await asyncio.sleep(0.1)
    return 0


async def _menu(page: Page, label: str) -> None:
    """Open a page from the side menu (behind 菜单 on a phone)."""
    link = page.locator("nav.side a", has_text=label)
    if not await link.is_visible():
        await page.get_by_role("button", name="菜单").click()
    await link.click()


@pytest.mark.parametrize("size", SIZES)
async def test_filter_the_log_resend_a_failed_reply_and_export(site: Site, size: str, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    wang = await Subscriber.create(phone=WANG, name="王大山", township="关防乡", consent_source="demo")
    li = await Subscriber.create(phone="+8613900139000", name="李二", township="土门镇", consent_source="demo")
    asked = await Message.create(direction="in", channel="sms", provider="twilio", address=WANG, subscriber=wang,
                                 body="洋芋叶子有黑斑咋办", status="answered", handler="search.answer_question",
                                 created_at=now - timedelta(hours=2))
    await Message.create(direction="out", channel="sms", provider="twilio", address=WANG, subscriber=wang,
                         reply_to=asked, body="可以喷代森锰锌，7天一次。", status="failed", handler="console.reply",
                         error_code="30003", error="Unreachable handset", created_at=now - timedelta(hours=1))
    await Message.create(direction="in", channel="sms", provider="twilio", address=li.phone, subscriber=li,
                         body="今天柑橘多少钱", status="answered", handler="prices.quote")
    page = site.page
    await page.set_viewport_size(SIZES[size])
    await site.login("officer")
    await _menu(page, "消息记录")
    await expect(page.locator("#message-log tbody tr")).to_have_count(3)
    await page.select_option("select[name=status]", "failed")
    await page.click("#log-filters button[type=submit]")
    rows = page.locator("#message-log tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first).to_contain_text("可以喷代森锰锌")
    await expect(rows.first).to_contain_text("Unreachable handset")
    await expect(rows.first).to_contain_text("+86138****8000")
    await _no_sideways_scroll(page)
    await site.shot(f"messagelog-failed-{size}")

    await rows.first.get_by_role("button", name="重发").click()  # confirmed in the dialog
    await expect(page.locator(".flash.ok")).to_contain_text("已重发给王大山")
    await expect(page.locator("#message-log tbody tr").first).to_contain_text("已重发")
    await expect(page.get_by_role("button", name="重发")).to_have_count(0)  # never twice
    assert await _sent_to(site, WANG, "可以喷代森锰锌") == 1
    await site.shot(f"messagelog-resent-{size}")

    await page.select_option("select[name=status]", "")
    await page.select_option("select[name=township]", "土门镇")
    await page.click("#log-filters button[type=submit]")
    await expect(page.locator("#message-log tbody tr")).to_have_count(1)
    async with page.expect_download() as download_info:
        await page.get_by_role("link", name="导出 CSV 表格").click()
    download = await download_info.value
    saved = tmp_path / download.suggested_filename
    await download.save_as(saved)
    raw = saved.read_bytes()
    assert download.suggested_filename.startswith("messages-") and raw.startswith("\ufeff".encode())
    text = raw.decode("utf-8-sig")
    assert "今天柑橘多少钱" in text and "洋芋叶子" not in text and "+8613900139000" not in text


@pytest.mark.parametrize("size", SIZES)
async def test_mark_an_answer_wrong_and_answer_it_from_the_inbox(site: Site, size: str) -> None:
    wang = await Subscriber.create(phone=WANG, name="王大山", township="关防乡", consent_source="demo")
    await Article.create(ref="potato-late-blight", title="马铃薯晚疫病（洋芋瘟）", summary="发病初期喷药。",
                         body="发病初期喷药。")
    asked = await Message.create(direction="in", channel="sms", provider="twilio", address=WANG, subscriber=wang,
                                 body="洋芋叶子背面长白毛", status="answered", handler="search.answer_question")
    await Message.create(direction="out", channel="sms", provider="twilio", address=WANG, subscriber=wang,
                         reply_to=asked, body="马铃薯晚疫病：发病初期喷药。", status="delivered")
    await Answer.create(subscriber=wang, message=asked, channel="sms", question="洋芋叶子背面长白毛",
                        article_ref="potato-late-blight", title="马铃薯晚疫病（洋芋瘟）", score=0.7)
    page = site.page
    await page.set_viewport_size(SIZES[size])
    await site.login("officer")
    await _menu(page, "回答复核")
    row = page.locator("#answers tbody tr").first
    await expect(row).to_contain_text("马铃薯晚疫病（洋芋瘟）")
    await expect(row).to_contain_text("较相关")
    await expect(row).not_to_contain_text("potato-late-blight")
    await _no_sideways_scroll(page)
    await site.shot(f"answers-review-{size}")
    await row.get_by_role("button", name="标为答错").click()  # confirmed in the dialog
    await expect(page.locator(".flash.ok")).to_contain_text("已标为答错")
    await expect(page.locator("body")).to_contain_text("机器人当时的回答")
    await expect(page.locator("body")).to_contain_text("农技员复核时认为这个回答答错了")
    await page.fill("#reply-text", "这是晚疫病，用烯酰吗啉兑水喷叶背，7天一次，连喷2次。")
    await page.get_by_role("button", name="回复农户", exact=True).click()
    await expect(page.locator(".flash.ok")).to_contain_text("已回复农户")
    assert await _sent_to(site, WANG, "烯酰吗啉") == 1
    await _menu(page, "回答复核")
    await expect(page.locator("#answers tbody tr").first).to_contain_text("已转收件箱（已回复）")

    await site.login("supervisor")
    await _menu(page, "操作记录")
    log = page.locator("#audit tbody")
    await expect(log).to_contain_text(f"{OFFICER_NAMES['officer']} 把机器人的回答「洋芋叶子背面长白毛」标为答错")
    await expect(log).to_contain_text(f"{OFFICER_NAMES['officer']} 回复了问题「洋芋叶子背面长白毛」")
    await _no_sideways_scroll(page)
    await site.shot(f"audit-{size}")
