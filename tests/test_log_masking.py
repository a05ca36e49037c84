"""Issue 15, items 4 and 5: no full phone number (plain, URL-encoded, spaced, full-width) and no
Alibaba Cloud callback secret in any log line — ours, the libraries' (twilio, aiohttp's access log)
— captured from the logging that `nongbot` really configures, in text and in JSON."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
import unicodedata
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp import web, web_log
from aiohttp.test_utils import TestClient, TestServer
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.rest import Client

from bot import logs
from bot.app import create_app
from bot.channels.twilio import TwilioSender
from bot.keys import SENDERS
from bot.models import Officer
from bot.phones import mask_phones_in
from tests.channels.test_aliyun import aliyun_config
from tests.conftest import make_config
from tests.fakes.aliyun import CALLBACK_SECRET, FakeAliyun
from tests.fakes.twilio import FROM_NUMBER, FakeTwilio
from tests.helpers import OFFICER_NAMES, Console

PHONE = "+8613800138001"
DIGITS = "13800138001"


class Captured:
    def __init__(self, fmt: str) -> None:
        self.fmt = fmt
        self.stream = io.StringIO()

    @property
    def text(self) -> str:
        return self.stream.getvalue()

    def assert_clean(self, *, secret: str = "") -> None:
        """No form of the phone number (decoded, folded, separators dropped) and not the secret."""
        text = self.text
        assert text, "nothing was logged"
        folded = text
        for _ in range(3):
            folded = unquote(folded)
        folded = re.sub(r"[\s+\-\u2010-\u2015]", "", unicodedata.normalize("NFKC", folded))
        leaks = [line for line in text.splitlines() if DIGITS in re.sub(
            r"[\s+\-\u2010-\u2015]", "", unicodedata.normalize("NFKC", unquote(unquote(unquote(line)))))]
        assert DIGITS not in folded, "full phone number logged:\n" + "\n".join(leaks)
        if secret:
            assert secret not in text and secret not in folded, "callback secret logged"
        if self.fmt == "json":
            for line in text.splitlines():
                json.loads(line)  # masking never breaks a JSON line


@pytest.fixture(params=["text", "json"])
def logged(request: pytest.FixtureRequest) -> Iterator[Captured]:
    """The logging `nongbot` configures (its real root handler, writing to a buffer), at DEBUG;
    pytest's own capture handlers are kept alongside and everything is put back afterwards."""
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in ("tortoise", "aiosqlite")}
    captured = Captured(request.param)
    logs.configure("debug", request.param, stream=captured.stream)
    root.handlers.extend(h for h in saved[0] if h not in root.handlers)
    try:
        yield captured
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)


# --- the masking itself (no database) ---------------------------------------------------------

FORMS = [
    "To=%2B8613800138001&PageSize=20", "To=%2b8613800138001", "q=%2B86+138+0013+8001",
    "q=%2B86%20138%200013%208001", "q=138+0013+8001", "q=138%200013%208001", "q=138%2B0013%2B8001",
    "138 0013 8001", "138-0013-8001", "+86 138-0013-8001", "138\u30000013\u30008001",
    "１３８００１３８００１", "＋８６　１３８　００１３　８００１", "138－0013－8001",
    "q=" + "".join(f"%{b:02X}" for b in "１３８００１３８００１".encode()),
    "next=%2Fadmin%2Fsubscribers%3Fq%3D%252B8613800138001", "008613800138001", "8613800138001",
    "手机13800138001", "q=%E6%89%8B%E6%9C%BA13800138001", "{'To': '+8613800138001'}",
]


@pytest.mark.parametrize("written", FORMS)
def test_phone_masked_in_every_written_form(written: str) -> None:
    masked = mask_phones_in(written)
    assert "****8001" in masked
    assert DIGITS not in re.sub(r"\D", "", unicodedata.normalize("NFKC", unquote(unquote(unquote(masked)))))


