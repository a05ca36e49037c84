"""Prices in a real Chromium on a phone (390×844) and an office PC (1366×768): upload a price file whose
bad lines are listed with their numbers, check a price held as suspect on its own page and confirm it
(the confirmation needs the officer's tick), see the price chart; and upload a job file."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import expect

from bot.keys import CONFIG
from bot.labour.models import Job
from bot.prices import commodities, records
from bot.prices.models import Market, PriceRecord
from tests.browser import Site

pytestmark = pytest.mark.db
SIZES = {"phone": (390, 844), "pc": (1366, 768)}
NO_SIDEWAYS = "document.documentElement.scrollWidth <= window.innerWidth"
WHOLESALE = "十堰农产品批发市场"


def day(offset: int) -> str:
    return (datetime.now(ZoneInfo("Asia/Shanghai")).date() + timedelta(days=offset)).isoformat()


@pytest.mark.parametrize("size", SIZES)
async def test_upload_prices_confirm_a_suspect_one_and_see_the_chart(site: Site, size: str, tmp_path: Path) -> None:
    await commodities.ensure_commodities()
    await Market.create(name=WHOLESALE, kind="批发")
    config = site.server.app[CONFIG]
    await records.store([(i, {"date": day(-i - 2), "market": WHOLESALE, "commodity": "柑橘", "price": 2 + i / 10,
                              "unit": "元/斤"}) for i in range(3)], config, source="test")
    sheet = tmp_path / "本周价格.csv"
    sheet.write_bytes(("日期,市场,品名,价格,单位\n"
                       f"{day(-1)},{WHOLESALE},柑橘,9,元/斤\n"
                       f"{day(-1)},{WHOLESALE},洋芋,1.2,元/斤\n"
                       f"{day(-1)},{WHOLESALE},柑橘,两块,元/斤\n").encode("gbk"))
    page = site.page
    width, height = SIZES[size]
    await page.set_viewport_size({"width": width, "height": height})
    await site.login("officer")
    await page.goto(site.url("/admin/prices"))
    await page.set_input_files("#upload input[type=file]", str(sheet))
    await page.click("#upload button:has-text('上传并保存')")
    await expect(page.locator("#upload-report")).to_contain_text("新增 2 条")
    await expect(page.locator("#upload-lines")).to_contain_text("第 2 行")
    await expect(page.locator("#upload-lines")).to_contain_text("待确认")
    await expect(page.locator("#upload-lines")).to_contain_text("第 4 行")
    await expect(page.locator("#upload-lines")).to_contain_text("价格要填数字")
    assert await page.evaluate(NO_SIDEWAYS)
    await site.shot(f"prices-{size}-1-upload")

    suspect = await PriceRecord.get(status="suspect")
    await page.click("a:has-text('核对后发布')")
    await expect(page.locator("h1")).to_contain_text("核对后再发布：柑橘")
    await page.click("#decide button:has-text('确认发布')")  # not ticked: the browser keeps the form
    assert (await PriceRecord.get(id=suspect.id)).status == "suspect"
    await page.check("#decide input[name=checked]")
    assert await page.evaluate(NO_SIDEWAYS)
    await site.shot(f"prices-{size}-2-confirm")
    await page.click("#decide button:has-text('确认发布')")
    await expect(page.locator(".flash.ok")).to_contain_text("已确认发布")
    assert (await PriceRecord.get(id=suspect.id)).status == "published"

    await page.click("a:has-text('价格走势图')")
    await expect(page.locator("svg.price-chart")).to_be_visible()
    assert await page.evaluate(NO_SIDEWAYS)
    await site.shot(f"prices-{size}-3-chart")


@pytest.mark.parametrize("size", SIZES)
async def test_upload_a_job_file(site: Site, size: str, tmp_path: Path) -> None:
    sheet = tmp_path / "招工.csv"
    sheet.write_text("用工单位,工种,工作地点,工资,联系电话,有效期至,核实人\n"
                     f"十堰电力安装公司,电工,十堰市张湾区,350元/天,13900001111,{day(20)},县人社局\n"
                     f"丹江口茶厂,采茶,丹江口市,面议,13900002222,{day(20)},\n", encoding="utf-8")
    page = site.page
    width, height = SIZES[size]
    await page.set_viewport_size({"width": width, "height": height})
    await site.login("officer")
    await page.goto(site.url("/admin/jobs"))
    await page.set_input_files("#upload input[type=file]", str(sheet))
    await page.click("#upload button:has-text('上传并保存')")
    await expect(page.locator("#upload-report")).to_contain_text("新增 1 条")
    await expect(page.locator("#upload-lines")).to_contain_text("第 3 行")
    assert await page.evaluate(NO_SIDEWAYS)
    await site.shot(f"jobs-{size}-upload")
    assert await Job.filter(employer="十堰电力安装公司").exists()
