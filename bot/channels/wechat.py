"""WeChat Official Account: verified, decrypted webhooks in; customer-service or template texts out."""

from __future__ import annotations

import asyncio
import collections
import contextlib
import hashlib
import hmac
import json
import logging
import re
import secrets
import time
import zlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import wechatpy
from aiohttp import web
from tortoise.exceptions import BaseORMException, IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction
from wechatpy import events as wx_events
from wechatpy import messages as wx_messages
from wechatpy.crypto import WeChatCrypto
from wechatpy.exceptions import InvalidAppIdException, InvalidSignatureException
from wechatpy.replies import TextReply

from bot import background, consent, db, inbox, intake, outbox
from bot.channels import SendResult
from bot.config import Config, WechatConfig
from bot.keys import CONFIG, METRICS, SENDERS, STATUS_LISTENERS
from bot.messages import InboundMessage
from bot.models import AccessToken, Message, MessageEvent, PushItem, SeenNonce, Subscriber

log = logging.getLogger("nongbot.wechat")

PATH = "/webhooks/wechat"
MAX_BODY = 64 * 1024  # WeChat's pushes are a few KB
MAX_TEXT_BYTES = 2048  # passive and customer-service text limit (community-measured, protocols §1.7)
SERVICE_WINDOW = timedelta(hours=48)  # customer-service texts are allowed this long after a message…
CS_QUOTA = 5  # …and this many of them
TOKEN_AHEAD = 300  # s: stable_token hands out a new token only in the old one's last 5 minutes
FORCED_GAP = 30  # s: stable_token's force_refresh needs 30 s between calls (and 20 a day)
TOKEN_ERRORS = {40001, 40014, 42001}  # the token was rejected: renew it once
WINDOW_ERRORS = {45015, 45047}  # outside the 48-hour window, or its quota used: use a template
RETRYABLE = {-1, 45009, 45011}  # system busy, API quota: worth another try later
NOT_FOLLOWING = 43004
DRAIN = 10.0  # s that shutdown waits for answers still going out by customer-service message
# Answers worked out at once. Under overload more would only lengthen every turn of the event loop,
# and with it every request's time to "success"; the others wait their turn (see Slots).
WORKERS = 16
# A message whose answer cannot start this share of the reply budget (0.5 of 4 s) before its deadline
# is deferred at once.
MIN_WORK = 0.125
LOCK_BASE = 0x7778 << 32  # PostgreSQL advisory lock namespace for token renewal ("wx")
PRUNE_SECONDS = 60.0  # how often each web process forgets (timestamp, nonce) pairs too old to pass

# Menu click keys → the text a click stands for, so the same handlers answer (config: wechat.menu).
MENU_KEYWORDS = {"MENU_ASK": "帮助", "MENU_PRICES": "价格", "MENU_JOBS": "找工作", "MENU_MINE": "我的订阅",
                 "MENU_HELP": "帮助"}
# Broadcast kind → thing1 of the template message (see template_data).
KIND_LABELS = {"tip": "农技提示", "price": "市场价格", "labour": "务工信息", "notice": "通知"}

ASK_IN_TEXT = "请用文字发问题，如“苞谷叶子发黄咋办”；回复“帮助”查看菜单。"
UNSUPPORTED = {
    wx_messages.ImageMessage: "收到您的图片。目前还看不懂图片，",
    wx_messages.VoiceMessage: "收到您的语音。目前还听不懂语音，",
    wx_messages.VideoMessage: "收到您的视频。目前还看不懂视频，",
    wx_messages.ShortVideoMessage: "收到您的视频。目前还看不懂视频，",
    wx_messages.LocationMessage: "收到您的位置。目前还不能按位置查询，",
    wx_messages.LinkMessage: "收到您分享的链接。目前还打不开链接，",
}
OTHER_KIND = "目前只能看懂文字消息，"
IDENT = re.compile(r"[A-Za-z0-9_-]{1,64}")  # openids and gh_ account ids

CRYPTO: web.AppKey[WeChatCrypto | None] = web.AppKey("wechat_crypto")
PENDING: web.AppKey[Pending] = web.AppKey("wechat_pending")
ARRIVED: web.RequestKey[float] = web.RequestKey("wechat_arrived", float)  # time.monotonic() on arrival


class WechatError(Exception):
    """A WeChat call failed: `code` is WeChat's errcode (or ours, e.g. "no_template")."""

    def __init__(self, code: int | str | None, detail: str, *, retryable: bool = False) -> None:
        super().__init__(f"{code} {detail}" if code is not None else detail)
        self.code = code
        self.detail = detail
        self.retryable = retryable


