"""HTTP surface of the core: /healthz, /metrics, and the log provider through the outbox."""

from __future__ import annotations

import io

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from tortoise import connections

from bot import outbox
from bot.app import create_app
from bot.channels.log import LogSender
from bot.keys import SENDERS
from bot.models import Message, Subscriber
from tests.helpers import say

pytestmark = pytest.mark.db


async def test_healthz_ok(client: TestClient) -> None:
    resp = await client.get("/healthz")
    assert resp.status == 200
    body = await resp.json()
    assert body["status"] == "ok" and body["database"] == "ok"


async def test_healthz_503_when_database_is_down(aiohttp_client, config) -> None:  # type: ignore[no-untyped-def]
    client = await aiohttp_client(create_app(config, role="web"))  # no background workers to trip over it
    conn = connections.get("default")
    await conn.close()
    # Point the client somewhere that cannot be opened, as a lost disk or server would.
    if hasattr(conn, "filename"):
        conn.filename = "/nonexistent/dir/nongbot.sqlite3"
    else:
        conn.port = 1
        conn._template["port"] = 1
    resp = await client.get("/healthz")
    assert resp.status == 503
    assert (await resp.json())["database"] == "down"


async def test_metrics_count_inbound_and_latency(client: TestClient) -> None:
    await say(client.app, "帮助")
    await say(client.app, "帮助", provider_id="same")
    await say(client.app, "帮助", provider_id="same")
    resp = await client.get("/metrics")
    assert resp.status == 200
    text = await resp.text()
    assert 'nongbot_inbound_messages_total{channel="sms",status="answered"} 2.0' in text
    assert 'nongbot_inbound_messages_total{channel="sms",status="duplicate"} 1.0' in text
    assert 'nongbot_handler_seconds_count{handler="help.show_help"} 2.0' in text


async def test_unknown_route_is_404(client: TestClient) -> None:
    assert (await client.get("/nope")).status == 404


def test_unknown_role_is_refused(config) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(ValueError):
        create_app(config, role="everything")


async def test_log_provider_records_and_prints(app: web.Application) -> None:
    stream = io.StringIO()
    app[SENDERS]["sms"] = LogSender("sms", stream)
    await say(app, "帮助")
    sub = await Subscriber.get(phone="+8613800138000")
    row = await outbox.send_text(app, sub, "明早有霜冻，请给茶园盖膜。")
    assert row.status == "sent" and row.provider == "log" and row.provider_id.startswith("log-")
    assert (await Message.get(id=row.id)).body == "明早有霜冻，请给茶园盖膜。"
    printed = stream.getvalue()
    assert "明早有霜冻" in printed and "+86138****8000" in printed and "13800138000" not in printed


async def test_outbox_refuses_a_channel_without_address(app: web.Application) -> None:
    sub = await Subscriber.create(phone="+8613900139000")
    with pytest.raises(outbox.NoAddress):
        await outbox.send_text(app, sub, "你好", channel="wechat")
