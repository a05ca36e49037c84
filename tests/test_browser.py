"""The console as an officer uses it: a real Chromium (Playwright) against the running app, SMS to the
fake Twilio. Each step saves a screenshot in build/screenshots for a reviewer."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from tests.browser import Site, site  # noqa: F401  (the fixture)

pytestmark = pytest.mark.db


async def test_login_is_required_and_wrong_password_is_explained(site: Site) -> None:  # noqa: F811
    page = site.page
    await page.goto(site.url("/admin/"))
    assert "/admin/login" in page.url
    await site.shot("01-login")
    await page.fill("input[name=name]", "农技员小王")
    await page.fill("input[name=password]", "wrong-password")
    await page.click("button[type=submit]")
    await page.wait_for_selector("text=用户名或密码不对")
    await site.login("officer")
    await page.wait_for_selector("nav.side >> text=知识库")
    assert await page.locator("nav.side >> text=账号").count() == 0  # admin-only menu hidden
    await site.shot("02-dashboard")
    await page.click("text=退出登录")
    await page.wait_for_url("**/admin/login")


async def test_simulator_answers_like_the_bot(site: Site) -> None:  # noqa: F811
    page = site.page
    await site.login("officer")
    await page.click("nav.side >> text=模拟手机")
    await page.fill("#sim-text", "帮助")
    await page.click("#sim-send")
    await expect(page.locator(".bubble.bot")).to_have_count(2)
    await expect(page.locator(".bubble.bot").last).to_contain_text("订阅")
    await site.shot("03-simulator")
