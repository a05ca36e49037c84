"""The review of articles in a real Chromium, on a phone (390×844) and an office PC (1366×768): an officer
writes a draft, a supervisor publishes it, an officer's edit is withdrawn, a supervisor rolls back to an
older version. Every page on the way fits the window (the frame's layout check)."""

from __future__ import annotations

import pytest
from playwright.async_api import expect

from bot.compose import compose
from bot.keys import CONFIG, SEARCH
from content.models import Article
from tests.browser import Site
from tests.web.test_responsive_browser import CHECK_LAYOUT, SIZES

pytestmark = pytest.mark.db
TITLE = "苞谷红蜘蛛怎么防"
QUESTION = "苞谷叶子上有红蜘蛛咋办"


async def fits(site: Site, name: str) -> None:
    await site.page.wait_for_load_state("networkidle")  # the stylesheet too
    problems = await site.page.evaluate(CHECK_LAYOUT)
    assert not problems, f"{name}: {problems}"
    await site.shot(name)


async def quiet_favicon(site: Site) -> None:
    """Chromium fetches the favicon late and drops the request when the next page opens, and aiohttp then
    leaves the file open (a ResourceWarning, an error under -W error): the browser gets it without asking."""
    await site.page.route("**/favicon*", lambda route: route.fulfill(status=204))


def answered(site: Site) -> str:
    app = site.server.app
    composed = compose(app[SEARCH], QUESTION, "sms", app[CONFIG])
    return composed.text if composed.result is not None and composed.result.answered else ""


@pytest.mark.parametrize("size", SIZES)
async def test_write_publish_withdraw_and_roll_back(site: Site, size: str) -> None:
    page = site.page
    await quiet_favicon(site)
    await page.set_viewport_size(dict(zip(("width", "height"), SIZES[size], strict=True)))  # type: ignore[arg-type]

    # an officer writes a draft: villagers do not get it yet
    await site.login("officer")
    await page.goto(site.url("/admin/articles/new"))
    await page.fill("input[name=title]", TITLE)
    await page.fill("textarea[name=summary]", "苞谷红蜘蛛在天旱时多发，叶片发白、发黄，要早查早治。")
    await page.fill("textarea[name=body]", (
        "红蜘蛛吸食苞谷叶片汁液，叶面出现黄白小点，严重时叶片干枯。\n\n"
        "1. 天旱时及时灌水，清除田边杂草。\n2. 点片发生时挑治，可用阿维菌素、联苯肼酯等按标签用量喷雾，"
        "重点喷叶背。\n3. 保护瓢虫、草蛉等天敌。"))
    await page.check("input[name=crops][value=玉米]")
    await page.check("input[name=topics][value=虫害]")
    await page.fill("input[name=keywords]", "红蜘蛛、叶螨")
    await page.fill("textarea[name=sources]", "全国农业技术推广服务中心 玉米病虫害防治技术")
    await expect(page.locator("#article-form button[value=publish]")).to_have_count(0)  # not theirs to publish
    await page.click("#article-form button:has-text('提交审核')")
    await expect(page.locator(".flash.ok")).to_contain_text("已存为草稿")
    await expect(page.locator("#review")).to_contain_text("第 1 版草稿待审核")
    await fits(site, f"{size}-article-draft")
    assert answered(site) == ""

    # a supervisor finds it waiting and publishes it
    await site.login("supervisor")
    await page.goto(site.url("/admin/articles"))
    await page.click("#waiting a")
    await fits(site, f"{size}-articles-waiting")
    await page.click(f"text={TITLE}")
    await page.click("#review button:has-text('发布第 1 版')")
    await expect(page.locator(".flash.ok")).to_contain_text("已发布第 1 版")
    assert "红蜘蛛" in answered(site)

    # an officer's change waits for review, and the officer takes it back
    await site.login("officer")
    article = await Article.get(title=TITLE)
    await page.goto(site.url(f"/admin/articles/{article.id}"))
    await page.fill("input[name=title]", "苞谷红蜘蛛（我改的）")
    await page.click("#article-form button:has-text('提交审核')")
    await expect(page.locator("#review")).to_contain_text("第 2 版草稿待审核")
    await page.click("#review button:has-text('撤回我的草稿')")
    await expect(page.locator(".flash.ok")).to_contain_text("已撤回第 2 版草稿")
    await expect(page.locator("#review")).to_have_count(0)
    await fits(site, f"{size}-article-withdrawn")

    # a supervisor publishes a change, then rolls back to version 1
    await site.login("supervisor")
    await page.goto(site.url(f"/admin/articles/{article.id}"))
    await page.fill("input[name=title]", "苞谷红蜘蛛的防治")
    await page.click("#article-form button[value=publish]")
    await expect(page.locator(".flash.ok")).to_contain_text("已发布")
    assert (await Article.get(id=article.id)).title == "苞谷红蜘蛛的防治"
    row = page.locator("#versions tbody tr", has_text="第 1 版")
    await row.locator("summary").click()  # the version's text, opened in place
    await expect(row.locator("pre")).to_contain_text("苞谷红蜘蛛在天旱时多发")
    await row.locator("button:has-text('恢复这一版')").click()
    await expect(page.locator(".flash.ok")).to_contain_text("已恢复第 1 版的内容（现为第 4 版）")
    await expect(page.locator("#versions tbody tr").first).to_contain_text("恢复第 1 版")
    await fits(site, f"{size}-article-history")
    assert (await Article.get(id=article.id)).title == TITLE and "红蜘蛛" in answered(site)
