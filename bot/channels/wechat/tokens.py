"""The access token every process shares, renewed ahead of time, once, under a lock."""

from __future__ import annotations

import asyncio
import logging
import time
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot.models import AccessToken
from bot.waits import until

from .client import TokenError, WechatApi, WechatError
from .settings import WechatConfig

log = logging.getLogger("nongbot.wechat")

TOKEN_AHEAD = 300  # s: stable_token hands out a new token only in the old one's last 5 minutes
FORCED_GAP = 30  # s: stable_token's force_refresh needs 30 s between calls (and 20 a day)
LOCK_BASE = 0x7778 << 32  # PostgreSQL advisory lock namespace for token renewal ("wx")


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
        async def fetched() -> str | None:
            return self._usable(await AccessToken.get_or_none(app_id=self._config.app_id), stale, ahead=0) or None

        if usable := await until(self._config.timeout + 1.0, fetched):
            return usable
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
