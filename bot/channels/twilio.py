"""Twilio SMS: signed webhooks in (texts and delivery states) and sends out through the official SDK."""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import hmac
import logging
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote
from xml.sax.saxutils import escape

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
from bot.channels import status as reports
from bot.channels.base import BaseChannel, CleanupCtx, LookupFailed, SendResult
from bot.channels.webhooks import read_body, reject
from bot.config import Config, ConfigError, require, require_url
from bot.keys import CONFIG, SENDERS
from bot.messages import InboundMessage
from bot.models import Subscriber
from bot.phones import mask_phone
from bot.sms import MAX_CHARS
from bot.textnorm import keyword_form

log = logging.getLogger("nongbot.twilio")

SMS_PATH = "/webhooks/twilio/sms"
STATUS_PATH = "/webhooks/twilio/status"
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
# What MessagingResponse().message(text) writes (tests/channels/test_twilio.py checks they agree),
# without building an element tree per reply.
TWIML_MESSAGE = '<?xml version="1.0" encoding="UTF-8"?><Response><Message>{}</Message></Response>'


@dataclass(frozen=True)
class TwilioConfig:
    """[twilio]: the account, the sender number or messaging service, and where the API is."""

    account_sid: str = ""
    auth_token: str = field(default="", repr=False)
    from_number: str = ""
    messaging_service_sid: str = ""
    api_base: str = "https://api.twilio.com"
    timeout: float = 10.0


def settings(config: Config) -> TwilioConfig:
    return config.section(TwilioConfig)


class TwilioChannel(BaseChannel):
    name = "twilio"
    section = "twilio"
    settings = TwilioConfig

    def enabled(self, config: Config) -> bool:
        # Next to Alibaba Cloud (mainland numbers only) when an account is set: numbers abroad.
        provider = config.sms.provider
        return provider == "twilio" or (provider == "aliyun" and bool(settings(config).account_sid))

    def check(self, config: Config) -> None:
        t = settings(config)
        if t.timeout <= 0:
            raise ConfigError(f"twilio.timeout: expected a positive number of seconds, got {t.timeout}")
        if not self.enabled(config):
            return
        require_url("twilio.api_base", t.api_base)
        require("twilio.account_sid", t.account_sid, "NONGBOT_TWILIO_ACCOUNT_SID")
        require("twilio.auth_token", t.auth_token, "NONGBOT_TWILIO_AUTH_TOKEN")
        if not (t.from_number or t.messaging_service_sid):
            raise ConfigError("twilio.from_number: expected from_number or messaging_service_sid "
                              "when Twilio sends (sms.provider = \"twilio\", or twilio.account_sid is set)")

    def setup(self, app: web.Application) -> None:
        app.router.add_post(SMS_PATH, inbound_sms)
        app.router.add_post(STATUS_PATH, status_callback)

    def contexts(self, app: web.Application) -> Sequence[CleanupCtx]:
        return (sender_ctx,)


CHANNEL = TwilioChannel()


class TwilioSender:
    channel = "sms"
    provider = "twilio"

    def __init__(self, config: Config, client: Client) -> None:
        self._config = config
        self._client = client
        self._settings = t = settings(config)
        self._callback = config.server.public_url.rstrip("/") + STATUS_PATH
        self._origin = {"messaging_service_sid": t.messaging_service_sid} if t.messaging_service_sid \
            else {"from_": t.from_number}

    async def send(self, address: str, text: str, *, kind: str = "") -> SendResult:
        body = self._config.sms.signature + text
        if len(body) > MAX_CHARS:
            return SendResult("failed", error=f"text too long ({len(body)} > {MAX_CHARS} characters)")
        started = datetime.now(UTC)
        try:
            async with asyncio.timeout(self._settings.timeout):
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
        try:
            existing = await self.find_sent(address, body, started)
        except LookupFailed:
            existing = None  # still in doubt: whoever retries looks again before sending
        if existing is not None:
            log.warning("send outcome unclear, found it at Twilio", extra={"sid": existing[0], "why": doubt})
            return SendResult(existing[1], provider_id=existing[0])
        return SendResult("failed", error_code=code, error=doubt, retryable=True, in_doubt=True)

    async def find_sent(self, address: str, body: str, since: datetime) -> tuple[str, str] | None:
        """(sid, status) of a message with this body sent to `address` since `since`, per Twilio's log."""
        try:
            async with asyncio.timeout(self._settings.timeout):
                recent = await self._client.messages.list_async(to=address, limit=20)
        except (TimeoutError, aiohttp.ClientError, TwilioException) as exc:
            raise LookupFailed(f"Twilio's message log did not answer ({type(exc).__name__})") from exc
        for message in recent:
            created = message.date_created
            if message.body == body and (created is None or created >= since - timedelta(minutes=2)):
                return message.sid or "", message.status or "queued"
        return None


