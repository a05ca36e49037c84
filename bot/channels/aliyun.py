"""Alibaba Cloud SMS (阿里云短信): template sends through the official SDK; replies and receipts by a
secret-URL push, receipts also by pulling QuerySendDetails."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import hmac
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Coroutine, Iterable
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from aiohttp import web
from alibabacloud_dysmsapi20170525 import models as sms_models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi import models as api_models
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException, ThrottlingException
from darabonba.exceptions import UnretryableException

from bot import background, inbox, intake, logs, outbox
from bot.channels import SendResult, reconcile
from bot.channels.smsroute import DOMESTIC_PREFIX, SmsRouter
from bot.channels.templates import Template, TemplateError
from bot.config import Config, ConfigError
from bot.keys import CONFIG, METRICS, SENDERS, STATUS_LISTENERS
from bot.messages import InboundMessage
from bot.models import Message, MessageEvent, PushItem, TemplateSend
from bot.phones import mask_phone, normalise_phone
from bot.web import params as web_params

log = logging.getLogger("nongbot.aliyun")

PROVIDER = "aliyun"
CALLBACK_PATH = "/webhooks/aliyun/{secret}"
logs.hide_route(CALLBACK_PATH)  # the path is the secret: logged as the route, always
KINDS = ("tip", "price", "labour", "notice")
MAX_NUMBERS = 1000  # SendSms: one text, up to 1,000 numbers
MAX_BATCH = 100  # SendBatchSms: a text per number, up to 100
CHINA = ZoneInfo("Asia/Shanghai")  # SendDate of QuerySendDetails is the provider's calendar day
MAINLAND_MOBILE = re.compile(r"^\+861[3-9]\d{9}$")
# Receipts are pulled for two days (then the row is left alone) and rows are kept three days: the
# provider's per-number limit is a rolling 24 hours.
PULL_WINDOW = timedelta(days=2)
KEEP = timedelta(days=3)
# Not accepted now, but may be later: per-number flow control, our own console caps, balance.
RETRYABLE = {"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "isv.MONTH_LIMIT_CONTROL",
             "isv.AMOUNT_NOT_ENOUGH", "isv.OUT_OF_SERVICE", "Throttling", "Throttling.User", "Throttling.Api"}
# The provider may or may not have sent it: never sent again without looking first.
UNCLEAR = {"isp.SYSTEM_ERROR", "InternalError", "ServiceUnavailable"}
STATUS_RANK = {"sending": 2, "sent": 3, "undelivered": 5, "failed": 5, "delivered": 6}
ACK = {"code": 0, "msg": "接收成功"}
PING_ACK = {"code": 0, "msg": "成功"}
TASKS: web.AppKey[set[asyncio.Task[None]]] = web.AppKey("aliyun_tasks", set)


def check_config(cfg: Config) -> None:
    """Called by load_config when sms.provider = "aliyun"; raises ConfigError with the key at fault."""
    a = cfg.aliyun
    for key, env in (("access_key_id", "NONGBOT_ALIYUN_ACCESS_KEY_ID"),
                     ("access_key_secret", "NONGBOT_ALIYUN_ACCESS_KEY_SECRET"),
                     ("sign_name", "NONGBOT_ALIYUN_SIGN_NAME"), ("template_reply", "NONGBOT_ALIYUN_TEMPLATE_REPLY")):
        if not getattr(a, key):
            raise ConfigError(f"aliyun.{key}: missing; set it (or {env}) when sms.provider = \"aliyun\"")
    for key in ("template_reply", *(f"template_{k}" for k in KINDS)):
        if getattr(a, key):
            try:
                Template.parse(getattr(a, key))
            except ValueError as exc:
                raise ConfigError(f"aliyun.{key}: {exc}") from None
    if "://" in a.endpoint or not a.endpoint:
        raise ConfigError(f"aliyun.endpoint: expected host[:port] without a scheme, got {a.endpoint!r}")
    if a.protocol not in ("http", "https"):
        raise ConfigError(f"aliyun.protocol: expected \"https\" (or \"http\" for a local fake), got {a.protocol!r}")
    if not 1 <= a.var_chars <= 35:
        raise ConfigError(f"aliyun.var_chars: expected 1-35 (the provider's limit per variable), got {a.var_chars}")
    if a.daily_limit < 1:
        raise ConfigError(f"aliyun.daily_limit: expected a positive integer, got {a.daily_limit}")
    if a.timeout <= 0 or a.pull_seconds <= 0:
        raise ConfigError("aliyun.timeout and aliyun.pull_seconds: expected positive numbers of seconds")
    if not 0 < a.push_budget < 0.7:
        raise ConfigError(f"aliyun.push_budget: expected seconds above 0 and below 0.7 (the provider waits 0.7), got {a.push_budget}")
    if a.callback_secret and not re.fullmatch(r"[A-Za-z0-9_-]{32,128}", a.callback_secret):
        raise ConfigError("aliyun.callback_secret: expected 32-128 letters, digits, - or _ in "
                          "NONGBOT_ALIYUN_CALLBACK_SECRET (e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
    if cfg.twilio.account_sid:  # Twilio next to Alibaba Cloud: numbers outside mainland China
        if not cfg.twilio.auth_token:
            raise ConfigError("twilio.auth_token: missing; set NONGBOT_TWILIO_AUTH_TOKEN")
        if not (cfg.twilio.from_number or cfg.twilio.messaging_service_sid):
            raise ConfigError("twilio.from_number: expected from_number or messaging_service_sid when twilio.account_sid is set")


def provider_id(out_id: str, phone: str) -> str:
    """What Message and Delivery rows hold: our OutId and the number, both echoed in every receipt and
    send log, so a receipt finds its row even when the send's answer (the BizId) never came back."""
    return f"{out_id}/{phone[-11:]}"


