"""A real browser on the real console: Debian's Chromium driven by Playwright, against a running app
(all roles in one process) whose SMS go to the fake Twilio. Screenshots land in build/screenshots."""

from __future__ import annotations

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestServer
from playwright.async_api import Browser, Dialog, Page, async_playwright

from bot.app import create_app
from bot.models import Officer
from tests.conftest import ROOT, make_config
from tests.fakes.twilio import FROM_NUMBER, FakeTwilio
from tests.helpers import OFFICER_NAMES, OFFICER_PASSWORD

CHROMIUM = os.environ.get("NONGBOT_CHROMIUM", "/usr/bin/chromium")
# Set by .ci/run: there a missing browser fails the run instead of skipping its tests.
IN_CI = os.environ.get("NONGBOT_CI") == "1"
SHOTS = Path(os.environ.get("NONGBOT_SCREENSHOTS", ROOT / "build" / "screenshots"))
FAST = {"poll_seconds": 0.05, "retry_base_seconds": 0.05, "lease_seconds": 2}


@dataclass
class Site:
    """The running app, the fake provider behind it, and a browser page."""

    server: TestServer
    fake: FakeTwilio
    browser: Browser
    page: Page

    def url(self, path: str) -> str:
        return str(self.server.make_url(path))

    async def login(self, role: str) -> None:
        page = self.page
        await page.context.clear_cookies()
        await page.goto(self.url("/admin/login"))
        await page.fill("input[name=name]", OFFICER_NAMES[role])
        await page.fill("input[name=password]", OFFICER_PASSWORD)
        await page.click("button[type=submit]")
        await page.wait_for_url("**/admin/")

    async def shot(self, name: str) -> None:
        await asyncio.to_thread(SHOTS.mkdir, parents=True, exist_ok=True)
        await self.page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


async def _accept(dialog: Dialog) -> None:
    await dialog.accept()


def require_chromium() -> None:
    """No Chromium: skip, saying how to get one; in CI (NONGBOT_CI=1) fail instead."""
    if Path(CHROMIUM).exists() and shutil.which(CHROMIUM) is not None:
        return
    problem = (f"browser tests need Chromium at {CHROMIUM} (apt-get install chromium, or set NONGBOT_CHROMIUM; "
               ".ci/run installs it)")
    if IN_CI:
        pytest.fail(problem)
    pytest.skip(f"{problem}; skipped outside CI")


@pytest.fixture
async def site(aiohttp_server: Any, db_url: str, officer_password_hash: str) -> AsyncIterator[Site]:
    require_chromium()
    fake = FakeTwilio(hang_seconds=1.0)
    fake_server = await aiohttp_server(fake.app())
    config = make_config(db_url, sms={"provider": "twilio"}, broadcasts=FAST, twilio={
        "account_sid": fake.account_sid, "auth_token": fake.auth_token, "from_number": FROM_NUMBER,
        "api_base": str(fake_server.make_url("")).rstrip("/"), "timeout": 2.0})
    server = await aiohttp_server(create_app(config))
    for role, name in OFFICER_NAMES.items():
        await Officer.create(name=name, role=role, password_hash=officer_password_hash)
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            "--disable-background-networking", "--no-first-run", "--disable-extensions"])
        try:
            context = await browser.new_context(locale="zh-CN", viewport={"width": 1280, "height": 900})
            context.set_default_timeout(15_000)
            page = await context.new_page()
            page.on("dialog", _accept)  # data-confirm prompts: the officer says yes
            yield Site(server, fake, browser, page)
        finally:
            await browser.close()