class TokenError(WechatError):
    """No usable access token (WeChat refused one, or the token endpoint failed)."""


class WechatApi:
    """The few WeChat endpoints nongbot calls, over one aiohttp session (wechatpy's client blocks)."""

    def __init__(self, session: aiohttp.ClientSession, base: str, timeout: float) -> None:
        self._session = session
        self._base = base.rstrip("/") + "/cgi-bin/"
        self._timeout = aiohttp.ClientTimeout(total=timeout)

    async def call(self, method: str, path: str, *, params: dict[str, str] | None = None,
                   body: dict[str, Any] | None = None) -> dict[str, Any]:
        """The JSON answer; every answer's errcode is checked, an HTTP 200 with one is a failure."""
        data = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
        headers = {"Content-Type": "application/json; charset=utf-8"} if data is not None else None
        try:
            async with self._session.request(method, self._base + path, params=params, data=data,
                                             headers=headers, timeout=self._timeout) as resp:
                status, raw = resp.status, await resp.read()
        except (TimeoutError, aiohttp.ClientError) as exc:
            reason = "timeout" if isinstance(exc, TimeoutError) else type(exc).__name__
            raise WechatError(None, f"no answer from WeChat ({reason})", retryable=True) from exc
        try:
            payload = json.loads(raw)
        except ValueError:
            payload = None
        if not isinstance(payload, dict):
            raise WechatError(None, f"HTTP {status} without a JSON object from {path}", retryable=status >= 500)
        code = payload.get("errcode", 0)
        if code not in (0, "0", None):
            try:
                code = int(code)
            except (TypeError, ValueError):
                pass
            errmsg = str(payload.get("errmsg", ""))[:300]
            raise WechatError(code, errmsg, retryable=code in RETRYABLE or status >= 500)
        if status >= 400:
            raise WechatError(None, f"HTTP {status} from {path}", retryable=status >= 500)
        return payload


