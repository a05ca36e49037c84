"""Accounts in a real Chromium, on a phone (390×844) and an office PC (1366×768): an admin opens an account,
resets an officer's password and disables another; the officer logs in with the temporary password and
must choose their own first; the disabled one cannot log in. Every page on the way fits the window."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from bot.models import ConsoleSession, Officer
from tests.articles.test_articles_browser import fits, quiet_favicon
from tests.browser import Site
from tests.helpers import OFFICER_NAMES, OFFICER_PASSWORD
from tests.web.test_responsive_browser import SIZES

pytestmark = pytest.mark.db
TEMPORARY = "linshi-mima-8"
OWN = "wo-ziji-de-mima-2026"


async def log_in(site: Site, name: str, password: str) -> None:
    page = site.page
    await page.context.clear_cookies()
    await page.goto(site.url("/admin/login"))
    await page.fill("input[name=name]", name)
    await page.fill("input[name=password]", password)
    await page.click("button[type=submit]")


@pytest.mark.parametrize("size", SIZES)
async def test_reset_a_password_change_it_at_login_and_disable_an_officer(site: Site, size: str) -> None:
    page = site.page
    await quiet_favicon(site)
    await page.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))  # type: ignore[arg-type]
    await site.login("admin")
    await page.goto(site.url("/admin/officers"))
    await fits(site, f"{size}-officers")

    # a new account
    await page.fill("input[name=name]", "新来的小赵")
    await page.fill("section.card input[name=password]", TEMPORARY)
    await page.click("section.card button:has-text('开设')")
    await expect(page.locator(".flash.ok")).to_contain_text("已开设账号 新来的小赵")
    await expect(page.locator("tr[data-officer=新来的小赵]")).to_contain_text("待本人改密码")

    # reset 农技员小王's password, on his account's page
    await page.locator(f"tr[data-officer={OFFICER_NAMES['officer']}] a:has-text('重置密码')").click()
    await page.fill("#reset-form input[name=password]", TEMPORARY)
    await fits(site, f"{size}-officer")
    await page.click("#reset-form button[type=submit]")
    await expect(page.locator(".flash.ok")).to_contain_text(f"已重置 {OFFICER_NAMES['officer']} 的密码")
    await expect(page.locator("#person-state")).to_contain_text("待本人改密码")
    await page.goto(site.url("/admin/officers"))

    # disable 审核员老李: logged out at once
    await page.locator(f"tr[data-officer={OFFICER_NAMES['supervisor']}] button:has-text('停用')").click()
    await expect(page.locator(".flash.ok")).to_contain_text(f"已停用：{OFFICER_NAMES['supervisor']}")
    await expect(page.locator(f"tr[data-officer={OFFICER_NAMES['supervisor']}]")).to_contain_text("已停用")
    supervisor = await Officer.get(name=OFFICER_NAMES["supervisor"])
    assert not supervisor.active and not await ConsoleSession.filter(officer_id=supervisor.id).exists()

    # 农技员小王 logs in with the temporary password: nothing opens before the new password
    await log_in(site, OFFICER_NAMES["officer"], TEMPORARY)
    await page.wait_for_url("**/admin/password")
    await expect(page.locator("#forced")).to_be_visible()
    await fits(site, f"{size}-password-forced")
    await page.goto(site.url("/admin/articles"))
    await page.wait_for_url("**/admin/password")
    await page.fill("input[name=current]", TEMPORARY)
    await page.fill("#password-form input[name=password]", OWN)
    await page.fill("input[name=again]", OWN + "x")
    await page.click("#password-form button[type=submit]")
    await expect(page.locator(".flash.err", has_text="两次输入")).to_contain_text("两次输入的新密码不一样")
    await page.fill("input[name=current]", TEMPORARY)
    await page.fill("#password-form input[name=password]", OWN)
    await page.fill("input[name=again]", OWN)
    await page.click("#password-form button[type=submit]")
    await page.wait_for_url("**/admin/?ok=*")
    await expect(page.locator(".flash.ok")).to_contain_text("密码已修改")
    await page.goto(site.url("/admin/articles"))
    await expect(page.locator("h1")).to_have_text("知识库")

    # the disabled supervisor is refused
    await log_in(site, OFFICER_NAMES["supervisor"], OFFICER_PASSWORD)
    await expect(page.locator("text=用户名或密码不对")).to_be_visible()
    await fits(site, f"{size}-login-disabled")
