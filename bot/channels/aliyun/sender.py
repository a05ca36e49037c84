"""Alibaba Cloud SMS sends: template texts through the official SDK (SendSms, SendBatchSms), each
outcome classified, an unclear one looked up in the provider's send log (QuerySendDetails)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from alibabacloud_dysmsapi20170525 import models as sms_models
from alibabacloud_dysmsapi20170525.client import Client
from alibabacloud_tea_openapi import models as api_models
from alibabacloud_tea_openapi.exceptions import AlibabaCloudException, ThrottlingException
from darabonba.exceptions import UnretryableException

from bot.channels.base import SendResult
from bot.channels.smsroute import DOMESTIC_PREFIX
from bot.channels.templates import Template, TemplateError
from bot.config import Config
from bot.models import TemplateSend
from bot.phones import mask_phone

from . import ledger
from .settings import KINDS, PROVIDER, settings

log = logging.getLogger("nongbot.aliyun")

MAX_NUMBERS = 1000  # SendSms: one text, up to 1,000 numbers
MAX_BATCH = 100  # SendBatchSms: a text per number, up to 100
CHINA = ZoneInfo("Asia/Shanghai")  # SendDate of QuerySendDetails is the provider's calendar day
# Not accepted now, but may be later: per-number flow control, our own console caps, balance.
RETRYABLE = {"isv.BUSINESS_LIMIT_CONTROL", "isv.DAY_LIMIT_CONTROL", "isv.MONTH_LIMIT_CONTROL",
             "isv.AMOUNT_NOT_ENOUGH", "isv.OUT_OF_SERVICE", "Throttling", "Throttling.User", "Throttling.Api"}
# The provider may or may not have sent it: never sent again without looking first.
UNCLEAR = {"isp.SYSTEM_ERROR", "InternalError", "ServiceUnavailable"}


def make_client(config: Config) -> Client:
    a = settings(config)
    millis = int(a.timeout * 1000)
    return Client(api_models.Config(access_key_id=a.access_key_id, access_key_secret=a.access_key_secret,
                                    endpoint=a.endpoint, protocol=a.protocol, connect_timeout=millis,
                                    read_timeout=millis))


class AliyunSender:
    channel = "sms"
    provider = PROVIDER

    def __init__(self, config: Config, client: Client) -> None:
        self._config = config
        self._client = client
        self._settings = a = settings(config)
        self._templates = {kind: Template.parse(a.template(kind)) for kind in KINDS if a.template(kind)}
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
        return template, template.fill(text, self._settings.var_chars)

    async def send(self, address: str, text: str, *, kind: str = "") -> SendResult:
        return (await self.send_many([address], text, kind=kind))[address]

    def batchable(self, address: str) -> bool:
        """send_many takes mainland numbers (others are refused one by one, with the reason)."""
        return address.startswith(DOMESTIC_PREFIX)

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

    async def _request(self, items: list[tuple[str, dict[str, str]]], template: Template,
                       text: str) -> dict[str, SendResult]:
        out_id = uuid.uuid4().hex[:20]
        rows, results = await ledger.reserve_all([a for a, _ in items], template, out_id, [text] * len(items),
                                                 self._settings.daily_limit)
        if not rows:
            return results
        params = items[0][1]
        request = sms_models.SendSmsRequest(
            phone_numbers=",".join(ledger.digits(r.phone) for r in rows), sign_name=self._settings.sign_name,
            template_code=template.code, template_param=json.dumps(params, ensure_ascii=False), out_id=out_id)
        outcome = await self._call(self._client.send_sms_async, request)
        results.update(await self._settle(rows, outcome))
        return results

    async def _batch_request(self, chunk: list[tuple[int, str, dict[str, str], str]],
                             template: Template) -> list[SendResult]:
        out_id = uuid.uuid4().hex[:20]
        rows, refused = await ledger.reserve_all([a for _, a, _, _ in chunk], template, out_id,
                                                [t for _, _, _, t in chunk], self._settings.daily_limit)
        by_phone = {r.phone: r for r in rows}
        kept = [(a, p) for _, a, p, _ in chunk if a in by_phone]
        settled: dict[str, SendResult] = {}
        if kept:
            request = sms_models.SendBatchSmsRequest(
                phone_number_json=json.dumps([ledger.digits(a) for a, _ in kept]),
                sign_name_json=json.dumps([self._settings.sign_name] * len(kept), ensure_ascii=False),
                template_code=template.code, out_id=out_id,
                template_param_json=json.dumps([p for _, p in kept], ensure_ascii=False))
            outcome = await self._call(self._client.send_batch_sms_async, request)
            settled = await self._settle([by_phone[a] for a, _ in kept], outcome)
        return [settled.get(a) or refused.get(a) or SendResult("failed", error="duplicate number in batch")
                for _, a, _, _ in chunk]

    async def _call(self, method: Any, request: Any) -> SendResult:
        """One SDK call, classified. The SDK makes one attempt (no retry_options): SendSms is not
        idempotent, and an unclear outcome is looked up, never blindly repeated."""
        try:
            async with asyncio.timeout(self._settings.timeout + 2.0):
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
        request = sms_models.QuerySendDetailsRequest(phone_number=ledger.digits(phone), send_date=day, page_size=50,
                                                     current_page=1, biz_id=biz_id or None)
        try:
            async with asyncio.timeout(self._settings.timeout + 2.0):
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
        rows = await TemplateSend.filter(provider=PROVIDER, phone=address, text_hash=ledger.text_hash(text),
                                         created_at__gte=since).order_by("-id")
        for row in rows:
            if row.state in ("accepted", "delivered", "undelivered"):
                return row.provider_id or "", "sent"
            if row.state == "reserved" and await self._look_up(row) is not None:
                await TemplateSend.filter(id=row.id, state="reserved").update(state="accepted")
                return row.provider_id or "", "sent"
        return None