def _digits(phone: str) -> str:
    return phone[len(DOMESTIC_PREFIX):] if phone.startswith(DOMESTIC_PREFIX) else phone


def _text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


class AliyunSender:
    channel = "sms"
    provider = PROVIDER

    def __init__(self, config: Config, client: Client) -> None:
        self._config = config
        self._client = client
        a = config.aliyun
        self._templates = {kind: Template.parse(getattr(a, f"template_{kind}"))
                           for kind in KINDS if getattr(a, f"template_{kind}")}
        self._templates[""] = Template.parse(a.template_reply)

    def template_for(self, kind: str) -> Template | None:
        """A bot reply ("") uses template_reply; a broadcast kind its own template, else template_notice."""
        if kind == "":
            return self._templates[""]
        return self._templates.get(kind) or self._templates.get("notice")

    def params_for(self, text: str, kind: str) -> tuple[Template, dict[str, str]]:
        template = self.template_for(kind)
        if template is None:
            raise TemplateError(f"no template for {kind!r} messages: set aliyun.template_{kind} or template_notice")
        return template, template.fill(text, self._config.aliyun.var_chars)

    async def send(self, address: str, text: str, *, kind: str = "") -> SendResult:
        return (await self.send_many([address], text, kind=kind))[address]

    async def send_many(self, addresses: list[str], text: str, *, kind: str = "") -> dict[str, SendResult]:
        """SendSms: one text to up to 1,000 numbers per request (one TemplateParam for all)."""
        try:
            template, params = self.params_for(text, kind)
        except TemplateError as exc:
            return {a: SendResult("failed", error_code="template", error=str(exc)) for a in addresses}
        results: dict[str, SendResult] = {}
        for start in range(0, len(addresses), MAX_NUMBERS):
            chunk = addresses[start:start + MAX_NUMBERS]
            results.update(await self._request([(a, params) for a in chunk], template, text))
        return results

    async def send_batch(self, items: list[tuple[str, str]], *, kind: str = "") -> list[SendResult]:
        """SendBatchSms: a different text per number (same template), up to 100 numbers per request."""
        results: list[SendResult | None] = [None] * len(items)
        fitted: list[tuple[int, str, dict[str, str], str]] = []
        template = self.template_for(kind)
        for i, (address, text) in enumerate(items):
            try:
                template, params = self.params_for(text, kind)
            except TemplateError as exc:
                results[i] = SendResult("failed", error_code="template", error=str(exc))
                continue
            fitted.append((i, address, params, text))
        for start in range(0, len(fitted), MAX_BATCH):
            chunk = fitted[start:start + MAX_BATCH]
            assert template is not None
            answered = await self._batch_request(chunk, template)
            for (i, _, _, _), result in zip(chunk, answered, strict=True):
                results[i] = result
        return [r if r is not None else SendResult("failed", error="not sent") for r in results]

    # --- one provider request ------------------------------------------------------------------

    async def _reserve(self, address: str, template: Template, out_id: str, text: str) -> TemplateSend | SendResult:
        """Write the send down before the provider sees it; refuse when the number had its daily
        share of this template (the provider counts at submission, whatever the receipt)."""
        if not MAINLAND_MOBILE.match(address):
            return SendResult("failed", error_code="isv.MOBILE_NUMBER_ILLEGAL",
                              error=f"not a mainland China mobile number: {mask_phone(address)}")
        row = await TemplateSend.create(provider=PROVIDER, phone=address, template=template.code, out_id=out_id,
                                        text_hash=_text_hash(text), provider_id=provider_id(out_id, address))
        since = datetime.now(UTC) - timedelta(hours=24)
        used = await TemplateSend.filter(phone=address, template=template.code, created_at__gte=since,
                                         state__not="rejected").count()
        if used > self._config.aliyun.daily_limit:  # counted after inserting: two racing sends both see it
            await row.delete()
            return SendResult("failed", error_code="daily_limit", retryable=True,
                              error=f"{mask_phone(address)} had {self._config.aliyun.daily_limit} texts of template "
                                    f"{template.code} in 24 hours (aliyun.daily_limit); try later")
        return row

    async def _request(self, items: list[tuple[str, dict[str, str]]], template: Template,
                       text: str) -> dict[str, SendResult]:
        out_id = uuid.uuid4().hex[:20]
        rows, results = await self._reserve_all([a for a, _ in items], template, out_id, [text] * len(items))
        if not rows:
            return results
        params = items[0][1]
        request = sms_models.SendSmsRequest(
            phone_numbers=",".join(_digits(r.phone) for r in rows), sign_name=self._config.aliyun.sign_name,
            template_code=template.code, template_param=json.dumps(params, ensure_ascii=False), out_id=out_id)
        outcome = await self._call(self._client.send_sms_async, request)
        results.update(await self._settle(rows, outcome))
        return results

    async def _batch_request(self, chunk: list[tuple[int, str, dict[str, str], str]],
                             template: Template) -> list[SendResult]:
        out_id = uuid.uuid4().hex[:20]
        rows, refused = await self._reserve_all([a for _, a, _, _ in chunk], template, out_id,
                                                [t for _, _, _, t in chunk])
        by_phone = {r.phone: r for r in rows}
        kept = [(a, p) for _, a, p, _ in chunk if a in by_phone]
        settled: dict[str, SendResult] = {}
        if kept:
            request = sms_models.SendBatchSmsRequest(
                phone_number_json=json.dumps([_digits(a) for a, _ in kept]),
                sign_name_json=json.dumps([self._config.aliyun.sign_name] * len(kept), ensure_ascii=False),
                template_code=template.code, out_id=out_id,
                template_param_json=json.dumps([p for _, p in kept], ensure_ascii=False))
            outcome = await self._call(self._client.send_batch_sms_async, request)
            settled = await self._settle([by_phone[a] for a, _ in kept], outcome)
        return [settled.get(a) or refused.get(a) or SendResult("failed", error="duplicate number in batch")
                for _, a, _, _ in chunk]

    async def _reserve_all(self, addresses: list[str], template: Template, out_id: str,
                           texts: list[str]) -> tuple[list[TemplateSend], dict[str, SendResult]]:
        rows: list[TemplateSend] = []
        refused: dict[str, SendResult] = {}
        seen: set[str] = set()
        for address, text in zip(addresses, texts, strict=True):
            if address in seen:
                continue
            seen.add(address)
            got = await self._reserve(address, template, out_id, text)
            if isinstance(got, SendResult):
                refused[address] = got
            else:
                rows.append(got)
        return rows, refused

    async def _call(self, method: Any, request: Any) -> SendResult:
        """One SDK call, classified. The SDK makes one attempt (no retry_options): SendSms is not
        idempotent, and an unclear outcome is looked up, never blindly repeated."""
        try:
            async with asyncio.timeout(self._config.aliyun.timeout + 2.0):
                response = await method(request)
        except ThrottlingException as exc:
            return SendResult("failed", error_code=str(exc.code)[:32], error=str(exc.message)[:500], retryable=True)
        except AlibabaCloudException as exc:
            code = str(exc.code or exc.status_code)
            if code in UNCLEAR or (exc.status_code or 0) >= 500:
                return SendResult("failed", error_code="unclear", error=f"{code}: {exc.message}"[:500])
            return SendResult("failed", error_code=code[:32], error=str(exc.message)[:500],
                              retryable=code in RETRYABLE or exc.status_code == 429)
        except UnretryableException as exc:
            reason = str(exc)
            if reason.startswith("Cannot connect to host"):  # the request never left: safe to try again
                return SendResult("failed", error=f"no answer from Alibaba Cloud ({reason[:200]})", retryable=True)
            return SendResult("failed", error_code="unclear", error=f"no answer from Alibaba Cloud ({reason[:200]})")
        except TimeoutError:
            return SendResult("failed", error_code="unclear", error="no answer from Alibaba Cloud (timeout)")
        body = response.body
        if body.code != "OK":  # a business error inside HTTP 200 (china-sms.md §1.3)
            if body.code in UNCLEAR:
                return SendResult("failed", error_code="unclear", error=f"{body.code}: {body.message}"[:500])
            return SendResult("failed", error_code=str(body.code)[:32], error=str(body.message)[:500],
                              retryable=body.code in RETRYABLE)
        return SendResult("sent", provider_id=str(body.biz_id or ""))

    async def _settle(self, rows: list[TemplateSend], outcome: SendResult) -> dict[str, SendResult]:
        ids = [r.id for r in rows]
        if outcome.status == "sent":
            await TemplateSend.filter(id__in=ids, state="reserved").update(state="accepted", biz_id=outcome.provider_id)
            return {r.phone: SendResult("sent", provider_id=r.provider_id) for r in rows}
        if outcome.error_code != "unclear":  # refused: nothing went out, nothing counts
            await TemplateSend.filter(id__in=ids).update(state="rejected", error_code=outcome.error_code)
            return {r.phone: outcome for r in rows}
        results: dict[str, SendResult] = {}
        for row in rows:  # the request may have gone through: ask the provider's send log
            found = await self._look_up(row)
            if found:
                await TemplateSend.filter(id=row.id, state="reserved").update(state="accepted")
                log.warning("send outcome unclear, found it at Alibaba Cloud", extra={"to": mask_phone(row.phone)})
                results[row.phone] = SendResult("sent", provider_id=row.provider_id)
            else:
                # Not in the log yet is not proof it was not sent: fail it with the reason, no resend.
                results[row.phone] = SendResult("failed", error_code="unknown", provider_id=row.provider_id,
                                                error=f"outcome unknown, not resent: {outcome.error}"[:500])
        return results

    async def _look_up(self, row: TemplateSend) -> dict[str, Any] | None:
        """The provider's send-log entry for this row (matched by our OutId), or None."""
        day = row.created_at.astimezone(CHINA).strftime("%Y%m%d")
        for item in await self.query_details(row.phone, day, row.biz_id):
            if item.get("OutId") == row.out_id:
                return item
        return None

    async def query_details(self, phone: str, day: str, biz_id: str | None = None) -> list[dict[str, Any]]:
        """QuerySendDetails for one number and day (first 50 entries); [] when the call fails."""
        request = sms_models.QuerySendDetailsRequest(phone_number=_digits(phone), send_date=day, page_size=50,
                                                     current_page=1, biz_id=biz_id or None)
        try:
            async with asyncio.timeout(self._config.aliyun.timeout + 2.0):
                response = await self._client.query_send_details_async(request)
        except (AlibabaCloudException, UnretryableException, TimeoutError) as exc:
            log.warning("QuerySendDetails failed: %s", exc)
            return []
        body = response.body
        if body.code != "OK" or body.sms_send_detail_dtos is None:
            log.warning("QuerySendDetails refused: %s %s", body.code, body.message)
            return []
        return [d.to_map() for d in body.sms_send_detail_dtos.sms_send_detail_dto or []]

    async def find_sent(self, address: str, body: str, since: datetime) -> tuple[str, str] | None:
        """(provider id, status) of a send of this text to `address` since `since`, from our own
        record of accepted sends or else the provider's send log: the dispatcher's crash check."""
        signature = self._config.sms.signature
        text = body[len(signature):] if signature and body.startswith(signature) else body
        rows = await TemplateSend.filter(provider=PROVIDER, phone=address, text_hash=_text_hash(text),
                                         created_at__gte=since).order_by("-id")
        for row in rows:
            if row.state in ("accepted", "delivered", "undelivered"):
                return row.provider_id or "", "sent"
            if row.state == "reserved" and await self._look_up(row) is not None:
                await TemplateSend.filter(id=row.id, state="reserved").update(state="accepted")
                return row.provider_id or "", "sent"
        return None