class TokenStore:
    """The app's one access token, kept in the AccessToken table so every process shares it:
    fetching a new one invalidates the old, so no process may fetch on its own schedule."""

    def __init__(self, config: WechatConfig, api: WechatApi, *, postgres: bool, cooldown: float = 5.0) -> None:
        self._config = config
        self._api = api
        self._postgres = postgres
        self._lock = asyncio.Lock()  # one renewal per process at a time; PostgreSQL adds a cross-process lock
        self._lock_id = LOCK_BASE | zlib.crc32(config.app_id.encode())
        self.cooldown = cooldown  # after a failed fetch, wait this long (doubling, at most 5 min)
        self._failures = 0
        self._retry_at = 0.0
        self._last_error: TokenError | None = None

    async def get(self) -> str:
        usable = self._usable(await AccessToken.get_or_none(app_id=self._config.app_id), None)
        return usable or await self._renew(None)

    async def renew(self, stale: str) -> str:
        """Replace a token WeChat just rejected, unless someone already did."""
        return await self._renew(stale)

    @staticmethod
    def _usable(row: AccessToken | None, stale: str | None, ahead: float = TOKEN_AHEAD) -> str | None:
        """The row's token if it will do: not the one WeChat rejected, and (unless renewing after a
        rejection) not about to expire, so every process renews ahead of time instead of on failure."""
        if row is None or row.token == stale:
            return None
        left = (row.expires_at - datetime.now(UTC)).total_seconds()
        return row.token if left > (ahead if stale is None else 0) else None

    async def _renew(self, stale: str | None) -> str:
        async with self._lock:
            row = await AccessToken.get_or_none(app_id=self._config.app_id)
            usable = self._usable(row, stale)
            if usable:
                return usable  # another task or process renewed it meanwhile
            if stale is not None and row is not None and row.token == stale:
                age = (datetime.now(UTC) - row.updated_at).total_seconds()
                if age < FORCED_GAP:
                    # Renewed moments ago and rejected again: a wrong secret or IP whitelist, not
                    # an old token. Fetching again would only burn the daily token quota.
                    raise TokenError(None, f"WeChat rejected an access token fetched {age:.0f} s ago; "
                                           "check wechat.app_id, the AppSecret and the IP whitelist",
                                     retryable=True)
            if time.monotonic() < self._retry_at and self._last_error is not None:
                wait = self._retry_at - time.monotonic()
                raise TokenError(self._last_error.code, f"{self._last_error.detail} (next try in {wait:.0f} s)",
                                 retryable=self._last_error.retryable)
            try:
                token = await (self._renew_locked(stale) if self._postgres else self._fetch_and_store(stale))
            except TokenError as exc:
                self._failures += 1
                self._retry_at = time.monotonic() + min(self.cooldown * 2 ** (self._failures - 1), 300.0)
                self._last_error = exc
                log.error("access token unavailable: %s", exc)
                raise
            self._failures, self._retry_at, self._last_error = 0, 0.0, None
            return token

    async def _renew_locked(self, stale: str | None) -> str:
        async with in_transaction() as tx:
            # A transaction-scoped lock: asyncpg resets session locks when a pooled connection returns.
            got = await tx.execute_query_dict("SELECT pg_try_advisory_xact_lock($1) AS ok", [self._lock_id])
            if got and got[0]["ok"]:
                row = await AccessToken.filter(app_id=self._config.app_id).using_db(tx).first()
                usable = self._usable(row, stale)
                if usable:
                    return usable
                token, expires_in = await self._fetch(force=stale is not None)
                await self._store(token, expires_in, tx)
                return token
        # Another process is fetching: a token still valid will do meanwhile, else wait for its new one.
        deadline = time.monotonic() + self._config.timeout + 1.0
        while time.monotonic() < deadline:
            usable = self._usable(await AccessToken.get_or_none(app_id=self._config.app_id), stale, ahead=0)
            if usable:
                return usable
            await asyncio.sleep(0.1)
        raise TokenError(None, "another process is fetching the access token and has not finished", retryable=True)

    async def _fetch_and_store(self, stale: str | None) -> str:
        # SQLite: no HTTP inside a transaction (it would block every query of the process).
        token, expires_in = await self._fetch(force=stale is not None)
        await self._store(token, expires_in, None)
        return token

    async def _fetch(self, *, force: bool) -> tuple[str, int]:
        config = self._config
        try:
            if config.stable_token:
                # force_refresh only for a token WeChat rejected: normal mode would hand it back.
                payload = await self._api.call("POST", "stable_token", body={
                    "grant_type": "client_credential", "appid": config.app_id, "secret": config.app_secret,
                    "force_refresh": force})
            else:
                payload = await self._api.call("GET", "token", params={
                    "grant_type": "client_credential", "appid": config.app_id, "secret": config.app_secret})
        except WechatError as exc:
            raise TokenError(exc.code, f"access token: {exc.detail}", retryable=exc.retryable) from exc
        token, expires_in = payload.get("access_token"), payload.get("expires_in", 7200)
        if not isinstance(token, str) or not token or not isinstance(expires_in, int) or expires_in <= 0:
            raise TokenError(None, "access token: WeChat's answer has no token", retryable=True)
        log.info("access token renewed", extra={"expires_in": expires_in, "forced": force})
        return token, expires_in

    async def _store(self, token: str, expires_in: int, tx: Any) -> None:
        now = datetime.now(UTC)
        values = {"token": token, "expires_at": now + timedelta(seconds=expires_in), "updated_at": now}
        query = AccessToken.filter(app_id=self._config.app_id)
        if await (query.using_db(tx) if tx is not None else query).update(**values):
            return
        try:
            await AccessToken.create(app_id=self._config.app_id, using_db=tx, **values)
        except IntegrityError:  # another SQLite process created it meanwhile
            await AccessToken.filter(app_id=self._config.app_id).update(**values)


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
        template_id = getattr(self._config.wechat, f"template_{kind}") or self._config.wechat.template_notice
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


def menu_buttons(spec: str) -> list[dict[str, Any]]:
    """wechat.menu → the "button" list of menu/create; ValueError says what is wrong."""
    buttons: list[dict[str, Any]] = []
    for entry in (part.strip() for part in spec.split(";")):
        if not entry:
            continue
        if ":" in entry.split("=", 1)[0]:  # "label: a=KEY, b=KEY" is a group
            label, _, rest = entry.partition(":")
            subs = [_click(part, 60) for part in rest.split(",") if part.strip()]
            if not 1 <= len(subs) <= 5:
                raise ValueError(f"group {label.strip()!r}: expected 1 to 5 buttons, got {len(subs)}")
            buttons.append({"name": _label(label, 16), "sub_button": subs})
        else:
            buttons.append(_click(entry, 16))
    if not 1 <= len(buttons) <= 3:
        raise ValueError(f"expected 1 to 3 top-level buttons, got {len(buttons)}")
    return buttons


def _click(entry: str, limit: int) -> dict[str, str]:
    label, sep, key = entry.partition("=")
    if not sep or key.strip() not in MENU_KEYWORDS:
        raise ValueError(f"{entry.strip()!r}: expected label=KEY, KEY one of {', '.join(MENU_KEYWORDS)}")
    return {"type": "click", "name": _label(label, limit), "key": key.strip()}


def _label(label: str, limit: int) -> str:
    label = label.strip()
    if not label or len(label.encode()) > limit:
        raise ValueError(f"button label {label!r}: expected 1 to {limit} bytes (a Chinese character is 3)")
    return label


