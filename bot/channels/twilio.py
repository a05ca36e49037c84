"""Twilio SMS: signed webhooks in (texts and delivery states) and sends out through the official SDK."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from urllib.parse import parse_qsl

import aiohttp
from aiohttp import web
from multidict import MultiDict
from tortoise.exceptions import BaseORMException
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.http.async_http_client import AsyncTwilioHttpClient
from twilio.request_validator import RequestValidator
from twilio.rest import Client
from twilio.twiml.messaging_response import MessagingResponse

from bot import consent, inbox
from bot.channels import SendResult
from bot.config import Config
from bot.keys import CONFIG, METRICS, SENDERS, STATUS_LISTENERS
from bot.messages import InboundMessage
from bot.models import Message, MessageEvent, Subscriber
from bot.phones import mask_phone
from bot.sms import MAX_CHARS
from bot.textnorm import keyword_form

log = logging.getLogger("nongbot.twilio")

SMS_PATH = "/webhooks/twilio/sms"
STATUS_PATH = "/webhooks/twilio/status"
MAX_BODY = 64 * 1024
# The longest value each field may have (the columns they are kept in: Message.provider_id, address,
# status, error_code); a signed request with a longer one is refused with 400, never retried.
FIELD_LIMITS = {"MessageSid": 64, "SmsSid": 64, "From": 64, "MessageStatus": 24, "SmsStatus": 24, "ErrorCode": 32}
# Twilio itself answers these on long codes (and blocks the pair after STOP); a reply of ours
# would be dropped or doubled, so we answer them with an empty <Response/> after acting on them.
TWILIO_KEYWORDS = {"stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout",
                   "start", "unstop", "yes", "help", "info"}
# Most final first wins: a late "sent" never overwrites "delivered".
STATUS_RANK = {"accepted": 0, "scheduled": 0, "queued": 1, "sending": 2, "sent": 3, "receiving": 3,
               "received": 3, "partially_delivered": 4, "undelivered": 5, "failed": 5, "canceled": 5,
               "delivered": 6, "read": 7}
OPTED_OUT = "21610"
RETRYABLE_CODES = {20429, 20500, 20503, 30001}
EMPTY_TWIML = str(MessagingResponse())


class TwilioSender:
    channel = "sms"
    provider = "twilio"

    def __init__(self, config: Config, client: Client) -> None:
        self._config = config
        self._client = client
        self._callback = config.server.public_url.rstrip("/") + STATUS_PATH
        self._origin = (
            {"messaging_service_sid": config.twilio.messaging_service_sid}
            if config.twilio.messaging_service_sid else {"from_": config.twilio.from_number}
        )

    async def send(self, address: str, text: str, *, kind: str = "") -> SendResult:
        body = self._config.sms.signature + text
        if len(body) > MAX_CHARS:
            return SendResult("failed", error=f"text too long ({len(body)} > {MAX_CHARS} characters)")
        started = datetime.now(UTC)
        try:
            async with asyncio.timeout(self._config.twilio.timeout):
                created = await self._client.messages.create_async(
                    to=address, body=body, status_callback=self._callback, **self._origin
                )
        except TwilioRestException as exc:
            if exc.status < 500:  # a 4xx proves Twilio refused it: nothing was created
                return _classify(exc)
            # A 5xx does not: Twilio can fail after writing the message (240 of 240 doubled otherwise).
            doubt = f"Twilio answered {exc.status} ({exc.code or 'no code'})"
            code = str(exc.code) if isinstance(exc.code, int) else str(exc.status)
        except aiohttp.ClientConnectorError as exc:  # no connection was made: nothing was sent
            return SendResult("failed", error=f"no answer from Twilio (cannot connect: {type(exc).__name__})",
                              retryable=True)
        except (TimeoutError, aiohttp.ClientError) as exc:  # sent, but no answer (timeout, reset, closed)
            doubt = f"no answer from Twilio ({'timeout' if isinstance(exc, TimeoutError) else type(exc).__name__})"
            code = None
        else:
            return SendResult(created.status or "queued", provider_id=created.sid)
        # The request may have created the message: look before anyone sends it again.
        existing = await self.find_sent(address, body, started)
        if existing is not None:
            log.warning("send outcome unclear, found it at Twilio", extra={"sid": existing[0], "why": doubt})
            return SendResult(existing[1], provider_id=existing[0])
        return SendResult("failed", error_code=code, error=doubt, retryable=True, in_doubt=True)

    async def find_sent(self, address: str, body: str, since: datetime) -> tuple[str, str] | None:
        """(sid, status) of a message with this body sent to `address` since `since`, per Twilio's log."""
        try:
            async with asyncio.timeout(self._config.twilio.timeout):
                recent = await self._client.messages.list_async(to=address, limit=20)
        except (TimeoutError, aiohttp.ClientError, TwilioException):
            return None
        for message in recent:
            created = message.date_created
            if message.body == body and (created is None or created >= since - timedelta(minutes=2)):
                return message.sid or "", message.status or "queued"
        return None


def _classify(exc: TwilioRestException) -> SendResult:
    code = exc.code if isinstance(exc.code, int) else exc.status
    retryable = exc.status == 429 or exc.status >= 500 or code in RETRYABLE_CODES
    return SendResult("failed", error_code=str(code), error=str(exc.msg)[:500], retryable=retryable)