# --- receipts -----------------------------------------------------------------------------------

async def apply_receipt(app: web.Application, out_id: str, phone: str, delivered: bool, code: str | None,
                        wait: float = 2.0) -> str:
    """A delivery report (pushed SmsReport or pulled send log): 'applied', 'duplicate' or 'unknown'."""
    status = "delivered" if delivered else "undelivered"
    code = None if delivered else (code or "unknown")[:32]
    now = datetime.now(UTC)
    updated = await TemplateSend.filter(provider=PROVIDER, out_id=out_id, phone=phone,
                                        state__in=("reserved", "accepted")).update(
        state=status, error_code=code, reported_at=now)
    if not updated:
        if await TemplateSend.filter(provider=PROVIDER, out_id=out_id, phone=phone).exists():
            return "duplicate"  # the provider pushes again until it hears us; once is enough
        wait = 0.0  # not one of ours (a console test send, or older than KEEP): do not linger
    pid = provider_id(out_id, phone)
    deadline = time.monotonic() + wait
    while True:  # a receipt can beat the save of the send's result
        message = await Message.get_or_none(channel="sms", direction="out", provider_id=pid)
        if message is not None:
            await MessageEvent.create(message=message, status=status, error_code=code)
            lower = [s for s, rank in STATUS_RANK.items() if rank < STATUS_RANK[status]]
            await Message.filter(id=message.id, status__in=lower).update(
                status=status, error_code=code or message.error_code, updated_at=now)
            break
        if any([await listener("sms", pid, status, code) for listener in app[STATUS_LISTENERS]]):
            break
        if time.monotonic() >= deadline:
            log.warning("receipt for an unknown message", extra={"to": mask_phone(phone), "status": status})
            return "unknown"
        await asyncio.sleep(0.1)
    app[METRICS].outbound.labels("sms", f"callback_{status}").inc()
    log.info("delivery status", extra={"to": mask_phone(phone), "status": status, "error_code": code})
    return "applied"