def _classify(exc: TwilioRestException) -> SendResult:
    code = exc.code if isinstance(exc.code, int) else exc.status
    retryable = exc.status == 429 or exc.status >= 500 or code in RETRYABLE_CODES
    return SendResult("failed", error_code=str(code), error=str(exc.msg)[:500], retryable=retryable)


async def sender_ctx(app: web.Application) -> AsyncIterator[None]:
    """Put the Twilio sender in place of the log provider."""
    config = app[CONFIG]
    t = settings(config)
    http = AsyncTwilioHttpClient()  # needs a running loop: built here, closed below
    client = Client(t.account_sid, t.auth_token, http_client=http)
    client.api.base_url = t.api_base.rstrip("/")
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
    raw = await read_body(request)
    if raw is None:
        return _reject(request, 400, "body too large")
    try:
        pairs = form_pairs(raw.decode("ascii"))
    except (UnicodeDecodeError, ValueError):
        return _reject(request, 400, "not a UTF-8 form")
    url = config.server.public_url.rstrip("/") + request.path_qs
    if not _signed(settings(config).auth_token, url, pairs, signature):
        return _reject(request, 403, "bad signature")
    form = MultiDict(pairs)
    # Signed, but no SID, status or error code Twilio sends is this long (nor the columns they go in).
    if bad := [k for k, most in FIELD_LIMITS.items() if len(form.get(k, "")) > most or "\x00" in form.get(k, "")]:
        return _reject(request, 400, f"bad {', '.join(bad)}")
    return form


def form_pairs(body: str) -> list[tuple[str, str]]:
    """A form body's fields, as parse_qsl(body, keep_blank_values=True, errors="strict") reads them (a
    test holds them to it), without unquoting the many fields that need none."""
    pairs = []
    for part in body.split("&"):
        if not part:
            continue
        name, _, value = part.partition("=")
        if "%" in name or "+" in name:
            name = unquote(name.replace("+", " "), errors="strict")
        if "%" in value or "+" in value:
            value = unquote(value.replace("+", " "), errors="strict")
        pairs.append((name, value))
    return pairs


def _signed(token: str, url: str, pairs: list[tuple[str, str]], signature: str) -> bool:
    """Twilio's signature check. Twilio signs the URL it requested, ours: one HMAC over it settles
    nearly every request; anything else (the URL with or without its port, a JSON body's hash, another
    algorithm) goes to the SDK's full check, which computes several."""
    if "bodySHA256" not in url and hmac.compare_digest(signature_of(token, url, pairs).encode(),
                                                       signature.encode()):
        return True
    return bool(_validator(token).validate(url, MultiDict(pairs), signature))


def signature_of(token: str, url: str, pairs: list[tuple[str, str]]) -> str:
    """What RequestValidator(token).compute_signature(url, form) gives (HMAC-SHA1 over the URL and each
    name and value, sorted, a repeated pair once; a test holds them to it), with the key prepared once."""
    values: dict[str, set[str]] = {}
    for name, value in pairs:
        values.setdefault(name, set()).add(value)
    signed = url + "".join(name + value for name in sorted(values) for value in sorted(values[name]))
    mac = _hmac(token).copy()
    mac.update(signed.encode("utf-8"))
    return base64.b64encode(mac.digest()).decode("ascii")


@functools.lru_cache(maxsize=4)
def _hmac(token: str) -> hmac.HMAC:
    return hmac.new(token.encode("utf-8"), digestmod=hashlib.sha1)


@functools.lru_cache(maxsize=4)
def _validator(token: str) -> RequestValidator:
    return RequestValidator(token)


def twiml_message(text: str) -> str:
    if not text:  # the SDK writes <Message />
        response = MessagingResponse()
        response.message(text)
        return str(response)
    return TWIML_MESSAGE.format(escape(text))


def _reject(request: web.Request, status: int, why: str) -> web.Response:
    return reject(request, "sms", status, why, log)


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
    return _twiml(twiml_message(request.app[CONFIG].sms.signature + outcome.reply.text))


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
        message = await reports.outbound(request.app, "sms", sid, status, code, wait=2.0)
        if message is False:
            log.warning("status for an unknown message", extra={"sid": sid, "status": status})
        if isinstance(message, bool):
            return web.Response(text="")
        await reports.advance(request.app, message, status, code, STATUS_RANK)
        if code == OPTED_OUT and message.subscriber_id:
            subscriber = await Subscriber.get(id=message.subscriber_id)
            await consent.opt_out(subscriber, "sms", "twilio:21610")
    except BaseORMException as exc:
        log.error("status not recorded: %s", exc)
        return web.Response(status=503, text="try again")
    log.info("delivery status", extra={"message_id": message.id, "status": status, "error_code": code,
                                       "to": mask_phone(message.address)})
    return web.Response(text="")
