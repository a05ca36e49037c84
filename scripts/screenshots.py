"""Screenshots of every console page of a running nongbot, at a phone's and an office PC's size.

    .venv/bin/nongbot officer add 管理员张 --role admin --password-stdin
    .venv/bin/nongbot serve --seed &
    echo PASSWORD | .venv/bin/python scripts/screenshots.py --name 管理员张 --out build/screens

Logs in, opens every menu entry and one page of each kind linked from them (a villager, a broadcast, …),
and saves <size>-<page>.png full-page shots (Debian's Chromium; NONGBOT_CHROMIUM to use another)."""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import sys
from pathlib import Path
from urllib.parse import urlsplit

from playwright.async_api import Page, async_playwright

SIZES = {"phone": (390, 844), "pc": (1366, 768)}
SKIP = re.compile(r"\.(csv|json|txt|xlsx)$|export|download|logout|/admin/static")


def kind(path: str) -> str:
    """/admin/subscribers/12 and /admin/subscribers/13 are one kind of page: /admin/subscribers/#."""
    return re.sub(r"/\d+(?=/|$)", "/#", path)


async def links(page: Page) -> list[str]:
    hrefs = await page.eval_on_selector_all("a[href]", "els => els.map(a => a.getAttribute('href'))")
    paths = [urlsplit(h).path for h in hrefs if h.startswith("/admin/")]
    return [p for p in paths if not SKIP.search(p)]


async def shoot(base: str, name: str, password: str, out: Path) -> int:
    count = 0
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(
            executable_path=os.environ.get("NONGBOT_CHROMIUM", "/usr/bin/chromium"),
            args=["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"])
        try:
            for size, (width, height) in SIZES.items():
                context = await browser.new_context(locale="zh-CN", viewport={"width": width, "height": height})
                page = await context.new_page()
                await page.goto(base + "/admin/login")
                await page.screenshot(path=str(out / f"{size}-login.png"), full_page=True)
                await page.fill("input[name=name]", name)
                await page.fill("input[name=password]", password)
                await page.click("button[type=submit]")
                await page.wait_for_url("**/admin/**")
                todo = ["/admin/", *await page.eval_on_selector_all(
                    "nav.side a", "els => els.map(a => a.getAttribute('href'))")]
                kinds: set[str] = set()
                while todo:
                    path = todo.pop(0)
                    if kind(path) in kinds:
                        continue
                    kinds.add(kind(path))
                    await page.goto(base + path)
                    await page.wait_for_load_state("networkidle")
                    slug = re.sub(r"\W+", "-", path.removeprefix("/admin").strip("/")) or "home"
                    await page.screenshot(path=str(out / f"{size}-{slug}.png"), full_page=True)
                    count += 1
                    todo += [p for p in await links(page) if kind(p) not in kinds]
                await context.close()
        finally:
            await browser.close()
    return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--url", default="http://127.0.0.1:8080", help="where nongbot serves")
    parser.add_argument("--name", required=True, help="an admin's name (the password is read from stdin)")
    parser.add_argument("--out", type=Path, default=Path("build/screens"))
    args = parser.parse_args()
    password = sys.stdin.readline().rstrip("\n")
    args.out.mkdir(parents=True, exist_ok=True)
    count = asyncio.run(shoot(args.url.rstrip("/"), args.name, password, args.out))
    sys.stdout.write(f"{count} screenshots in {args.out}\n")


if __name__ == "__main__":
    main()