async def publish_menu(config: Config, buttons: list[dict[str, Any]]) -> None:
    """`nongbot wechat menu`: publish through the shared token, outside the running service."""
    async with db.database(config.database.url), aiohttp.ClientSession() as session:
        api = WechatApi(session, config.wechat.api_base, config.wechat.timeout)
        tokens = TokenStore(config.wechat, api, postgres=db.is_postgres(config.database.url))
        await WechatSender(config, api, tokens).call("menu/create", {"button": buttons})


# --- the app: sender, background answers, webhooks ------------------------------------------------


class Slots:
    """At most `size` answers worked out at once. Messages still inside their reply budget go before
    answers already deferred (those have WeChat's 48 hours), and among them the newest first: under
    overload a message just in still has its whole budget to be answered passively, while one that
    has waited is deferred when its turn does not come in time (and no slot is spent on an answer
    that would miss its deadline anyway). Deferred answers go in arrival order."""

    def __init__(self, size: int) -> None:
        self.free = size
        self._urgent: collections.deque[asyncio.Future[None]] = collections.deque()
        self._later: collections.deque[asyncio.Future[None]] = collections.deque()

    def try_acquire(self) -> bool:
        if self.free > 0:  # waiters are handed a freed slot directly, so none are waiting now
            self.free -= 1
            return True
        return False

    async def acquire(self, urgent: bool) -> None:
        if self.try_acquire():
            return
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        queue = self._urgent if urgent else self._later
        queue.append(waiter)
        try:
            await waiter
        except asyncio.CancelledError:
            if waiter.done() and not waiter.cancelled():
                self.release()  # handed a slot just as the caller gave up: pass it on
            else:
                with contextlib.suppress(ValueError):
                    queue.remove(waiter)
            raise

    def release(self) -> None:
        for take in (self._urgent.pop, self._later.popleft):
            while True:
                try:
                    waiter = take()
                except IndexError:
                    break
                if not waiter.done():
                    waiter.set_result(None)
                    return
        self.free += 1

    @contextlib.asynccontextmanager
    async def held(self, urgent: bool) -> AsyncIterator[None]:
        await self.acquire(urgent)
        try:
            yield
        finally:
            self.release()


class Pending:
    """Answers that missed the passive-reply budget, finishing and going out in the background, and
    the slots every answer is worked out in."""

    def __init__(self, drain: float = DRAIN, workers: int | None = None) -> None:
        self.tasks: set[asyncio.Task[None]] = set()
        self.drain = drain
        self.slots = Slots(workers or WORKERS)
        self._deferred: dict[str, float] = {}

    def defer(self, key: str, work: Coroutine[Any, Any, None]) -> None:
        self.mark(key)
        self.spawn(work)

    def mark(self, key: str) -> None:
        now = time.monotonic()
        # WeChat retries for about 15 s; a retry of a deferred message must not be answered passively too.
        # Oldest first (insertion order): forgetting the expired ones costs nothing per message.
        while self._deferred:
            oldest = next(iter(self._deferred))
            if now - self._deferred[oldest] < 60.0:
                break
            del self._deferred[oldest]
        self._deferred.pop(key, None)
        self._deferred[key] = now

    def spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def deferred(self, key: str) -> bool:
        return key in self._deferred

    async def close(self) -> None:
        if not self.tasks:
            return
        _, late = await asyncio.wait(set(self.tasks), timeout=self.drain)
        for task in late:
            task.cancel()
        if late:
            log.warning("shutdown cancelled %d answers still going out", len(late))
            await asyncio.gather(*late, return_exceptions=True)


async def sender_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    session = aiohttp.ClientSession()  # one for the app's life
    api = WechatApi(session, config.wechat.api_base, config.wechat.timeout)
    tokens = TokenStore(config.wechat, api, postgres=db.is_postgres(config.database.url))
    app[SENDERS]["wechat"] = WechatSender(config, api, tokens)
    app[PENDING] = Pending()
    try:
        yield
    finally:
        await app[PENDING].close()  # before the session and the database they need go away
        await session.close()


def setup(app: web.Application) -> None:
    """Mount the webhook (GET verifies the URL, POST carries messages and events)."""
    wechat = app[CONFIG].wechat
    app[CRYPTO] = (WeChatCrypto(wechat.token, wechat.encoding_aes_key, wechat.app_id)
                   if wechat.mode != "plain" else None)
    app.router.add_get(PATH, verify_url)
    app.router.add_post(PATH, inbound)
    app.cleanup_ctx.append(replay_ctx)
    app.middlewares.insert(0, arrival)  # outermost: the reply budget counts from here


