"""A fake Twilio: the Messages resource (create, list) with Twilio's JSON shapes and error bodies,
scriptable faults, and signed inbound webhooks and status callbacks fired at nongbot.

Run by hand to watch a full round trip on one machine:
    python -m tests.fakes.twilio --nongbot http://127.0.0.1:8080 --port 8099
then start nongbot with NONGBOT_SMS_PROVIDER=twilio NONGBOT_TWILIO_API_BASE=http://127.0.0.1:8099 …
(the command prints the exact line) and type texts as a villager would.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import time
from collections import deque
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

import aiohttp
from aiohttp import web
from twilio.request_validator import RequestValidator

from tests.fakes import run_by_hand

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "test_auth_token_0123456789abcdef"
FROM_NUMBER = "+15005550006"
INBOUND_TO = "+15005550006"


@dataclass
class FakeTwilio:
    """State of the fake. `faults` is consumed one per create request:
    "429", "500", "timeout" (hang, create nothing), "slow-create" (create, then hang),
    "close" (drop the connection, create nothing), "close-after-create",
    "500-after-create" (create, then answer 500 as Twilio's edge does when it fails after the write),
    "500-after-create-late" (the same, and the message shows in the log only `late_seconds` later).
    `list_faults` is consumed one per message-log request: "500", or "timeout" (hang, then 500)."""

    account_sid: str = ACCOUNT_SID
    auth_token: str = AUTH_TOKEN
    messages: dict[str, dict[str, Any]] = field(default_factory=dict)
    faults: deque[str] = field(default_factory=deque)
    list_faults: deque[str] = field(default_factory=deque)  # one per log request: "500" or "timeout" (hang)
    unsubscribed: set[str] = field(default_factory=set)
    create_calls: int = 0
    hang_seconds: float = 30.0
    late_seconds: float = 1.0
    hidden_until: dict[str, float] = field(default_factory=dict)  # sid -> when list() shows it
    _ids: Any = field(default_factory=lambda: itertools.count(1))

    def new_sid(self, prefix: str = "SM") -> str:
        return f"{prefix}{next(self._ids):032x}"

    def app(self) -> web.Application:
        app = web.Application()
        base = "/2010-04-01/Accounts/{sid}/Messages"
        app.router.add_post(base + ".json", self.create)
        app.router.add_get(base + ".json", self.list)
        app.router.add_get(base + "/{msid}.json", self.fetch)
        return app

    def _authorised(self, request: web.Request) -> bool:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Basic "):
            return False
        user, _, password = base64.b64decode(header[6:]).decode().partition(":")
        return user == self.account_sid == request.match_info["sid"] and password == self.auth_token

    @staticmethod
    def _error(status: int, code: int, message: str) -> web.Response:
        return web.json_response({"code": code, "message": message,
                                  "more_info": f"https://www.twilio.com/docs/errors/{code}", "status": status},
                                 status=status)

    async def create(self, request: web.Request) -> web.StreamResponse:
        self.create_calls += 1
        if not self._authorised(request):
            return self._error(401, 20003, "Authenticate")
        form = await request.post()
        fault = self.faults.popleft() if self.faults else ""
        if fault == "429":
            return self._error(429, 20429, "Too Many Requests")
        if fault == "500":
            return web.Response(status=500, text="Internal Server Error")
        if fault in ("timeout", "close"):
            if fault == "timeout":
                await asyncio.sleep(self.hang_seconds)
            request.transport.close()  # type: ignore[union-attr]
            return web.Response(status=500)
        to = str(form.get("To", ""))
        if not to.startswith("+") or not to[1:].isdigit() or len(to) < 9:
            return self._error(400, 21211, f"The 'To' number {to} is not a valid phone number.")
        if to in self.unsubscribed:
            return self._error(400, 21610, "Attempt to send to unsubscribed recipient")
        if not form.get("Body"):
            return self._error(400, 21602, "Message body is required.")
        record = self._record(form)
        if fault in ("500-after-create", "500-after-create-late"):
            if fault.endswith("-late"):
                self.hidden_until[record["sid"]] = time.monotonic() + self.late_seconds
            return self._error(500, 20500, "Internal Server Error")
        if fault in ("slow-create", "close-after-create"):
            if fault == "slow-create":
                await asyncio.sleep(self.hang_seconds)
            request.transport.close()  # type: ignore[union-attr]
            return web.Response(status=500)
        return web.json_response(record, status=201)

    def _record(self, form: Any) -> dict[str, Any]:
        sid = self.new_sid()
        now = format_datetime(datetime.now(UTC), usegmt=True)
        body = str(form["Body"])
        record = {
            "sid": sid, "account_sid": self.account_sid, "status": "queued", "direction": "outbound-api",
            "num_segments": "1", "num_media": "0", "from": form.get("From") or None, "to": form["To"],
            "body": body, "messaging_service_sid": form.get("MessagingServiceSid") or None,
            "error_code": None, "error_message": None, "price": None, "price_unit": "USD",
            "api_version": "2010-04-01", "date_created": now, "date_updated": now, "date_sent": None,
            "uri": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}.json",
            "subresource_uris": {"media": f"/2010-04-01/Accounts/{self.account_sid}/Messages/{sid}/Media.json"},
            "status_callback": form.get("StatusCallback"),
        }
        self.messages[sid] = record
        return record

    async def list(self, request: web.Request) -> web.Response:
        if not self._authorised(request):
            return self._error(401, 20003, "Authenticate")
        if self.list_faults:
            fault = self.list_faults.popleft()
            if fault == "timeout":
                await asyncio.sleep(self.hang_seconds)
            return self._error(500, 20500, "Internal Server Error")
        to = request.query.get("To")
        now = time.monotonic()
        rows = [{k: v for k, v in m.items() if k != "status_callback"}
                for m in reversed(self.messages.values())
                if (to is None or m["to"] == to) and self.hidden_until.get(m["sid"], 0.0) <= now]
        uri = request.path_qs
        return web.json_response({"messages": rows, "end": max(len(rows) - 1, 0), "first_page_uri": uri,
                                  "next_page_uri": None, "page": 0, "page_size": 50, "previous_page_uri": None,
                                  "start": 0, "uri": uri})

    async def fetch(self, request: web.Request) -> web.Response:
        record = self.messages.get(request.match_info["msid"])
        if record is None:
            return self._error(404, 20404, "The requested resource was not found")
        return web.json_response({k: v for k, v in record.items() if k != "status_callback"})

    # --- what Twilio sends to nongbot ---------------------------------------------------------

    def sign(self, url: str, params: dict[str, str]) -> str:
        return RequestValidator(self.auth_token).compute_signature(url, params)

    def inbound_params(self, sender: str, body: str, sid: str | None = None) -> dict[str, str]:
        sid = sid or self.new_sid()
        return {
            "ToCountry": "US", "ToState": "CA", "SmsMessageSid": sid, "NumMedia": "0", "ToCity": "",
            "FromZip": "", "SmsSid": sid, "FromState": "", "SmsStatus": "received", "FromCity": "",
            "Body": body, "FromCountry": "CN", "To": INBOUND_TO, "MessagingServiceSid": "", "ToZip": "",
            "NumSegments": "1", "MessageSid": sid, "AccountSid": self.account_sid, "From": sender,
            "ApiVersion": "2010-04-01",
        }

    async def post_signed(self, session: aiohttp.ClientSession, url: str, params: dict[str, str],
                          signed_url: str | None = None) -> aiohttp.ClientResponse:
        signature = self.sign(signed_url or url, params)
        return await session.post(url, data=params, headers={"X-Twilio-Signature": signature})

    async def report(self, session: aiohttp.ClientSession, sid: str, status: str,
                     error_code: str | None = None, via: str | None = None) -> aiohttp.ClientResponse:
        """Fire a status callback for an outbound message, as Twilio does on each change. `via`
        reaches nongbot at another address than its public URL (tests), signed as Twilio would."""
        record = self.messages[sid]
        record["status"] = status
        params = {"MessageSid": sid, "SmsSid": sid, "AccountSid": self.account_sid,
                  "From": record["from"] or "", "To": record["to"], "MessageStatus": status,
                  "SmsStatus": status, "ApiVersion": "2010-04-01"}
        if error_code:
            params["ErrorCode"] = error_code
        url = record["status_callback"]
        target = via.rstrip("/") + "/" + url.split("/", 3)[3] if via else url
        return await self.post_signed(session, target, params, signed_url=url)


async def _by_hand(nongbot: str, port: int) -> None:
    fake = FakeTwilio()
    seen: set[str] = set()

    async def typed(session: aiohttp.ClientSession, line: str) -> None:
        params = fake.inbound_params("+8613800138000", line)
        async with await fake.post_signed(session, f"{nongbot}/webhooks/twilio/sms", params) as resp:
            print(f"← {resp.status} {await resp.text()}")
        for sid, record in list(fake.messages.items()):  # pushes nongbot sent meanwhile
            if sid not in seen and record.get("status_callback"):
                seen.add(sid)
                print(f"→ nongbot sent {record['to']}: {record['body']}")
                async with await fake.report(session, sid, "delivered") as resp:
                    print(f"  status callback delivered → {resp.status}")

    await run_by_hand(fake.app(), port, {
        "NONGBOT_SMS_PROVIDER": "twilio", "NONGBOT_TWILIO_ACCOUNT_SID": fake.account_sid,
        "NONGBOT_TWILIO_AUTH_TOKEN": fake.auth_token, "NONGBOT_TWILIO_FROM_NUMBER": FROM_NUMBER,
        "NONGBOT_TWILIO_API_BASE": f"http://127.0.0.1:{port}", "NONGBOT_SERVER_PUBLIC_URL": nongbot,
    }, "a villager (+8613800138000)", typed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--nongbot", default="http://127.0.0.1:8080", help="nongbot's public URL")
    parser.add_argument("--port", type=int, default=8099)
    args = parser.parse_args()
    asyncio.run(_by_hand(args.nongbot.rstrip("/"), args.port))


if __name__ == "__main__":
    main()
