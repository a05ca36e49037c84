"""The console's static files (styles, scripts, the icon), read once and served from memory.

They are a few kilobytes each. Serving them from memory opens no file per request, so a browser
that drops a request, or a server that stops while one is being sent, never leaves a file open
(aiohttp's FileResponse can). Each URL carries the file's hash (`?v=`), so a phone on slow data keeps
its copy until the file changes."""

from __future__ import annotations

import hashlib
import mimetypes
from pathlib import Path

from aiohttp import web
from yarl import URL

CACHED = "public, max-age=31536000, immutable"


class Assets(web.DynamicResource):
    """`/…/{filename}` for every file of one folder; `url_for(filename=…)` adds the version."""

    def __init__(self, prefix: str, folder: Path, *, name: str) -> None:
        super().__init__(prefix.rstrip("/") + "/{filename}", name=name)
        self.files: dict[str, tuple[bytes, str, str]] = {}
        for path in sorted(folder.iterdir()):
            if path.is_file():
                body = path.read_bytes()
                kind = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
                self.files[path.name] = (body, kind, hashlib.sha256(body).hexdigest()[:12])
        self.add_route("GET", self.serve)

    def url_for(self, **parts: str) -> URL:
        url = super().url_for(**parts)
        known = self.files.get(parts.get("filename", ""))
        return url.with_query(v=known[2]) if known else url

    async def serve(self, request: web.Request) -> web.StreamResponse:
        known = self.files.get(request.match_info["filename"])
        if known is None:
            raise web.HTTPNotFound(reason="没有这个文件")
        body, kind, version = known
        etag = f'"{version}"'
        headers = {"ETag": etag}
        if request.query.get("v") == version:
            headers["Cache-Control"] = CACHED
        if etag in request.headers.get("If-None-Match", ""):
            return web.Response(status=304, headers=headers)
        charset = "utf-8" if kind.startswith("text/") or kind.endswith(("javascript", "svg+xml")) else None
        return web.Response(body=body, content_type=kind, charset=charset, headers=headers)


def setup(app: web.Application, prefix: str, folder: Path, *, name: str) -> None:
    app.router.register_resource(Assets(prefix, folder, name=name))
