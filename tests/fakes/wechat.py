"""A fake WeChat: the token, stable_token, customer-service, template and menu endpoints with WeChat's
JSON shapes and error bodies, its 48-hour window and 5-text quota, scriptable faults; and messages and
events signed (and encrypted) and posted to nongbot the way WeChat posts them.

Run by hand to watch a round trip on one machine:
    python -m tests.fakes.wechat --nongbot http://127.0.0.1:8080 --port 8098
then start nongbot with the line it prints, and type texts as a follower would.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import itertools
import json
import secrets
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import xmltodict
from aiohttp import web
from wechatpy.crypto import WeChatCrypto

from tests.fakes import run_by_hand

APP_ID = "wx0123456789abcdef"
APP_SECRET = "test_app_secret_0123456789abcdef"
TOKEN = "testtoken"
AES_KEY = "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
ACCOUNT = "gh_test"
TEMPLATES = ("TPL_TIP", "TPL_PRICE", "TPL_LABOUR", "TPL_NOTICE")

# errmsg strings as WeChat words them (protocols.md §1.5, §1.6, §4.3).
ERRORS = {
    -1: "system error",
    40001: "invalid credential, access_token is invalid or not latest",
    40003: "invalid openid",
    40013: "invalid appid",
    40016: "invalid button size",
    40017: "invalid button type",
    40018: "invalid button name size",
    40019: "invalid button key size",
    40037: "invalid template_id",
    40125: "invalid appsecret",
    41001: "access_token missing",
    42001: "access_token expired",
    43004: "require subscribe",
    45009: "reach max api daily quota limit",
    45015: "response out of time limit or subscription is canceled",
    45047: "out of response count limit",
    47001: "data format error",
}
WINDOW = 48 * 3600
QUOTA = 5


@dataclass
class User:
    followed: bool = True
    last_message: float | None = None  # when they last wrote to the account (opens the 48-hour window)
    cs_sent: int = 0  # customer-service texts since then


def cdata(value: str) -> str:
    # A CDATA section cannot hold "]]>": WeChat (like any XML writer) has to split it.
    return "<![CDATA[" + value.replace("]]>", "]]]]><![CDATA[>") + "]]>"


@dataclass
class FakeWeChat:
    """State of the fake. `faults` is consumed one per API call (not token calls): "45009", "40001",
    "-1", "45015", "500", "timeout"; `token_faults` one per token call: "500", "-1", "40013", "timeout".
    `reject_tokens` answers 40001 to every call (a token WeChat never accepts)."""

    app_id: str = APP_ID
    app_secret: str = APP_SECRET
    token: str = TOKEN
    aes_key: str = AES_KEY
    account: str = ACCOUNT
    templates: set[str] = field(default_factory=lambda: set(TEMPLATES))
    users: dict[str, User] = field(default_factory=dict)
    custom: list[dict[str, Any]] = field(default_factory=list)  # customer-service texts delivered
    sent_templates: dict[int, dict[str, Any]] = field(default_factory=dict)
    menu: dict[str, Any] | None = None
    faults: deque[str] = field(default_factory=deque)
    token_faults: deque[str] = field(default_factory=deque)
    reject_tokens: bool = False
    expires_in: int = 7200
    hang_seconds: float = 30.0
    token_calls: int = 0
    api_calls: int = 0
    tokens: dict[str, float] = field(default_factory=dict)  # valid token -> expiry (time.time())
    _ids: Any = field(default_factory=lambda: itertools.count(200228332))

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/cgi-bin/token", self.get_token)
        app.router.add_post("/cgi-bin/stable_token", self.stable_token)
        app.router.add_post("/cgi-bin/message/custom/send", self.custom_send)
        app.router.add_post("/cgi-bin/message/template/send", self.template_send)
        app.router.add_post("/cgi-bin/menu/create", self.menu_create)
        return app

    # --- the API ----------------------------------------------------------------------------

    @staticmethod
    def error(code: int) -> web.Response:
        return web.json_response({"errcode": code, "errmsg": ERRORS[code]})

    async def _fault(self, queue: deque[str]) -> web.Response | None:
        fault = queue.popleft() if queue else ""
        if fault == "500":
            return web.Response(status=500, text="<html>502 Bad Gateway</html>")
        if fault == "timeout":
            await asyncio.sleep(self.hang_seconds)
            return web.Response(status=504)
        if fault:
            return self.error(int(fault))
        return None

    def _issue(self) -> str:
        now = time.time()
        # A new token leaves the previous ones about five more minutes (WeChat's overlap).
        self.tokens = {t: min(exp, now + 300) for t, exp in self.tokens.items() if exp > now}
        token = "TOKEN_" + secrets.token_hex(16)
        self.tokens[token] = now + self.expires_in
        return token

    def _credentials(self, appid: Any, secret: Any) -> web.Response | None:
        if appid != self.app_id:
            return self.error(40013)
        if secret != self.app_secret:
            return self.error(40125)
        return None

    async def get_token(self, request: web.Request) -> web.Response:
        self.token_calls += 1
        fault = await self._fault(self.token_faults)
        if fault is not None:
            return fault
        q = request.query
        refused = self._credentials(q.get("appid"), q.get("secret"))
        if refused is not None:
            return refused
        return web.json_response({"access_token": self._issue(), "expires_in": self.expires_in})

    async def stable_token(self, request: web.Request) -> web.Response:
        self.token_calls += 1
        fault = await self._fault(self.token_faults)
        if fault is not None:
            return fault
        body = await self._json(request)
        if body is None:
            return self.error(47001)
        refused = self._credentials(body.get("appid"), body.get("secret"))
        if refused is not None:
            return refused
        now = time.time()
        current = max(self.tokens.items(), key=lambda kv: kv[1], default=None)
        # Normal mode hands back the current token until its last five minutes.
        if current is not None and current[1] - now > 300 and not body.get("force_refresh"):
            return web.json_response({"access_token": current[0], "expires_in": int(current[1] - now)})
        return web.json_response({"access_token": self._issue(), "expires_in": self.expires_in})

    @staticmethod
    async def _json(request: web.Request) -> dict[str, Any] | None:
        try:
            body = json.loads(await request.read())
        except ValueError:
            return None
        return body if isinstance(body, dict) else None

    async def _authorised(self, request: web.Request) -> tuple[dict[str, Any] | None, web.Response | None]:
        """(JSON body, None) for a valid call, else (None, the error WeChat gives)."""
        self.api_calls += 1
        token = request.query.get("access_token")
        if not token:
            return None, self.error(41001)
        if self.reject_tokens or token not in self.tokens:
            return None, self.error(40001)
        if self.tokens[token] < time.time():
            return None, self.error(42001)
        fault = await self._fault(self.faults)
        if fault is not None:
            return None, fault
        body = await self._json(request)
        return (body, None) if body is not None else (None, self.error(47001))

    async def custom_send(self, request: web.Request) -> web.Response:
        body, refused = await self._authorised(request)
        if refused is not None:
            return refused
        assert body is not None
        user = self.users.get(body.get("touser", ""))
        if user is None:
            return self.error(40003)
        content = (body.get("text") or {}).get("content")
        if body.get("msgtype") != "text" or not isinstance(content, str):
            return self.error(47001)
        if not user.followed or user.last_message is None or time.time() - user.last_message > WINDOW:
            return self.error(45015)
        if user.cs_sent >= QUOTA:
            return self.error(45047)
        user.cs_sent += 1
        self.custom.append(body)
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    async def template_send(self, request: web.Request) -> web.Response:
        body, refused = await self._authorised(request)
        if refused is not None:
            return refused
        assert body is not None
        if body.get("template_id") not in self.templates:
            return self.error(40037)
        user = self.users.get(body.get("touser", ""))
        if user is None:
            return self.error(40003)
        if not user.followed:
            return self.error(43004)
        if not isinstance(body.get("data"), dict):
            return self.error(47001)
        msgid = next(self._ids)
        self.sent_templates[msgid] = body
        return web.json_response({"errcode": 0, "errmsg": "ok", "msgid": msgid})

    async def menu_create(self, request: web.Request) -> web.Response:
        body, refused = await self._authorised(request)
        if refused is not None:
            return refused
        assert body is not None
        buttons = body.get("button")
        if not isinstance(buttons, list) or not 1 <= len(buttons) <= 3:
            return self.error(40016)
        for button in buttons:
            subs = button.get("sub_button")
            if len(button.get("name", "").encode()) > 16 or not button.get("name"):
                return self.error(40018)
            if subs is not None:
                if not 1 <= len(subs) <= 5:
                    return self.error(40016)
                for sub in subs:
                    code = self._bad_click(sub, 60)
                    if code:
                        return self.error(code)
            else:
                code = self._bad_click(button, 16)
                if code:
                    return self.error(code)
        self.menu = body
        return web.json_response({"errcode": 0, "errmsg": "ok"})

    @staticmethod
    def _bad_click(button: dict[str, Any], limit: int) -> int:
        if button.get("type") not in ("click", "view"):
            return 40017
        if not button.get("name") or len(button["name"].encode()) > limit:
            return 40018
        if button["type"] == "click" and not 0 < len(str(button.get("key", "")).encode()) <= 128:
            return 40019
        return 0

    # --- what WeChat sends to nongbot ------------------------------------------------------------

    def message_xml(self, openid: str, msg_type: str, fields: dict[str, str | int],
                    create_time: int | None = None) -> str:
        parts = [f"<ToUserName>{cdata(self.account)}</ToUserName>", f"<FromUserName>{cdata(openid)}</FromUserName>",
                 f"<CreateTime>{create_time or int(time.time())}</CreateTime>", f"<MsgType>{cdata(msg_type)}</MsgType>"]
        for name, value in fields.items():
            parts.append(f"<{name}>{value}</{name}>" if isinstance(value, int) else f"<{name}>{cdata(value)}</{name}>")
        return "<xml>" + "".join(parts) + "</xml>"

    def text_xml(self, openid: str, content: str, msg_id: int | None = None, create_time: int | None = None) -> str:
        return self.message_xml(openid, "text", {"Content": content, "MsgId": msg_id or self.new_msg_id()},
                                create_time)

    def event_xml(self, openid: str, event: str, create_time: int | None = None, **fields: str | int) -> str:
        return self.message_xml(openid, "event", {"Event": event, **fields}, create_time)

    @staticmethod
    def new_msg_id() -> int:
        return 24_000_000_000_000_000 + secrets.randbelow(10**15)

    def signature(self, *parts: str) -> str:
        return hashlib.sha1("".join(sorted(parts)).encode()).hexdigest()

    def envelope(self, xml: str, mode: str, *, timestamp: int | None = None, nonce: str | None = None,
                 app_id: str | None = None, tamper: Callable[[str], str] | None = None,
                 msg_signature: str | None = None) -> tuple[dict[str, str], str]:
        """(query, body) of a push in `mode`: plain, compatible (both) or safe (encrypted only).
        `app_id` encrypts for another account; `tamper` alters the ciphertext and re-signs it."""
        ts, nonce = str(timestamp or int(time.time())), nonce or str(secrets.randbelow(10**9))
        query = {"signature": self.signature(self.token, ts, nonce), "timestamp": ts, "nonce": nonce}
        if mode == "plain":
            return query, xml
        crypto = WeChatCrypto(self.token, self.aes_key, app_id or self.app_id)
        encrypt = xmltodict.parse(crypto.encrypt_message(xml, nonce, ts))["xml"]["Encrypt"]
        if tamper is not None:
            encrypt = tamper(encrypt)
        query |= {"encrypt_type": "aes",
                  "msg_signature": msg_signature or self.signature(self.token, ts, nonce, encrypt)}
        if mode == "compatible":
            return query, xml.replace("</xml>", f"<Encrypt>{cdata(encrypt)}</Encrypt></xml>")
        return query, f"<xml><ToUserName>{cdata(self.account)}</ToUserName><Encrypt>{cdata(encrypt)}</Encrypt></xml>"

    def observe(self, xml: str) -> None:
        """Keep our model of the follower in step with what they just did (follow, write, unfollow)."""
        data = xmltodict.parse(xml)["xml"]
        user = self.users.setdefault(data["FromUserName"], User())
        event = str(data.get("Event") or "").lower()
        if data["MsgType"] != "event":
            user.last_message, user.cs_sent = time.time(), 0
        elif event == "subscribe":
            user.followed = True
        elif event == "unsubscribe":
            user.followed = False

    async def post(self, client: Any, url: str, xml: str, mode: str = "safe", **options: Any) -> tuple[int, str]:
        """POST `xml` to nongbot as WeChat would; `client` is an aiohttp ClientSession or TestClient."""
        self.observe(xml)
        query, body = self.envelope(xml, mode, **options)
        resp = await client.post(url, params=query, data=body.encode(), headers={"Content-Type": "text/xml"})
        return resp.status, await resp.text()

    def open_reply(self, body: str) -> dict[str, Any]:
        """The reply nongbot sent, decrypted (and its MsgSignature checked) when it is encrypted."""
        data = xmltodict.parse(body)["xml"]
        if "Encrypt" in data:
            crypto = WeChatCrypto(self.token, self.aes_key, self.app_id)
            inner = crypto.decrypt_message(data, data["MsgSignature"], data["TimeStamp"], data["Nonce"])
            data = xmltodict.parse(inner)["xml"]
            data["_encrypted"] = True
        return dict(data)

    def job_finished_xml(self, openid: str, msgid: int, status: str = "success") -> str:
        return self.event_xml(openid, "TEMPLATESENDJOBFINISH", MsgID=msgid, Status=status)


async def _by_hand(nongbot: str, port: int, mode: str) -> None:
    fake = FakeWeChat()

    async def typed(session: aiohttp.ClientSession, line: str) -> None:
        sent = len(fake.custom)
        status, text = await fake.post(session, f"{nongbot}/webhooks/wechat", fake.text_xml("oUser123", line), mode)
        print(f"← {status} {fake.open_reply(text)['Content'] if status == 200 and text != 'success' else text}")
        for body in fake.custom[sent:]:  # answers that missed the reply budget arrive this way
            print(f"→ customer-service text: {body['text']['content']}")

    await run_by_hand(fake.app(), port, {
        "NONGBOT_WECHAT_ENABLED": "true", "NONGBOT_WECHAT_APP_ID": fake.app_id,
        "NONGBOT_WECHAT_APP_SECRET": fake.app_secret, "NONGBOT_WECHAT_TOKEN": fake.token,
        "NONGBOT_WECHAT_ENCODING_AES_KEY": fake.aes_key, "NONGBOT_WECHAT_MODE": mode,
        "NONGBOT_WECHAT_API_BASE": f"http://127.0.0.1:{port}",
    }, "a follower (oUser123)", typed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nongbot", default="http://127.0.0.1:8080", help="nongbot's address")
    parser.add_argument("--port", type=int, default=8098)
    parser.add_argument("--mode", choices=("plain", "compatible", "safe"), default="safe")
    args = parser.parse_args()
    asyncio.run(_by_hand(args.nongbot.rstrip("/"), args.port, args.mode))


if __name__ == "__main__":
    main()