async def pull_receipts(app: web.Application, limit: int = 200) -> int:
    """Ask QuerySendDetails about accepted sends without a receipt yet; returns receipts applied."""
    sender = _aliyun(app)
    now = datetime.now(UTC)
    rows = await (TemplateSend.filter(provider=PROVIDER, state="accepted", created_at__gte=now - PULL_WINDOW)
                  .order_by("id").limit(limit))
    groups: dict[tuple[str, str, str | None], list[TemplateSend]] = {}
    for row in rows:
        day = row.created_at.astimezone(CHINA).strftime("%Y%m%d")
        groups.setdefault((row.phone, day, row.biz_id), []).append(row)
    applied = 0
    for (phone, day, biz_id), members in groups.items():
        log_rows = {item.get("OutId"): item for item in await sender.query_details(phone, day, biz_id)}
        for row in members:
            item = log_rows.get(row.out_id)
            if item is None or int(item.get("SendStatus") or 1) == 1:  # 1: still waiting for the carrier
                continue
            delivered = int(item["SendStatus"]) == 3
            if await apply_receipt(app, row.out_id, row.phone, delivered, item.get("ErrCode"), wait=0) == "applied":
                applied += 1
    return applied


def _aliyun(app: web.Application) -> AliyunSender:
    sender = app[SENDERS]["sms"]
    return sender.domestic if isinstance(sender, SmsRouter) else sender  # type: ignore[no-any-return]