@web.middleware
async def arrival(request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                  ) -> web.StreamResponse:
    """Stamp when a request came in, before any other middleware or the handler waits: WeChat's 5
    seconds include the time it queued here under load, not only the handler's."""
    if request.path == PATH:
        request[ARRIVED] = time.monotonic()
    return await handler(request)


# --- replays of plaintext requests ------------------------------------------------------------------
# A plaintext request's signature covers the token, timestamp and nonce, not the body (WeChat's
# protocol), so a captured query string replayed within max_clock_skew could carry any body (another
# FromUserName, "TD"). Each (timestamp, nonce) is accepted once, in a table every web process shares.
# Encrypted requests need no such record: msg_signature covers the ciphertext, so a replay is the
# same message again, which the MsgId (or event) dedupe answers once.

def _nonce_key(nonce: str) -> str:
    return nonce if len(nonce) <= 64 else "sha1:" + hashlib.sha1(nonce.encode()).hexdigest()


async def first_use(timestamp: str, nonce: str) -> bool:
    """Record the pair; False when some process already accepted it."""
    try:
        await SeenNonce.create(channel="wechat", timestamp=int(timestamp), nonce=_nonce_key(nonce))
    except IntegrityError:
        return False
    return True


async def forget_nonce(timestamp: str, nonce: str) -> None:
    """Forget a pair whose request was answered 503: WeChat may retry it with the same query."""
    await SeenNonce.filter(channel="wechat", timestamp=int(timestamp), nonce=_nonce_key(nonce)).delete()


async def prune_nonces(max_clock_skew: int) -> int:
    """Forget pairs whose timestamp a request can no longer carry (refused as stale before this check)."""
    return await SeenNonce.filter(channel="wechat", timestamp__lt=int(time.time()) - max_clock_skew - 1).delete()


async def replay_ctx(app: web.Application) -> AsyncIterator[None]:
    skew = app[CONFIG].wechat.max_clock_skew

    async def loop() -> None:
        while True:
            try:
                await prune_nonces(skew)
            except asyncio.CancelledError:
                raise
            except Exception:  # the database went away for a moment; the next round prunes
                log.exception("pruning seen nonces failed")
            await asyncio.sleep(PRUNE_SECONDS)

    async with background.running(loop()):
        yield


def _reject(request: web.Request, status: int, why: str) -> web.Response:
    request.app[METRICS].inbound.labels("wechat", f"rejected_{status}").inc()
    log.warning("wechat webhook rejected: %s", why, extra={"status": status})
    return web.Response(status=status, text=why)


def _signed(request: web.Request) -> tuple[str, str] | web.Response:
    """(timestamp, nonce) of a request signed with our token and sent just now, or the 403."""
    config = request.app[CONFIG].wechat
    query = request.query
    timestamp, nonce, signature = query.get("timestamp", ""), query.get("nonce", ""), query.get("signature", "")
    if not (timestamp and nonce and signature):
        return _reject(request, 403, "missing signature")
    expected = hashlib.sha1("".join(sorted((config.token, timestamp, nonce))).encode()).hexdigest()
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        return _reject(request, 403, "bad signature")
    # WeChat sends Unix seconds (10 digits): a longer number is no time a request can carry (and one of
    # hundreds of digits is too big to compare with the clock).
    if (not (timestamp.isascii() and timestamp.isdigit() and len(timestamp) <= 12)
            or abs(time.time() - int(timestamp)) > config.max_clock_skew):
        return _reject(request, 403, "stale timestamp")  # a replay of an old, validly signed request
    if "\x00" in nonce:  # kept in the replay store: no database stores a NUL
        return _reject(request, 400, "bad nonce")
    return timestamp, nonce


async def verify_url(request: web.Request) -> web.Response:
    signed = _signed(request)
    if isinstance(signed, web.Response):
        return signed
    return web.Response(text=request.query.get("echostr", ""))


