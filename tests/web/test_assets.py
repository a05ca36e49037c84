"""The console's static files: served from memory, versioned by hash, kept by the browser only then."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import bot.web
from tests.helpers import Console

STATIC = Path(bot.web.__file__).parent / "static"


async def test_pages_link_each_file_by_its_hash_and_the_file_is_kept(console: Console) -> None:
    await console.login("officer")
    html = await (await console.client.get("/admin/")).text()
    links = dict(re.findall(r'/admin/static/([\w.]+)\?v=(\w+)"', html))
    assert {"console.css", "console.js", "favicon.svg"} <= set(links), links
    for name, version in links.items():
        body = (STATIC / name).read_bytes()
        assert version == hashlib.sha256(body).hexdigest()[:12]
        response = await console.client.get(f"/admin/static/{name}?v={version}")
        assert response.status == 200 and await response.read() == body
        assert response.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
    css = await console.client.get("/admin/static/console.css")
    assert css.content_type == "text/css" and css.charset == "utf-8"
    assert (await console.client.get("/admin/static/console.js")).content_type in (
        "text/javascript", "application/javascript")


async def test_an_unversioned_or_stale_link_is_not_kept_and_a_known_copy_gets_304(console: Console) -> None:
    for url in ("/admin/static/console.css", "/admin/static/console.css?v=0000"):
        response = await console.client.get(url)
        assert response.status == 200 and response.headers["Cache-Control"] == "no-store"
    etag = response.headers["ETag"]
    again = await console.client.get("/admin/static/console.css", headers={"If-None-Match": etag})
    assert again.status == 304 and await again.read() == b""


async def test_an_unknown_file_is_a_chinese_404_and_no_path_escapes(console: Console) -> None:
    for url in ("/admin/static/nothing.js", "/admin/static/..%2Fconsole.py", "/admin/static/%2e%2e/auth.py"):
        response = await console.client.get(url)
        assert response.status == 404, url
        text = await response.text()
        assert "没有找到" in text and "import" not in text
