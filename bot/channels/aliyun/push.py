"""Alibaba Cloud's push at a secret URL: replies (SmsUp) and receipts (SmsReport) stored, acknowledged,
then processed from the push_item table (bot/intake.py): answered and applied exactly once."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import hmac
import json
import logging
import re
from collections.abc import Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web

from bot import inbox, intake, logs, outbox
from bot.channels.base import LookupFailed, reconcile
from bot.channels.webhooks import reject
from bot.keys import CONFIG, METRICS, SENDERS
from bot.messages import InboundMessage
from bot.models import Message, PushItem
from bot.phones import normalise_phone
from bot.web import fields
from bot.web import params as web_params

from .receipts import apply_receipt
from .settings import PROVIDER, settings

log = logging.getLogger("nongbot.aliyun")

CALLBACK_PATH = "/webhooks/aliyun/{secret}"
logs.hide_route(CALLBACK_PATH)  # the path is the secret: logged as the route, always
ACK = {"code": 0, "msg": "接收成功"}
PING_ACK = {"code": 0, "msg": "成功"}
LANES = 4  # numbers worked on at once: a burst of replies is not answered one by one (database pool: 5)
TASKS: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("aliyun_tasks", set)


def setup(app: web.Application) -> None:
    """Mount the push URL (only when a callback secret is configured: it is the only protection)."""
    secret = settings(app[CONFIG]).callback_secret
    if secret:
        logs.hide_secret(secret)  # wherever else it might be written
        app.router.add_route("*", CALLBACK_PATH, callback)


async def callback(request: web.Request) -> web.StreamResponse:
    app = request.app
    secret = settings(app[CONFIG]).callback_secret
    if not hmac.compare_digest(request.match_info["secret"].encode(), secret.encode()):
        app[METRICS].inbound.labels("sms", "rejected_404").inc()
        raise web.HTTPNotFound()
    if request.method == "GET":  # the console's connectivity check
        return web.json_response(PING_ACK)
    if request.method != "POST":
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
    try:  # the API's JSON reader: size, nesting depth and numbers checked (bot/web/params.py)
        items = web_params.loads(await request.read(), what="push")
    except fields.Invalid as bad:
        return _reject(request, f"not JSON we take: {bad.message}")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return _reject(request, "expected a JSON array of objects")
    ups = [i for i in items if "content" in i and i.get("phone_number")]
    reports = [i for i in items if "biz_id" in i and "success" in i and i.get("phone_number")]
    if len(ups) + len(reports) != len(items):
        return _reject(request, "unknown item shape")
    # "Received" only once the batch is stored (one insert): the provider does not push it again, and
    # a crash before the processing below must lose nothing. Processing reads the stored rows.
    stored = asyncio.ensure_future(intake.store(PROVIDER, [_item("report", i) for i in reports] +
                                                [_item("up", i) for i in ups]))
    stored.add_done_callback(functools.partial(_stored, app))  # processed whenever the insert is done
    try:
        await asyncio.wait_for(asyncio.shield(stored), settings(app[CONFIG]).push_budget)
    except Exception as exc:  # slow or failed: the provider pushes again (stored meanwhile: stored once)
        log.error("push not stored: %s", "the database is slow" if isinstance(exc, TimeoutError) else exc)
        return web.json_response({"code": 1, "msg": "try again"}, status=503)
    return web.json_response(ACK)


def _stored(app: web.Application, stored: asyncio.Future[str]) -> None:
    if stored.cancelled():
        return
    if stored.exception() is not None:
        log.error("push not stored: %s", stored.exception())
        return
    spawn(app, _process_batch(app, stored.result()))


def spawn(app: web.Application, work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.create_task(work)
    app[TASKS].add(task)
    task.add_done_callback(app[TASKS].discard)


async def _process_batch(app: web.Application, batch: str) -> None:
    await intake.process(app, await intake.held(batch))


def _reject(request: web.Request, why: str) -> web.Response:
    return reject(request, "sms", 400, why, log, json=True)


def _up_id(item: dict[str, Any]) -> str:
    """The provider id of an SmsUp: its number and sequence (the Message row is unique on it)."""
    digits = re.sub(r"\D", "", str(item["phone_number"]))[-11:]
    sequence = str(item.get("sequence_id") or "")
    if not sequence:  # older pushes: dedupe on what the carrier reported
        sequence = hashlib.sha1(f"{item.get('send_time')}|{item['content']}".encode()).hexdigest()[:20]
    return f"up:{digits}:{sequence}"[:64]


def _item(kind: str, item: dict[str, Any]) -> intake.Item:
    if kind == "up":
        return intake.Item("up", _up_id(item), item)
    # A receipt pushed again is the same JSON: stored once.
    canonical = json.dumps(item, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return intake.Item("report", "rp:" + hashlib.sha256(canonical.encode()).hexdigest()[:40], item)


@intake.handler(PROVIDER)
async def process_items(app: web.Application, rows: list[PushItem]) -> None:
    """Stored SmsReport and SmsUp items: receipts applied, replies recorded, then (every reply of
    the batch recorded first) answered by a template send each; each row marked done when its work is.
    A row processed again after a crash resumes: a recorded reply is not recorded twice, and its
    answer is sent only if it never was (or, when the crash came mid-send, not found at the provider)."""
    answers: list[tuple[PushItem, Message]] = []
    lanes = asyncio.Semaphore(LANES)

    async def record(rows_of_one: list[PushItem]) -> None:
        async with lanes:
            for row in rows_of_one:  # one number's rows in order: its replies are read as sent
                await _record(app, row, answers)

    async def answer_one(row: PushItem, message: Message) -> None:
        async with lanes:
            try:
                await _answer(app, message)
                await intake.done(row)
            except Exception as exc:
                log.exception("answer not delivered", extra={"message_id": message.id})
                await intake.failed(row, f"{type(exc).__name__}: {exc}")

    by_number: dict[str, list[PushItem]] = {}
    for row in sorted(rows, key=lambda r: (r.kind != "report", r.id)):
        by_number.setdefault(str(row.payload.get("phone_number")), []).append(row)
    await asyncio.gather(*(record(group) for group in by_number.values()))
    await asyncio.gather(*(answer_one(row, message) for row, message in sorted(answers, key=lambda a: a[0].id)))


async def _record(app: web.Application, row: PushItem, answers: list[tuple[PushItem, Message]]) -> None:
    """Apply a receipt or record a reply (its answer, still to go out, added to `answers`)."""
    try:
        if not await intake.still_held(row):
            return  # held past its lease, and a sweep took it: the sweep does it
        if row.kind == "report":
            await _receipt(app, row.payload)
        else:
            pending = await _inbound(app, row.payload)
            if pending is not None:
                answers.append((row, pending))
                return
        await intake.done(row)
    except (asyncio.CancelledError, KeyboardInterrupt):
        raise
    except Exception as exc:  # this row waits for a later sweep; the others go on
        log.exception("pushed item not processed", extra={"item": row.id})
        await intake.failed(row, f"{type(exc).__name__}: {exc}")


async def _receipt(app: web.Application, item: dict[str, Any]) -> None:
    phone = normalise_phone(str(item["phone_number"]))
    if phone is None or not item.get("out_id"):
        log.warning("receipt without a usable number or out_id", extra={"biz_id": item.get("biz_id")})
        return
    await apply_receipt(app, str(item["out_id"]), phone, item.get("success") is True, item.get("err_code"))


async def _inbound(app: web.Application, item: dict[str, Any]) -> Message | None:
    """Record one SmsUp and make its answer; the answer row if it still has to go out, else None."""
    msg = InboundMessage(channel="sms", provider=PROVIDER, address=str(item["phone_number"]),
                         text=str(item.get("content") or ""), provider_id=_up_id(item))
    outcome = await inbox.process(app, msg, duplicate_wait=0.0)
    if outcome.duplicate:
        log.info("pushed reply already recorded: resuming", extra={"message_id": outcome.message_id})
    if outcome.message_id is None:
        return None  # nothing recorded (an unusable number): nothing to answer
    answer = await Message.filter(reply_to_id=outcome.message_id, direction="out").order_by("id").first()
    if answer is None or answer.attempts or answer.provider_id or answer.status not in ("sent", "sending"):
        return None  # nothing to say, or already sent (or tried) by an earlier run
    return answer


async def _answer(app: web.Application, row: Message) -> None:
    """The push's HTTP answer cannot carry text: the reply goes out as a template send of its own.
    A row left "sending" by a crash may have gone out: the provider's send log is asked first."""
    if row.status == "sending":
        sender = app[SENDERS]["sms"]
        try:
            found = await reconcile(sender, row.address, app[CONFIG].sms.signature + row.body,
                                    row.updated_at - timedelta(minutes=5))
        except LookupFailed:  # unknown: left "sending", looked up again next time, never sent twice
            log.warning("reply in doubt and the provider's log did not answer", extra={"message_id": row.id})
            return
        if found is not None:
            await Message.filter(id=row.id).update(status=found.status, provider_id=found.provider_id,
                                                   updated_at=datetime.now(UTC))
            return
    row.status = "sending"
    await row.save(update_fields=["status", "updated_at"])
    await outbox.deliver(app, row)
