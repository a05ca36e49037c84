"""Texts out to one openid: a customer-service text inside the 48-hour window, else a template message."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.expressions import F

from bot.channels.base import SendResult
from bot.config import Config
from bot.models import Subscriber

from .client import WechatApi, WechatError
from .settings import settings
from .tokens import TokenStore

log = logging.getLogger("nongbot.wechat")

MAX_TEXT_BYTES = 2048  # passive and customer-service text limit (community-measured, protocols §1.7)
SERVICE_WINDOW = timedelta(hours=48)  # customer-service texts are allowed this long after a message…
CS_QUOTA = 5  # …and this many of them
TOKEN_ERRORS = {40001, 40014, 42001}  # the token was rejected: renew it once
WINDOW_ERRORS = {45015, 45047}  # outside the 48-hour window, or its quota used: use a template
NOT_FOLLOWING = 43004
# Broadcast kind → thing1 of the template message (see template_data).
KIND_LABELS = {"tip": "农技提示", "price": "市场价格", "labour": "务工信息", "notice": "通知"}


class WechatSender:
    """Pushes a text to one openid: a customer-service text while WeChat allows one (48 hours after
    the person's last message, 5 texts), else a template message; the token is renewed once."""

    channel = "wechat"
    provider = "wechat"

    def __init__(self, config: Config, api: WechatApi, tokens: TokenStore) -> None:
        self._config = config
        self._api = api
        self.tokens = tokens

    async def send(self, address: str, text: str, *, kind: str = "") -> SendResult:
        """`kind` (tip, price, labour, notice) picks the template used outside the window."""
        text = fit_bytes(text, MAX_TEXT_BYTES)
        subscriber = await Subscriber.get_or_none(wechat_openid=address)
        if subscriber is not None and not subscriber.wechat_followed:
            return SendResult("failed", error_code=str(NOT_FOLLOWING), error="not following the account")
        try:
            if subscriber is not None and await self._customer_service(subscriber, address, text):
                return SendResult("sent")
            msgid = await self._template(address, text, kind)
        except WechatError as exc:
            if exc.code == NOT_FOLLOWING and subscriber is not None:
                await Subscriber.filter(id=subscriber.id).update(wechat_followed=False)
            code = str(exc.code) if exc.code is not None else None
            return SendResult("failed", error_code=code, error=str(exc)[:500], retryable=exc.retryable)
        # Prefixed: a template msgid and an inbound MsgId could be equal, and (channel, provider_id) is unique.
        return SendResult("sent", provider_id=f"tmpl:{msgid}" if msgid is not None else None)

    async def _customer_service(self, subscriber: Subscriber, address: str, text: str) -> bool:
        """True when sent; False when the window is closed or its quota used up (by our count or WeChat's)."""
        opened = subscriber.last_inbound_at
        if opened is None or datetime.now(UTC) - opened >= SERVICE_WINDOW:
            return False
        # Take one of the window's texts atomically, so concurrent sends cannot overdraw it.
        if not await Subscriber.filter(id=subscriber.id, wechat_cs_sent__lt=CS_QUOTA).update(
                wechat_cs_sent=F("wechat_cs_sent") + 1):
            return False
        try:
            await self.call("message/custom/send", {"touser": address, "msgtype": "text", "text": {"content": text}})
        except WechatError as exc:
            if exc.code in WINDOW_ERRORS:
                # WeChat says none are left until they write again, whatever our count says.
                await Subscriber.filter(id=subscriber.id).update(wechat_cs_sent=CS_QUOTA)
                log.info("customer-service window closed, sending a template message",
                         extra={"errcode": exc.code, "to": address[:6] + "…"})
                return False
            await Subscriber.filter(id=subscriber.id, wechat_cs_sent__gt=0).update(
                wechat_cs_sent=F("wechat_cs_sent") - 1)
            raise
        return True

    async def _template(self, address: str, text: str, kind: str) -> Any:
        kind = kind if kind in KIND_LABELS else "notice"
        wechat = settings(self._config)
        template_id = getattr(wechat, f"template_{kind}") or wechat.template_notice
        if not template_id:
            raise WechatError("no_template", f"outside the customer-service window and no template id "
                                             f"configured (wechat.template_{kind} or wechat.template_notice)")
        when = datetime.now(self._config.tz)
        payload = await self.call("message/template/send", {
            "touser": address, "template_id": template_id, "data": template_data(kind, text, when)})
        return payload.get("msgid")

    async def call(self, path: str, body: dict[str, Any]) -> dict[str, Any]:
        """POST with the shared token; a rejected token is renewed once, never in a loop."""
        token = await self.tokens.get()
        try:
            return await self._api.call("POST", path, params={"access_token": token}, body=body)
        except WechatError as exc:
            if exc.code not in TOKEN_ERRORS:
                raise
            log.warning("access token rejected (%s), renewing it once", exc.code)
        token = await self.tokens.renew(token)
        try:
            return await self._api.call("POST", path, params={"access_token": token}, body=body)
        except WechatError as exc:
            if exc.code in TOKEN_ERRORS:
                raise WechatError(exc.code, f"{exc.detail} (again after renewing the token)") from exc
            raise


def template_data(kind: str, text: str, when: datetime) -> dict[str, dict[str, str]]:
    """The fixed field mapping every configured template must have: thing1 = the kind of message,
    thing2 = the text's opening (WeChat shows at most 20 characters), time3 = when it was sent."""
    flat = " ".join(text.split())
    opening = flat if len(flat) <= 20 else flat[:19] + "…"
    return {"thing1": {"value": KIND_LABELS.get(kind, KIND_LABELS["notice"])},
            "thing2": {"value": opening},
            "time3": {"value": when.strftime("%Y-%m-%d %H:%M")}}


def fit_bytes(text: str, limit: int) -> str:
    """Cut to `limit` UTF-8 bytes at a character boundary, marking the cut with "…"."""
    if len(text.encode()) <= limit:
        return text
    cut = text.encode()[: limit - len("…".encode())].decode(errors="ignore")
    return cut + "…"
