"""Phone first: every console page in a real Chromium at 390×844 (a phone) and 1366×768 (an office PC).

The pages come from the app's router — every GET route under /admin without a path parameter, then one
page of each route with parameters, found by following the links of the pages already seen — so a page
another feature adds later is checked without anyone listing it here. On each page: no horizontal page
scroll, every visible button / link / field inside the window's width, buttons and fields at least
40 px tall, no text under 12 px (SVG chart labels as drawn). A screenshot of each page at each size
lands in NONGBOT_SCREENSHOTS (build/screenshots unless set), named <size>-<page>.png.

Also the frame itself: the collapsible menu, the Chinese 404 and 500 pages, the demo-mode banner."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest
from aiohttp import web
from playwright.async_api import expect

from bot.app import create_app
from bot.keys import CONFIG, SEARCH
from bot.labour import notices as jobs
from bot.labour.models import Job
from bot.models import Officer, Subscriber, pack_set
from bot.prices import records as prices
from bot.seed import seed_if_empty
from bot.web import charts
from broadcasts.models import Broadcast
from tests.browser import Site
from tests.conftest import make_config
from tests.helpers import OFFICER_NAMES, Console, say

pytestmark = pytest.mark.db
SIZES = {"phone": (390, 844), "pc": (1366, 768)}
PARAM = re.compile(r"\{(\w+)(?::[^}]*)?\}")
# Pages that are not pages: the static files, the bare /admin redirect, the login form (checked logged out).
NOT_PAGES = ("/admin/static", "/admin/login")
FILES = re.compile(r"\.(csv|json|txt|xlsx|svg|png)$|export|download")  # files the browser saves, not pages

# Run in the page: what is wrong with its layout for a person holding this window.
CHECK_LAYOUT = """() => {
  const width = window.innerWidth, problems = [];
  const page = document.documentElement.scrollWidth;
  if (page > width) problems.push(`页面比窗口宽：${page} > ${width}`);
  const shown = (el) => {
    const box = el.getBoundingClientRect(), style = getComputedStyle(el);
    return box.width > 0 && box.height > 0 && style.visibility !== "hidden" && style.display !== "none"
      && !el.closest("[hidden], details:not([open]) > :not(summary)");
  };
  const name = (el) => `${el.tagName.toLowerCase()}${el.id ? "#" + el.id : ""}「${(el.tagName === "SELECT"
    ? (el.selectedOptions[0] || {}).text : el.innerText || el.value
    || el.getAttribute("aria-label") || el.getAttribute("name") || "").trim().slice(0, 20)}」`;
  const controls = "a[href], button, input:not([type=hidden]), select, textarea, .button";
  for (const el of document.querySelectorAll(controls)) {
    if (!shown(el)) continue;
    const box = el.getBoundingClientRect();
    if (box.left < -1 || box.right > width + 1)
      problems.push(`${name(el)} 在窗口外：${Math.round(box.left)}–${Math.round(box.right)}`);
    const type = (el.getAttribute("type") || "").toLowerCase();
    const tall = el.matches("button, .button, input[type=submit], input[type=button], input[type=reset], select, "
      + "input:not([type]), input[type=text], input[type=search], input[type=number], input[type=password], "
      + "input[type=date], input[type=tel], input[type=datetime-local], input[type=file], nav a");
    if (tall && type !== "checkbox" && type !== "radio" && box.height < 39.5)
      problems.push(`${name(el)} 只有 ${box.height.toFixed(1)} px 高`);
    if (el.matches("button, .button") && box.height > 64 && box.width < 56 && (el.innerText || "").trim().length > 1)
      problems.push(`${name(el)} 被挤成一列：${Math.round(box.width)} px 宽`);
    if (el.tagName === "SELECT" && box.width < 64) problems.push(`${name(el)} 太窄：${Math.round(box.width)} px`);
  }
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  const seen = new Set();
  for (let node = walker.nextNode(); node; node = walker.nextNode()) {
    const el = node.parentElement;
    if (!node.textContent.trim() || !el || seen.has(el)) continue;
    seen.add(el);
    if (el.closest("title, desc, script, style, option, noscript") || !shown(el)) continue;
    let size = parseFloat(getComputedStyle(el).fontSize);
    const svg = el.closest("svg");
    if (svg && svg.viewBox.baseVal && svg.viewBox.baseVal.width) {
      size *= svg.getBoundingClientRect().width / svg.viewBox.baseVal.width;  // drawn, not declared
    }
    if (size < 11.95) problems.push(`文字只有 ${size.toFixed(1)} px：「${node.textContent.trim().slice(0, 20)}」`);
  }
  return problems;
}"""


def routes(app: web.Application) -> tuple[list[str], list[str]]:
    """The console's GET pages: (paths without parameters, canonical paths with parameters)."""
    plain: set[str] = set()
    with_params: set[str] = set()
    for route in app.router.routes():
        path = route.resource.canonical if route.resource is not None else ""
        if route.method != "GET" or not path.startswith("/admin/") or path.startswith(NOT_PAGES) or FILES.search(path):
            continue
        (with_params if PARAM.search(path) else plain).add(path)
    return sorted(plain), sorted(with_params)