async def _body(request: web.Request) -> bytes | None:
    """The raw body, or None when it is over MAX_BODY (read no further than that)."""
    if request.content_length is not None and request.content_length > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    while size <= MAX_BODY:
        chunk = await request.content.read(MAX_BODY + 1 - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return None if size > MAX_BODY else b"".join(chunks)


def _checked(message: Any) -> str:
    """The sender's openid, once the fields we use have the types WeChat sends (XML can nest anything)."""
    for name in ("source", "target"):
        value = getattr(message, name)
        if not (isinstance(value, str) and IDENT.fullmatch(value)):
            raise TypeError(f"bad {name}")
    if not isinstance(message.time, int):
        raise TypeError("bad CreateTime")
    for name in ("content", "recognition", "key", "scene_id", "status"):
        value = getattr(message, name, None)
        if value is not None and not isinstance(value, str):
            raise TypeError(f"bad {name}")
    if isinstance(message, (wx_messages.TextMessage, wx_messages.VoiceMessage,
                            wx_events.TemplateSendJobFinishEvent)) and message.id <= 0:
        raise ValueError("missing MsgId")
    return str(message.source)


async def inbound(request: web.Request) -> web.Response:
    started = request.get(ARRIVED) or time.monotonic()
    signed = _signed(request)
    if isinstance(signed, web.Response):
        return signed
    timestamp, nonce = signed
    raw = await _body(request)
    if raw is None:
        return _reject(request, 413, "body too large")
    encrypted = request.query.get("encrypt_type", "raw").lower() == "aes"
    crypto = request.app[CRYPTO] if encrypted else None  # also encrypts the reply
    if encrypted and crypto is None:
        return _reject(request, 400, "encrypted message, but wechat.mode is plain")
    if not encrypted and request.app[CONFIG].wechat.mode == "safe":
        return _reject(request, 400, "plaintext message, but wechat.mode is safe")
    if not encrypted:
        try:
            fresh = await first_use(timestamp, nonce)
        except BaseORMException as exc:
            log.error("replay check unavailable: %s", exc)
            return web.Response(status=503, text="try again")
        if not fresh:
            return _reject(request, 403, "replayed signature (timestamp and nonce seen before)")
    try:
        xml = raw.decode("utf-8")
        if crypto is not None:
            xml = crypto.decrypt_message(xml, request.query.get("msg_signature", ""), timestamp, nonce)
        message = wechatpy.parse_message(xml)
        openid = _checked(message)
    except InvalidSignatureException:
        return _reject(request, 403, "bad msg_signature")
    except InvalidAppIdException:
        return _reject(request, 403, "encrypted for another AppId")
    except Exception as exc:  # wechatpy raises ValueError, KeyError, ExpatError, struct.error… on hostile input
        return _reject(request, 400, f"unreadable message ({type(exc).__name__})")
    deadline = started + request.app[CONFIG].wechat.reply_budget
    try:
        text = await _respond(request.app, message, openid, deadline)
    except (inbox.InboxUnavailable, BaseORMException) as exc:
        log.error("wechat message not handled: %s", exc)
        if not encrypted:
            with contextlib.suppress(BaseORMException):
                await forget_nonce(timestamp, nonce)
        return web.Response(status=503, text="try again")  # WeChat retries; nothing was lost
    if not text:
        return web.Response(text="success")  # WeChat's "nothing to say" (an empty body works too)
    return _reply(message, openid, text, crypto)


def _reply(message: Any, openid: str, text: str, crypto: WeChatCrypto | None) -> web.Response:
    # wechatpy puts values raw inside CDATA: a "]]>" typed by the user would end it and inject XML.
    content = fit_bytes(text, MAX_TEXT_BYTES).replace("]]>", "]]]]><![CDATA[>")
    xml = TextReply(source=message.target, target=openid, content=content, time=int(time.time())).render()
    if crypto is not None:  # answer encrypted whenever the request was
        xml = crypto.encrypt_message(xml, secrets.token_hex(8), str(int(time.time())))
    return web.Response(text=xml, content_type="application/xml", charset="utf-8")


async def _respond(app: web.Application, message: Any, openid: str, deadline: float) -> str | None:
    """The passive reply's text, or None to answer "success"."""
    if isinstance(message, wx_messages.TextMessage):
        return await _ask(app, openid, message.content or "", str(message.id), deadline, opens_window=True)
    if isinstance(message, wx_messages.VoiceMessage) and message.recognition:
        return await _ask(app, openid, message.recognition, str(message.id), deadline, opens_window=True)
    event_key = f"{openid}:{message.time}:{getattr(message, 'event', '')}"
    if len(event_key) > 64:  # Message.provider_id is 64 characters
        event_key = "ev:" + hashlib.sha1(event_key.encode()).hexdigest()
    if isinstance(message, (wx_events.SubscribeEvent, wx_events.SubscribeScanEvent)):
        scene = message.scene_id if isinstance(message, wx_events.SubscribeScanEvent) else ""
        await _followed(openid, scene)
        return await _ask(app, openid, "帮助", event_key, deadline)  # the welcome is the help menu
    if isinstance(message, wx_events.UnsubscribeEvent):
        await _unfollowed(openid)
        return None
    if isinstance(message, wx_events.ClickEvent):
        keyword = MENU_KEYWORDS.get(message.key or "")
        if keyword is None:
            log.warning("click on an unknown menu key", extra={"key": (message.key or "")[:64]})
            return None
        return await _ask(app, openid, keyword, event_key, deadline)
    if isinstance(message, wx_events.TemplateSendJobFinishEvent):
        await _job_finished(app, message)
        return None
    # wechatpy gives unknown events an UnknownMessage; the raw MsgType tells them from messages.
    if isinstance(message, wx_events.BaseEvent) or str(message._data.get("MsgType", "")).lower() == "event":
        return None  # VIEW, LOCATION, SCAN, …: nothing to say
    app[METRICS].inbound.labels("wechat", "unsupported").inc()
    await Subscriber.filter(wechat_openid=openid).update(
        last_inbound_at=datetime.now(UTC), wechat_cs_sent=0, wechat_followed=True)
    return UNSUPPORTED.get(type(message), OTHER_KIND) + ASK_IN_TEXT


async def _ask(app: web.Application, openid: str, text: str, key: str, deadline: float, *,
               opens_window: bool = False) -> str | None:
    """Run `text` through the inbox; the answer if it is ready by `deadline`, else None (it is sent
    as a customer-service message when ready). The answer waits its turn for a slot; when none comes
    by MIN_WORK before the deadline (overload), the message is stored and answered "success" at once,
    and worked out when a slot is free (bot/intake.py keeps it through a crash)."""
    pending = app[PENDING]
    if pending.deferred(key):
        return None  # WeChat's retry of a message already deferred: its answer goes out by itself
    msg = InboundMessage(channel="wechat", provider="wechat", address=openid, text=text, provider_id=key)
    start_by = deadline - MIN_WORK * app[CONFIG].wechat.reply_budget
    if not pending.slots.try_acquire():
        try:
            await asyncio.wait_for(pending.slots.acquire(urgent=True), start_by - time.monotonic())
        except TimeoutError:
            await _defer_stored(app, msg, opens_window)
            return None
    task = asyncio.create_task(_answer_in_slot(app, msg, opens_window))
    try:
        outcome = await asyncio.wait_for(asyncio.shield(task), max(deadline - time.monotonic(), 0.0))
    except TimeoutError:
        pending.defer(key, _deliver_later(app, task))
        return None
    if outcome.duplicate and pending.deferred(key):
        return None  # the original's answer goes out as a customer-service message
    return outcome.reply.text if outcome.reply else None


async def _answer_in_slot(app: web.Application, msg: InboundMessage, opens_window: bool) -> inbox.Outcome:
    try:
        return await _answer(app, msg, opens_window)
    finally:
        app[PENDING].slots.release()


async def _defer_stored(app: web.Application, msg: InboundMessage, opens_window: bool) -> None:
    """Keep the message (one insert) before WeChat hears "success", then answer it in a slot when one
    is free; a database error propagates (503: WeChat sends it again)."""
    row = await intake.store_one("wechat", intake.Item("ask", msg.provider_id or "", {
        "openid": msg.address, "text": msg.text, "opens_window": opens_window}))
    app[PENDING].mark(msg.provider_id or "")
    app[METRICS].inbound.labels("wechat", "deferred").inc()
    if row is not None:  # None: stored before (a retry), and answered from there
        app[PENDING].spawn(intake.process(app, [row]))


@intake.handler("wechat")
async def process_items(app: web.Application, rows: list[PushItem]) -> None:
    """Deferred messages: each worked out in a slot (after every message still inside its budget),
    then sent as a customer-service message; each row marked done when its answer went out.
    A row processed again after a crash does not record the message twice, and sends the answer
    unless it may have been given (a passive reply to a retry of the message)."""
    await asyncio.gather(*(_answer_stored(app, row) for row in rows))


async def _answer_stored(app: web.Application, row: PushItem) -> None:
    data = row.payload
    msg = InboundMessage(channel="wechat", provider="wechat", address=str(data["openid"]), text=str(data["text"]),
                         provider_id=row.key)
    try:
        async with app[PENDING].slots.held(urgent=False):
            if not await intake.still_held(row):
                return  # waited so long that a sweep took it: the sweep answers it
            outcome = await _answer(app, msg, bool(data.get("opens_window")), duplicate_wait=0.0)
        answer = None
        if outcome.message_id is not None:
            answer = await Message.filter(reply_to_id=outcome.message_id, direction="out").order_by("id").first()
        if answer is not None and answer.attempts == 0 and not answer.provider_id and (
                answer.status == "sending" if outcome.duplicate else answer.status == "sent"):
            # Fresh, or a crash came while it was going out (WeChat keeps no log to ask): send it.
            answer.status = "sending"
            await answer.save(update_fields=["status", "updated_at"])
            await outbox.deliver(app, answer)
        await intake.done(row)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # nobody awaits this: log here; the sweep tries again
        log.exception("deferred wechat answer not delivered", extra={"item": row.id})
        await intake.failed(row, f"{type(exc).__name__}: {exc}")


async def _answer(app: web.Application, msg: InboundMessage, opens_window: bool,
                  duplicate_wait: float = 3.0) -> inbox.Outcome:
    outcome = await inbox.process(app, msg, duplicate_wait=duplicate_wait)
    if not outcome.duplicate:
        # Only a follower can write to us; a message (not a click) opens a new 48-hour window of 5 texts.
        fresh = {"wechat_cs_sent": 0} if opens_window else {}
        await Subscriber.filter(wechat_openid=msg.address).update(wechat_followed=True, **fresh)
    return outcome


async def _deliver_later(app: web.Application, task: asyncio.Task[inbox.Outcome]) -> None:
    try:
        outcome = await task
        if outcome.duplicate or outcome.reply is None or outcome.message_id is None:
            return  # a retry: the original request delivers (or has delivered) the answer
        row = await Message.filter(reply_to_id=outcome.message_id, direction="out").order_by("id").first()
        if row is None:
            return  # the inbox could not record the reply and has logged why
        row.status = "sending"
        await row.save(update_fields=["status", "updated_at"])
        await outbox.deliver(app, row)
    except asyncio.CancelledError:
        raise
    except Exception:  # nobody awaits this task: log here or never know
        log.exception("late wechat answer not delivered")


async def _followed(openid: str, scene: str) -> None:
    """A follow (re)activates the person with consent from the follow, or from the QR code's scene."""
    source = f"wechat:qrscene:{scene}" if scene else "wechat:subscribe"
    subscriber = await Subscriber.get_or_none(wechat_openid=openid)
    if subscriber is None:
        try:
            subscriber = await Subscriber.create(
                wechat_openid=openid, preferred_channel="wechat", consent_source=source[:64],
                opted_in_at=datetime.now(UTC), wechat_followed=True)
        except IntegrityError:  # WeChat's retry raced the first delivery of this event
            return
        await consent.record(subscriber, "opt_in", "wechat", source)
        return
    if subscriber.wechat_followed and subscriber.active:
        return  # a retry, or a follow we already knew about
    await Subscriber.filter(id=subscriber.id).update(wechat_followed=True)
    subscriber.wechat_followed = True
    if not await consent.opt_in(subscriber, "wechat", source):
        await consent.record(subscriber, "opt_in", "wechat", source)  # active by SMS, now also here


async def _unfollowed(openid: str) -> None:
    """Unfollowing stops WeChat pushes only: SMS consent was given by SMS and stays. Someone we can
    reach only on WeChat is opted out altogether."""
    subscriber = await Subscriber.get_or_none(wechat_openid=openid)
    if subscriber is None or (not subscriber.wechat_followed and (subscriber.phone or not subscriber.active)):
        return  # unknown, or a retry
    await Subscriber.filter(id=subscriber.id).update(wechat_followed=False)
    subscriber.wechat_followed = False
    if subscriber.phone or not await consent.opt_out(subscriber, "wechat", "wechat:unsubscribe"):
        await consent.record(subscriber, "opt_out", "wechat", "wechat:unsubscribe")


async def _job_finished(app: web.Application, event: Any) -> None:
    """TEMPLATESENDJOBFINISH: the delivery state of a template message we sent."""
    provider_id = f"tmpl:{event.id}"
    raw = (event.status or "").strip()
    status = "delivered" if raw == "success" else "failed"
    # "failed:user block" (the person refused template messages), "failed: system failed", …
    code = None if raw == "success" else (raw.partition(":")[2].strip().replace(" ", "_") or raw)[:32]
    deadline = time.monotonic() + 1.0  # the event can beat the save of the msgid
    while True:
        message = await Message.get_or_none(channel="wechat", direction="out", provider_id=provider_id)
        if message is not None:
            break
        for listener in app[STATUS_LISTENERS]:
            if await listener("wechat", provider_id, status, code):
                return
        if time.monotonic() >= deadline:
            log.warning("job finished for an unknown template message", extra={"msgid": event.id})
            return
        await asyncio.sleep(0.1)
    if await MessageEvent.filter(message_id=message.id, status=status).exists():
        return  # WeChat's retry of the same event
    await MessageEvent.create(message=message, status=status, error_code=code)
    await Message.filter(id=message.id, status__in=("queued", "sending", "sent")).update(
        status=status, error_code=code, updated_at=datetime.now(UTC))
    app[METRICS].outbound.labels("wechat", f"callback_{status}").inc()
