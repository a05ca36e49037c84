"""Small helpers shared by tests."""

from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp import ClientResponse, web
from aiohttp.test_utils import TestClient

from bot import inbox
from bot.messages import InboundMessage
from bot.models import ConsoleSession, Officer
from bot.web.auth import SESSION_COOKIE, _digest, create_token

PHONE = "+8613800138000"


async def say(
    app: web.Application, text: str, *, address: str = PHONE, channel: str = "sms",
    provider_id: str | None = None,
) -> inbox.Outcome:
    msg = InboundMessage(
        channel=channel, provider="test", address=address, text=text,
        provider_id=provider_id or f"test-{uuid.uuid4().hex}",
    )
    return await inbox.process(app, msg)


async def reply_text(app: web.Application, text: str, **kw: str) -> str:
    outcome = await say(app, text, **kw)
    return outcome.reply.text if outcome.reply else ""


# --- the officer console ----------------------------------------------------------------------

OFFICER_PASSWORD = "tian-jian-2026"
OFFICER_NAMES = {"officer": "农技员小王", "supervisor": "审核员老李", "admin": "管理员张"}


class Console:
    """A test client of the web role with one officer per role; log in as any of them."""

    def __init__(self, client: TestClient[web.Request, web.Application], officers: dict[str, Officer]) -> None:
        self.client = client
        self.officers = officers
        self.csrf = ""

    @property
    def app(self) -> web.Application:
        app = self.client.app
        assert app is not None
        return app

    async def login(self, role: str = "officer") -> str:
        """Log in through the form (after clearing cookies); returns the session's CSRF token."""
        self.client.session.cookie_jar.clear()
        form = await self.client.get("/admin/login")
        token = re.search(r'name="_csrf" value="([^"]+)"', await form.text())
        assert token is not None
        response = await self.client.post("/admin/login", data={
            "_csrf": token.group(1), "name": OFFICER_NAMES[role], "password": OFFICER_PASSWORD,
        }, allow_redirects=False)
        assert response.status == 303, await response.text()
        cookie = self.client.session.cookie_jar.filter_cookies(self.client.make_url("/admin/"))
        session = await ConsoleSession.get(token_hash=_digest(cookie[SESSION_COOKIE].value))
        self.csrf = session.csrf_token
        return self.csrf

    async def token(self, role: str) -> dict[str, str]:
        """Authorization headers with a fresh API token of that role's officer."""
        return {"Authorization": f"Bearer {await create_token(self.officers[role])}"}

    async def post_form(self, path: str, data: dict[str, Any] | None = None, **kw: Any) -> ClientResponse:
        """A console form submission with the session's CSRF token, redirects not followed."""
        return await self.client.post(path, data={"_csrf": self.csrf, **(data or {})},
                                      allow_redirects=False, **kw)

    async def api(self, method: str, path: str, **kw: Any) -> ClientResponse:
        """An API call with the session cookie and the CSRF header, as the console's scripts make it."""
        headers = {"X-CSRF-Token": self.csrf, **kw.pop("headers", {})}
        return await self.client.request(method, path, headers=headers, **kw)