def pattern(canonical: str) -> re.Pattern[str]:
    parts = PARAM.split(canonical)  # literal, name, literal, name, …
    return re.compile("".join(re.escape(p) if i % 2 == 0 else "[^/?#]+" for i, p in enumerate(parts)) + "$")


async def seed_world(site: Site) -> None:
    """The demo county plus one of each kind of record a page can show: villagers' messages (answered and
    handed to an officer), broadcasts in several states, a job notice, a price held as suspect."""
    app = site.server.app
    await seed_if_empty(app[CONFIG])
    await app[SEARCH].refresh()
    for phone in ("+8617000000001", "+8617000000002"):
        for text in ("苞谷叶子发黄咋办", "柑橘价格", "我家的牛不吃草还一直叫唤是啥毛病哦"):
            await say(app, text, address=phone)
    writer = await Officer.get(name=OFFICER_NAMES["officer"])
    await Broadcast.create(kind="tip", text="明天早上有霜冻，请给茶园盖膜。", audience={"townships": ["关防乡"]},
                           created_by=writer)
    await Broadcast.create(kind="tip", text="柑橘该追肥了。", audience={"townships": ["上津镇"]},
                           created_by=writer, state="rejected", reason="日期写错了")
    today = datetime.now(app[CONFIG].tz).date()
    await prices.store([(1, {"date": today.isoformat(), "market": "关防乡收购点", "commodity": "柑橘",
                             "price": "9.9", "unit": "元/斤"})], app[CONFIG], source="录入")  # 5× the week's
    if not await Job.exists():
        await jobs.store_jobs([("seed", {
            "employer": "武汉宏达建设", "work_type": "建筑小工", "place": "武汉市", "wage": "300元/天",
            "contact": "027-8888 6666", "expires_on": (date.today() + timedelta(days=20)).isoformat(),
            "headcount": 5, "verified_by": "县人社局"})], date.today())


def slug(path: str) -> str:
    return re.sub(r"[^\w]+", "-", path.removeprefix("/admin").strip("/")) or "home"


async def check(site: Site, path: str, size: str) -> tuple[list[str], list[str]]:
    """Open `path`; its layout problems and the console links it shows."""
    page = site.page
    response = await page.goto(site.url(path))
    assert response is not None
    if "text/html" not in response.headers.get("content-type", ""):
        return [], []  # an export or a file, not a page
    if response.status >= 400:
        return [f"{size} {path}: 打开时出错 {response.status}"], []
    await page.wait_for_load_state("networkidle")
    problems = [f"{size} {path}: {p}" for p in await page.evaluate(CHECK_LAYOUT)]
    await site.shot(f"{size}-{slug(path)}")
    hrefs = await page.eval_on_selector_all("a[href]", "els => els.map(a => a.getAttribute('href'))")
    return problems, [h for h in hrefs if h.startswith("/admin/") and not FILES.search(urlsplit(h).path)]