@pytest.mark.parametrize("kept", [
    "2026-11-27 13:00:35 id=42", "1732700000000", "SM0000000000000000000000000000138001380013",
    '127.0.0.1 [27/Nov/2026:13:00:35 +0800] "GET /healthz HTTP/1.1" 200 1380 "-" "curl/8.5"',
    "0.13800138001234", "123e4567-e89b-12d3-a456-426614174000",
])
def test_masking_leaves_other_numbers(kept: str) -> None:
    assert mask_phones_in(kept) == kept


def test_masked_shape_is_kept() -> None:
    assert mask_phones_in("To=%2B8613800138000") == "To=+86138****8000"
    assert mask_phones_in("+86 138 0013 8000") == "+86138****8000"


def test_a_short_value_redacted_before_is_hidden_once_it_is_a_secret() -> None:
    # Short values are remembered once redacted: a secret registered later must still be hidden.
    value = "late-secret-0123456789"
    assert logs.redact(value) == value and logs.redact(value) == value
    logs.hide_secret(value)
    assert logs.redact(value) == "***"
    assert logs.redact(f"tel {PHONE}") == logs.redact(f"tel {PHONE}") == "tel +86138****8001"


def test_every_record_masked_extras_and_tracebacks_included(logged: Captured) -> None:
    lib = logging.getLogger("twilio.http_client")
    lib.info("GET Request: https://api.twilio.com/Messages.json?To=%2B8613800138001")
    lib.info("Query Params: %s", {"To": PHONE, "PageSize": 20})
    logging.getLogger("asyncpg").warning("row %s", ("１３８ ００１３ ８００１",))
    logging.getLogger("nongbot.x").info("extra", extra={"to": PHONE, "n": 13800138001,
                                                         "nested": {"q": ["138+0013+8001"]}})
    try:
        raise ValueError(f"bad number 138-0013-8001 at /webhooks/aliyun/{CALLBACK_SECRET}")
    except ValueError:
        logging.getLogger("aiohttp.server").exception("Error handling request")
    logging.getLogger("wechatpy").info("bad args %s %s", PHONE)  # a library's mistake: still masked
    logged.assert_clean(secret=CALLBACK_SECRET)
    assert "+86138****8001" in logged.text and "/webhooks/aliyun/{secret}" in logged.text


# --- (a) the twilio SDK's own logger, talking to the fake Twilio --------------------------------

@pytest.mark.db
async def test_full_phone_numbers_in_logs_twilio_sdk_delivery_check(logged: Captured, aiohttp_server: Any,
                                                                     db_url: str) -> None:
    fake = FakeTwilio(hang_seconds=1.5)
    server = await aiohttp_server(fake.app())
    base = str(server.make_url("")).rstrip("/")
    config = make_config(db_url, sms={"provider": "twilio"}, twilio={
        "account_sid": fake.account_sid, "auth_token": fake.auth_token, "from_number": FROM_NUMBER,
        "api_base": base, "timeout": 1.0})
    app = create_app(config, role="cli")
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        sender = app[SENDERS]["sms"]
        assert isinstance(sender, TwilioSender)
        started = datetime.now(UTC)
        result = await sender.send(PHONE, "明天有霜冻。")
        assert result.status == "queued"
        # The delivery check: what Twilio's message log holds for this number, then one message's status.
        assert await sender.find_sent(PHONE, config.sms.signature + "明天有霜冻。", started) is not None
        http = AsyncTwilioHttpClient()
        client = Client(fake.account_sid, fake.auth_token, http_client=http)
        client.api.base_url = base
        try:
            message = await client.messages(result.provider_id).fetch_async()
            assert message.status == "queued" and message.to == PHONE
            await client.messages.page_async(to=PHONE, page_size=5)
        finally:
            await http.close()
    finally:
        await runner.cleanup()
    text = logged.text
    assert "twilio" in text and "To=+86138****8001" in text  # the SDK and the fake's access log, masked
    logged.assert_clean(secret=fake.auth_token)


