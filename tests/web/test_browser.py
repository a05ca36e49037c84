"""The console as an officer uses it: a real Chromium (Playwright) against the running app, SMS to the
fake Twilio. Each step saves a screenshot in build/screenshots for a reviewer."""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import expect

from bot.extend import extensions
from bot.keys import CONFIG, SEARCH
from bot.models import Subscriber, pack_set
from bot.questions.models import Question
from bot.seed import seed_if_empty
from broadcasts.models import Broadcast
from tests.browser import Site

pytestmark = pytest.mark.db


async def test_login_is_required_and_wrong_password_is_explained(site: Site) -> None:
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


async def test_simulator_answers_like_the_bot(site: Site) -> None:
    page = site.page
    await site.login("officer")
    await page.click("nav.side >> text=模拟手机")
    await page.fill("#sim-text", "帮助")
    await page.click("#sim-send")
    await expect(page.locator(".bubble.bot")).to_have_count(2)
    await expect(page.locator(".bubble.bot").last).to_contain_text("订阅")
    await expect(page.locator("#sim-sandbox-notice")).to_contain_text("沙盒")
    assert await page.locator("#sim-phone").count() == 0  # no real number can be typed in
    await site.shot("03-simulator")
    # TD opts out only the officer's sandbox villager; 重新开始 starts it afresh
    await page.fill("#sim-text", "TD")
    await page.click("#sim-send")
    await expect(page.locator("#sim-status")).to_have_text("已退订（TD）")
    await page.click("#sim-reset")
    await expect(page.locator("#sim-status")).to_have_text("接收推送")
    assert not await Subscriber.filter(phone__isnull=False).exists()


async def test_an_article_written_in_the_console_answers_the_simulator(site: Site) -> None:
    page = site.page
    await site.login("supervisor")  # publishes at once (an officer's article waits for review: tests/articles)
    await page.goto(site.url("/admin/articles/new"))
    await page.fill("input[name=title]", "苞谷红蜘蛛怎么防")
    await page.fill("textarea[name=summary]", "苞谷红蜘蛛在天旱时多发，叶片发白、发黄，要早查早治。")
    await page.fill("textarea[name=body]", (
        "红蜘蛛吸食苞谷叶片汁液，叶面出现黄白小点，严重时叶片干枯。\n\n"
        "1. 天旱时及时灌水，清除田边杂草。\n2. 点片发生时挑治，可用阿维菌素、联苯肼酯等按标签用量喷雾，"
        "重点喷叶背。\n3. 保护瓢虫、草蛉等天敌。"))
    await page.check("input[name=crops][value=玉米]")
    await page.check("input[name=topics][value=虫害]")
    await page.fill("input[name=keywords]", "红蜘蛛 叶螨")
    await page.fill("textarea[name=sources]", "全国农业技术推广服务中心 玉米病虫害防治技术")
    await expect(page.locator("#sms-pages")).to_contain_text("红蜘蛛")  # the live preview caught up
    await site.shot("04-article-edit")
    await page.click("#article-form button[value=publish]")
    await expect(page.locator(".flash.ok")).to_contain_text("已发布")
    await page.goto(site.url("/admin/simulator"))
    await page.fill("#sim-text", "苞谷叶子上有红蜘蛛咋办")
    await page.click("#sim-send")
    await expect(page.locator(".bubble.bot")).to_have_count(2)
    await expect(page.locator(".bubble.bot").last).to_contain_text("红蜘蛛")
    await site.shot("05-simulator-finds-article")