@pytest.mark.parametrize("size", SIZES)
async def test_every_console_page_fits_the_window(site: Site, size: str) -> None:
    page = site.page
    width, height = SIZES[size]
    await page.set_viewport_size({"width": width, "height": height})
    await seed_world(site)
    script_errors: list[str] = []
    page.on("pageerror", lambda exc: script_errors.append(f"{size} {page.url}: 脚本出错 {exc}"))
    await page.goto(site.url("/admin/login"))
    problems = [f"{size} /admin/login: {p}" for p in await page.evaluate(CHECK_LAYOUT)]
    await site.shot(f"{size}-login")
    await site.login("admin")
    plain, with_params = routes(site.server.app)
    seen: set[str] = set()
    links: list[str] = []
    for path in plain:
        found, hrefs = await check(site, path, size)
        problems += found
        links += hrefs
        seen.add(path)
    # One page of each route with parameters: the first link to it from the pages seen, then from those.
    missing = list(with_params)
    for _ in range(3):
        for canonical in list(missing):
            shape = pattern(canonical)
            target = next((h for h in (urlsplit(link).path for link in links)
                           if shape.match(h) and h not in plain), None)  # /admin/articles/new is not article "new"
            if target is None:
                continue
            missing.remove(canonical)
            found, hrefs = await check(site, target, size)
            problems += found
            links += hrefs
            seen.add(target)
    assert not problems + script_errors, "\n".join(problems + script_errors)
    # Pages reached only by a form (edit forms behind a POST, CSV files) are not links: say which were not seen.
    assert len(seen) == len(plain) + len(with_params) - len(missing)
    assert not [c for c in missing if "/{id}" in c and c.count("/") == 3], missing  # every record's own page


async def test_the_menu_folds_on_a_phone(site: Site) -> None:
    page = site.page
    await page.set_viewport_size({"width": 390, "height": 844})
    await site.login("officer")
    menu = page.locator("nav.side")
    await expect(menu).to_be_hidden()
    toggle = page.locator(".menu-toggle")
    await expect(toggle).to_be_visible()
    await expect(toggle).to_have_attribute("aria-expanded", "false")
    await toggle.click()
    await expect(menu).to_be_visible()
    await expect(toggle).to_have_attribute("aria-expanded", "true")
    await site.shot("phone-menu-open")
    await menu.locator("text=模拟手机").click()
    await page.wait_for_url("**/admin/simulator")
    await expect(menu).to_be_hidden()  # a new page starts with the menu folded
    send = page.locator("#sim-send")
    box = await send.bounding_box()
    assert box is not None and box["x"] + box["width"] <= 390 and box["height"] >= 40
    await page.fill("#sim-text", "帮助")
    await send.click()
    await expect(page.locator(".bubble.bot")).to_have_count(2)
    await page.set_viewport_size({"width": 1366, "height": 768})
    await expect(menu).to_be_visible()
    await expect(toggle).to_be_hidden()


async def test_an_unknown_page_is_a_chinese_404(site: Site) -> None:
    page = site.page
    await site.login("officer")
    for width, height in SIZES.values():
        await page.set_viewport_size({"width": width, "height": height})
        response = await page.goto(site.url("/admin/no-such-page"))
        assert response is not None and response.status == 404
        await expect(page.locator("h1")).to_have_text("没有找到这个页面")
        assert not await page.evaluate(CHECK_LAYOUT)
    await site.shot("phone-404")
    await page.click("text=返回首页")
    await page.wait_for_url("**/admin/")


# --- the frame without a browser: error pages and the demo banner ---------------------------------


