"""The few WeChat endpoints nongbot calls, and the errors they answer with."""

from __future__ import annotations

import contextlib
import json
from typing import Any

import aiohttp

RETRYABLE = {-1, 45009, 45011}  # system busy, API quota: worth another try later


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
            with contextlib.suppress(TypeError, ValueError):  # a code that is no number stays as it is
                code = int(code)
            errmsg = str(payload.get("errmsg", ""))[:300]
            raise WechatError(code, errmsg, retryable=code in RETRYABLE or status >= 500)
        if status >= 400:
            raise WechatError(None, f"HTTP {status} from {path}", retryable=status >= 500)
        return payload