async def test_broadcast_waits_for_a_supervisor_then_progress_reaches_done(site: Site) -> None:
    phones = [f"+861390000000{i}" for i in range(3)]
    for phone in phones:
        await Subscriber.create(phone=phone, township="关防乡", crops=pack_set(["柑橘"]), consent_source="test")
    page = site.page
    await site.login("officer")
    await page.goto(site.url("/admin/broadcasts/new"))
    await page.fill("#text", "明早有霜冻，柑橘园请盖膜、熏烟防冻。")
    await expect(page.locator("#pv-recipients")).to_have_text("3")
    await site.shot("06-broadcast-compose")
    await page.click("button:has-text('提交审批')")
    await expect(page.locator("#broadcast-state")).to_have_attribute("data-state", "pending_approval")
    await page.wait_for_timeout(1500)  # the worker is running: nothing may go out before approval
    assert site.fake.messages == {}
    assert await page.locator("button:has-text('批准发送')").count() == 0  # not for an officer
    broadcast = await Broadcast.get(state="pending_approval")

    await site.login("supervisor")
    await page.goto(site.url("/admin/broadcasts"))
    await site.shot("07-approval-queue")
    await page.click("#approval-queue button:has-text('批准发送')")
    await page.goto(site.url(f"/admin/broadcasts/{broadcast.id}"))
    await expect(page.locator(".progress").first).to_have_attribute("data-state", "done", timeout=30_000)
    await expect(page.locator(".progress-text").first).to_contain_text("已完成")
    await site.shot("08-broadcast-done")
    assert sorted(m["to"] for m in site.fake.messages.values()) == phones
    assert all("霜冻" in m["body"] for m in site.fake.messages.values())


async def test_officer_answers_an_inbox_question_and_the_reply_is_delivered(site: Site) -> None:
    villager = "+8613912345678"
    public = site.server.app[CONFIG].server.public_url
    params = site.fake.inbound_params(villager, "我家魔芋叶子上起了好多白斑咋办")
    async with aiohttp.ClientSession() as session:
        response = await site.fake.post_signed(session, site.url("/webhooks/twilio/sms"), params,
                                               signed_url=public + "/webhooks/twilio/sms")
        assert response.status == 200
    question = await Question.get(status="open")
    page = site.page
    await site.login("officer")
    await page.click("nav.side >> text=问答收件箱")
    await expect(page.locator("table")).to_contain_text("魔芋")
    await site.shot("09-inbox")
    await page.click(f"a[href='/admin/questions/{question.id}']")
    await page.fill("#reply-text", "魔芋白斑多是白绢病或炭疽病，请拍照发给农技站，或带病叶到乡农技站看。")
    await site.shot("10-inbox-reply")
    await page.click("button:has-text('回复农户')")
    await expect(page.locator(".flash.ok")).to_be_visible()
    sent = [(sid, m) for sid, m in site.fake.messages.items() if m["to"] == villager and "白绢病" in m["body"]]
    assert len(sent) == 1
    async with aiohttp.ClientSession() as session:
        report = await site.fake.report(session, sent[0][0], "delivered", via=site.url("/"))
        assert report.status == 200
    await page.goto(site.url(f"/admin/questions/{question.id}"))
    await expect(page.locator("body")).to_contain_text("已送达")
    await site.shot("11-inbox-delivered")


async def test_every_page_renders_without_script_errors(site: Site) -> None:
    await seed_if_empty(site.server.app[CONFIG])  # the demo county: articles, markets, prices, villagers
    await site.server.app[SEARCH].refresh()
    page = site.page
    problems: list[str] = []
    page.on("pageerror", lambda exc: problems.append(f"{page.url}: {exc}"))
    page.on("console", lambda msg: problems.append(f"{page.url}: {msg.text}") if msg.type == "error" else None)
    await site.login("admin")
    links = await page.locator("nav.side a").evaluate_all("links => links.map(a => [a.textContent, a.href])")
    assert len(links) == len(extensions(site.server.app).menu)  # an admin sees every entry the features add
    extra = [("内容缺口", "/admin/questions/gaps"), ("写文章", "/admin/articles/new"),
             ("起草群发", "/admin/broadcasts/new"), ("农户搜索", "/admin/subscribers?township=关防乡"),
             ("文章检索", "/admin/articles?mode=ask&q=洋芋叶子发黑")]
    for number, (label, href) in enumerate(links + [(label, site.url(path)) for label, path in extra]):
        response = await page.goto(href)
        assert response is not None and response.status == 200, f"{label} {href}"
        await page.wait_for_load_state("networkidle")
        await expect(page.locator("h1").first).to_be_visible()
        await site.shot(f"page-{number:02d}-{label.strip()}")
    assert not problems, "\n".join(problems)