# --- push: SmsUp and SmsReport at a secret URL ----------------------------------------------------

def setup(app: web.Application) -> None:
    """Mount the push URL (only when a callback secret is configured: it is the only protection)."""
    if app[CONFIG].aliyun.callback_secret:
        logs.hide_secret(app[CONFIG].aliyun.callback_secret)  # wherever else it might be written
        app.router.add_route("*", CALLBACK_PATH, callback)


async def callback(request: web.Request) -> web.StreamResponse:
    app = request.app
    secret = app[CONFIG].aliyun.callback_secret
    if not hmac.compare_digest(request.match_info["secret"].encode(), secret.encode()):
        app[METRICS].inbound.labels("sms", "rejected_404").inc()
        raise web.HTTPNotFound()
    if request.method == "GET":  # the console's connectivity check
        return web.json_response(PING_ACK)
    if request.method != "POST":
        raise web.HTTPMethodNotAllowed(request.method, ["GET", "POST"])
    try:  # the API's JSON reader: size, nesting depth and numbers checked (bot/web/params.py)
        items = web_params.loads(await request.read(), what="push")
    except web_params.Invalid as bad:
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
        await asyncio.wait_for(asyncio.shield(stored), app[CONFIG].aliyun.push_budget)
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
    request.app[METRICS].inbound.labels("sms", "rejected_400").inc()
    log.warning("aliyun push rejected: %s", why)
    return web.json_response({"code": 1, "msg": why}, status=400)


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
    for row in sorted(rows, key=lambda r: (r.kind != "report", r.id)):
        try:
            if not await intake.still_held(row):
                continue  # held past its lease, and a sweep took it: the sweep does it
            if row.kind == "report":
                await _receipt(app, row.payload)
            else:
                answer = await _inbound(app, row.payload)
                if answer is not None:
                    answers.append((row, answer))
                    continue
            await intake.done(row)
        except (asyncio.CancelledError, KeyboardInterrupt):
            raise
        except Exception as exc:  # this row waits for a later sweep; the others go on
            log.exception("pushed item not processed", extra={"item": row.id})
            await intake.failed(row, f"{type(exc).__name__}: {exc}")

    async def answer(row: PushItem, message: Message) -> None:
        try:
            await _answer(app, message)
            await intake.done(row)
        except Exception as exc:
            log.exception("answer not delivered", extra={"message_id": message.id})
            await intake.failed(row, f"{type(exc).__name__}: {exc}")

    await asyncio.gather(*(answer(row, message) for row, message in answers))


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
        found = await reconcile(sender, row.address, app[CONFIG].sms.signature + row.body,
                                row.updated_at - timedelta(minutes=5))
        if found is not None:
            await Message.filter(id=row.id).update(status=found.status, provider_id=found.provider_id,
                                                   updated_at=datetime.now(UTC))
            return
    row.status = "sending"
    await row.save(update_fields=["status", "updated_at"])
    await outbox.deliver(app, row)