def setup(app: web.Application) -> None:
    """Mount the webhooks and put the Twilio sender in place of the log provider."""
    app.router.add_post(SMS_PATH, inbound_sms)
    app.router.add_post(STATUS_PATH, status_callback)


async def sender_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    http = AsyncTwilioHttpClient()  # needs a running loop: built here, closed below
    client = Client(config.twilio.account_sid, config.twilio.auth_token, http_client=http)
    client.api.base_url = config.twilio.api_base.rstrip("/")
    app[SENDERS]["sms"] = TwilioSender(config, client)
    try:
        yield
    finally:
        await http.close()


async def _signed_form(request: web.Request) -> MultiDict[str] | web.Response:
    """The form fields, or the 4xx to answer: nothing is stored before this passes."""
    config = request.app[CONFIG]
    signature = request.headers.get("X-Twilio-Signature", "")
    if not signature:
        return _reject(request, 403, "missing signature")
    if request.content_length is not None and request.content_length > MAX_BODY:
        return _reject(request, 400, "body too large")
    raw = b""
    while len(raw) <= MAX_BODY:
        chunk = await request.content.read(MAX_BODY + 1 - len(raw))
        if not chunk:
            break
        raw += chunk
    if len(raw) > MAX_BODY:
        return _reject(request, 400, "body too large")
    try:
        form = MultiDict(parse_qsl(raw.decode("ascii"), keep_blank_values=True, errors="strict"))
    except (UnicodeDecodeError, ValueError):
        return _reject(request, 400, "not a UTF-8 form")
    url = config.server.public_url.rstrip("/") + request.path_qs
    if not RequestValidator(config.twilio.auth_token).validate(url, form, signature):
        return _reject(request, 403, "bad signature")
    # Signed, but no SID, status or error code Twilio sends is this long (nor the columns they go in).
    if bad := [k for k, most in FIELD_LIMITS.items() if len(form.get(k, "")) > most or "\x00" in form.get(k, "")]:
        return _reject(request, 400, f"bad {', '.join(bad)}")
    return form


def _reject(request: web.Request, status: int, why: str) -> web.Response:
    request.app[METRICS].inbound.labels("sms", f"rejected_{status}").inc()
    log.warning("twilio webhook rejected: %s", why, extra={"path": request.path, "status": status})
    return web.Response(status=status, text=why)


def _twiml(text: str) -> web.Response:
    return web.Response(text=text, content_type="text/xml", charset="utf-8")


async def inbound_sms(request: web.Request) -> web.Response:
    form = await _signed_form(request)
    if isinstance(form, web.Response):
        return form
    missing = [k for k in ("MessageSid", "From", "Body") if k not in form]
    if missing:
        return _reject(request, 400, f"missing {', '.join(missing)}")
    msg = InboundMessage(channel="sms", provider="twilio", address=form["From"], text=form["Body"],
                         provider_id=form["MessageSid"])
    try:
        outcome = await inbox.process(request.app, msg)
    except inbox.InboxUnavailable:
        return web.Response(status=503, text="try again")  # Twilio retries; nothing was lost
    if outcome.reply is None or keyword_form(form["Body"]) in TWILIO_KEYWORDS:
        return _twiml(EMPTY_TWIML)
    response = MessagingResponse()
    response.message(request.app[CONFIG].sms.signature + outcome.reply.text)
    return _twiml(str(response))


async def status_callback(request: web.Request) -> web.Response:
    form = await _signed_form(request)
    if isinstance(form, web.Response):
        return form
    sid = form.get("MessageSid")
    status = (form.get("MessageStatus") or form.get("SmsStatus") or "").lower()
    if not sid or not status:
        return _reject(request, 400, "missing MessageSid or MessageStatus")
    code = form.get("ErrorCode") or None
    try:
        message = await _outbound(request.app, sid, status, code)
        if message is None:
            return web.Response(text="")
        await MessageEvent.create(message=message, status=status[:24], error_code=code)
        lower = [s for s, rank in STATUS_RANK.items() if rank < STATUS_RANK.get(status, -1)]
        # One conditional UPDATE: concurrent or out-of-order callbacks cannot step backwards.
        await Message.filter(id=message.id, status__in=lower).update(
            status=status, error_code=code or message.error_code, updated_at=datetime.now(UTC)
        )
        if code == OPTED_OUT and message.subscriber_id:
            subscriber = await Subscriber.get(id=message.subscriber_id)
            await consent.opt_out(subscriber, "sms", "twilio:21610")
    except BaseORMException as exc:
        log.error("status not recorded: %s", exc)
        return web.Response(status=503, text="try again")
    request.app[METRICS].outbound.labels("sms", f"callback_{status}").inc()
    log.info("delivery status", extra={"message_id": message.id, "status": status, "error_code": code,
                                       "to": mask_phone(message.address)})
    return web.Response(text="")


async def _outbound(app: web.Application, sid: str, status: str, code: str | None,
                    wait: float = 2.0) -> Message | None:
    """The logged message a callback is about, or None when another listener (a broadcast
    delivery) took it. A callback can beat the save of the sid, so wait briefly."""
    deadline = time.monotonic() + wait
    while True:
        message = await Message.get_or_none(channel="sms", direction="out", provider_id=sid)
        if message is not None:
            return message
        for listener in app[STATUS_LISTENERS]:
            if await listener("sms", sid, status, code):
                return None
        if time.monotonic() >= deadline:
            log.warning("status for an unknown message", extra={"sid": sid, "status": status})
            return None
        await asyncio.sleep(0.1)