@pytest.fixture
async def frame(aiohttp_client: Any, db_url: str, officer_password_hash: str) -> AsyncIterator[Console]:
    """The console (SMS to the log provider, as scripts/serve) with a page and an API route that fail."""
    app = create_app(make_config(db_url, sms={"provider": "log"}), role="web")

    async def broken(request: web.Request) -> web.Response:
        raise RuntimeError("Traceback: secret detail")

    app.router.add_get("/admin/broken", broken)
    app.router.add_get("/api/v1/broken", broken)
    client = await aiohttp_client(app)
    officers = {role: await Officer.create(name=name, role=role, password_hash=officer_password_hash)
                for role, name in OFFICER_NAMES.items()}
    yield Console(client, officers)


async def test_a_failing_page_is_a_chinese_500_without_a_traceback(frame: Console,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    await frame.login("officer")
    response = await frame.client.get("/admin/broken")
    html = await response.text()
    assert response.status == 500
    assert "出了点问题" in html and "没有完成" in html and "返回首页" in html
    assert "Traceback" not in html and "RuntimeError" not in html and "secret" not in html
    ref = re.search(r"编号 ([0-9a-f]{8})", html)
    assert ref is not None
    assert any(getattr(r, "ref", "") == ref.group(1) and r.exc_info for r in caplog.records)  # findable in the log
    api = await frame.client.get("/api/v1/broken", headers={"Accept": "application/json"})
    assert api.status == 500
    body = await api.json()
    assert "服务器出了问题" in body["error"] and "Traceback" not in body["error"]


async def test_errors_without_a_chinese_reason_get_one(frame: Console) -> None:
    await frame.login("officer")
    missing = await frame.client.get("/admin/nothing-here")
    html = await missing.text()
    assert missing.status == 404 and "没有找到这个页面" in html and "Not Found" not in html
    assert 'href="/admin/"' in html and "返回首页" in html  # the frame, with the way back
    wrong_method = await frame.client.put("/admin/", headers={"X-CSRF-Token": frame.csrf})
    text = await wrong_method.text()
    assert wrong_method.status == 405 and "Method Not Allowed" not in text and "这个地址不能这样打开" in text
    await Subscriber.create(phone="+8613900000009", name="李四", township="关防乡", crops=pack_set(["柑橘"]),
                            consent_source="test")
    gone = await frame.client.get("/admin/subscribers/999999")
    assert gone.status == 404 and "没有这位农户" in await gone.text()  # a feature's own reason is kept


async def test_the_demo_banner_shows_while_sms_go_to_the_log(frame: Console, db_url: str,
                                                              aiohttp_client: Any) -> None:
    login_page = await (await frame.client.get("/admin/login")).text()
    assert "演示模式：短信只记录不发送" in login_page
    await frame.login("officer")
    assert "演示模式：短信只记录不发送" in await (await frame.client.get("/admin/")).text()
    real = await aiohttp_client(create_app(make_config(db_url, sms={"provider": "twilio"}, twilio={
        "account_sid": "AC" + "0" * 32, "auth_token": "t" * 32, "from_number": "+15005550006"}), role="web"))
    assert "演示模式" not in await (await real.get("/admin/login")).text()


def test_charts_are_drawn_for_a_phone_with_readable_labels() -> None:
    days = [f"11-{d:02d}" for d in range(17, 31)]  # 14 days
    svg = str(charts.stacked_columns(days, [("送达", "#2e7d32", list(range(14)))], title="每天"))
    width = int(re.search(r'viewBox="0 0 (\d+) ', svg).group(1))  # type: ignore[union-attr]
    assert width <= 340 and 'font-size="13"' in svg
    shrink = int(re.search(r"min-width: (\d+)px", svg).group(1))  # type: ignore[union-attr]
    assert 13 * shrink / width >= 12  # never drawn smaller than 12 px
    written = [d for d in days if f">{d}</text>" in svg]
    assert written[-1] == "11-30" and 4 <= len(written) < 14  # thinned from the latest day back
    assert "11-17：送达 0" in svg and "11-29：送达 12" in svg  # every day still in the description
    bars = str(charts.bar_chart([("一个很长很长的乡镇名字", 5)], title="乡镇"))
    assert 'width="340"' in bars and "一个很长很长的…" in bars and 'class="chart-box"' in bars