# --- lifecycle ------------------------------------------------------------------------------------

def make_client(config: Config) -> Client:
    a = config.aliyun
    millis = int(a.timeout * 1000)
    return Client(api_models.Config(access_key_id=a.access_key_id, access_key_secret=a.access_key_secret,
                                    endpoint=a.endpoint, protocol=a.protocol, connect_timeout=millis,
                                    read_timeout=millis))


async def sender_ctx(app: web.Application) -> AsyncIterator[None]:
    """Put the router in place: +86 numbers to Alibaba Cloud, the rest to Twilio when it is configured."""
    config = app[CONFIG]
    domestic = AliyunSender(config, make_client(config))
    other = app[SENDERS]["sms"] if config.twilio.account_sid else None
    app[SENDERS]["sms"] = SmsRouter(domestic, other)
    app[TASKS] = set()
    try:
        yield
    finally:
        await _drain(app[TASKS])


async def _drain(tasks: Iterable[asyncio.Task[None]], wait: float = 10.0) -> None:
    pending = list(tasks)
    if not pending:
        return
    _, late = await asyncio.wait(pending, timeout=wait)
    for task in late:
        task.cancel()
    for task in late:
        with contextlib.suppress(asyncio.CancelledError):
            await task


async def upkeep_ctx(app: web.Application) -> AsyncIterator[None]:
    """Worker side: pull receipts (if configured) and forget sends older than three days."""
    config = app[CONFIG]

    async def loop() -> None:
        last_prune = 0.0
        while True:
            try:
                if config.aliyun.pull_receipts:
                    await pull_receipts(app)
                if time.monotonic() - last_prune > 3600:
                    await TemplateSend.filter(created_at__lt=datetime.now(UTC) - KEEP).delete()
                    last_prune = time.monotonic()
            except asyncio.CancelledError:
                raise
            except Exception:  # the database or the provider went away for a moment
                log.exception("aliyun upkeep failed")
            await asyncio.sleep(config.aliyun.pull_seconds)

    async with background.running(loop()):
        yield