# --- (b) console and API searches in aiohttp's access log ---------------------------------------

async def _started(
    aiohttp_client: Any, app: web.Application, access_log_class: type[web_log.AccessLogger] = logs.AccessLogger,
) -> TestClient[web.Request, web.Application]:
    """A test server started the way `nongbot serve` starts (its access logger class)."""
    server = TestServer(app)
    await server.start_server(access_log_class=access_log_class)
    return await aiohttp_client(server)  # type: ignore[no-any-return]


SEARCHES = ["q=%2B8613800138001", "q=138+0013+8001", "q=138%200013%208001", "q=138-0013-8001",
            "q=" + "".join(f"%{b:02X}" for b in "１３８００１３８００１".encode()), "q=%2B86+138+0013+8001"]


@pytest.mark.db
async def test_full_phone_numbers_in_logs_access_log_of_searches(logged: Captured, aiohttp_client: Any,
                                                                  config: Any, officer_password_hash: str) -> None:
    client = await _started(aiohttp_client, create_app(config, role="web"))
    officers = {role: await Officer.create(name=name, role=role, password_hash=officer_password_hash)
                for role, name in OFFICER_NAMES.items()}
    console = Console(client, officers)
    # Not logged in yet: the redirect to the login page carries the search in `next=`.
    first = await client.get(f"/admin/subscribers?{SEARCHES[0]}", allow_redirects=True)
    assert first.status == 200
    await console.login("officer")
    token = await console.token("officer")
    for query in SEARCHES:
        assert (await client.get(f"/admin/subscribers?{query}")).status == 200
        assert (await client.get(f"/api/v1/subscribers?{query}", headers=token)).status == 200
    await asyncio.sleep(0.05)  # the access log line is written after the response
    text = logged.text
    assert "aiohttp.access" in text and "/api/v1/subscribers?q=+86138****8001" in text
    assert "q=138****8001" in text
    logged.assert_clean()


# --- (c) an Alibaba Cloud push: the secret path and the villager's number -----------------------

@pytest.mark.db
@pytest.mark.parametrize("access_log_class", [logs.AccessLogger, web_log.AccessLogger],
                         ids=["nongbot access logger", "aiohttp's default access logger"])
async def test_aliyun_callback_secret_in_access_log(logged: Captured, aiohttp_client: Any, aiohttp_server: Any,
                                                    db_url: str,
                                                    access_log_class: type[web_log.AccessLogger]) -> None:
    fake = FakeAliyun()
    fake_server = await aiohttp_server(fake.app())
    client = await _started(aiohttp_client, create_app(aliyun_config(db_url, fake_server)), access_log_class)
    url = f"/webhooks/aliyun/{CALLBACK_SECRET}"
    assert (await client.get(url)).status == 200  # the console's connectivity check
    pushed = await fake.push(client.session, str(client.make_url(url)), [fake.up_item(DIGITS, "帮助")])
    assert pushed.status == 200
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not fake.sent:  # the reply went out by template send
        assert loop.time() < deadline, "no reply sent"
        await asyncio.sleep(0.05)
    fake.settle(fake.sent[0])
    assert (await fake.push(client.session, str(client.make_url(url)), [fake.report_item(fake.sent[0])])).status == 200
    bad = await client.post(url, data=b"{not json")
    assert bad.status == 400 and CALLBACK_SECRET not in await bad.text()
    rotated = await client.post("/webhooks/aliyun/" + "old-" + "5" * 40, json=[])  # an old secret still pushed to
    assert rotated.status == 404 and "5" * 40 not in await rotated.text()
    await asyncio.sleep(0.2)
    text = logged.text
    assert "/webhooks/aliyun/{secret}" in text
    if access_log_class is logs.AccessLogger:
        assert "POST /webhooks/aliyun/{secret} HTTP/1.1" in text
    assert "5" * 40 not in text
    logged.assert_clean(secret=CALLBACK_SECRET)
