"""QWeather (和风天气) over plain aiohttp: daily forecasts and the CMA's official warnings by coordinates.

Checked against QWeather's developer documentation (dev.qweather.com, read 2026-12):
- Every account has its own API Host (控制台-设置, e.g. https://abcxyz.qweatherapi.com): `weather.api_base`.
  docs/configuration/api-config.
- Authentication in a header: `X-QW-Api-Key: <key>` or `Authorization: Bearer <JWT>`; the JWT is signed
  with Ed25519 (alg EdDSA), header {alg, kid = credential id}, payload {sub = project id, iat, exp},
  at most 24 h. docs/configuration/authentication.
- Daily forecast: GET /v7/weather/3d?location=LON,LAT (longitude first, at most two decimals) →
  {"code": "200", "updateTime", "daily": [{fxDate, tempMax, tempMin, textDay, textNight, windDirDay,
  windScaleDay, precip, …}]}. docs/api/weather/weather-daily-forecast (grid-weather/3d is the same shape).
- Warnings: GET /weatheralert/v1/current/{lat}/{lon}?localTime=true → {"metadata": {"zeroResult"},
  "alerts": [{id, senderName, issuedTime, messageType: {code: alert|update|cancel, supersedes: [ids]},
  eventType: {name, code}, severity, color: {code: blue|yellow|orange|red …}, effectiveTime, expiredTime,
  headline, description, …}]}. docs/api/warning/weather-alert (the newer API; /v7/warning/now is the
  older one, not used here).
- Responses are gzip-compressed JSON (aiohttp decompresses them).
- Status: v7 bodies carry "code": 200 ok, 204 no data for that place, 400 bad request, 401 auth failed,
  402 out of calls or balance, 403 no permission, 404 no such place, 429 over the per-minute quota,
  500 provider trouble (docs/resource/status-code). Newer errors come as an HTTP status with
  {"error": {status, type, title, detail}} (docs/resource/error-code, v2). Either way: ProviderError,
  logged once, the caller falls back; QWeather asks clients not to hammer it after an error, and we
  only call again at the next ask (after the cache) or the next polling round.
"""

from __future__ import annotations

import base64
import json
import logging
import time
from datetime import date, datetime
from typing import Any

import aiohttp
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from bot.config import WeatherConfig
from bot.weather.provider import Alert, Day, ProviderError

log = logging.getLogger("nongbot.weather")
TOKEN_SECONDS = 900
CODES = {"204": "no data for this place", "400": "bad request", "401": "authentication failed",
         "402": "out of calls or balance", "403": "no permission", "404": "no such place",
         "429": "over the per-minute quota", "500": "provider trouble"}


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(project_id: str, key_id: str, private_pem: str, now: float) -> str:
    """The token QWeather's JWT authentication expects (EdDSA over Ed25519)."""
    key = load_pem_private_key(private_pem.encode(), password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ProviderError("weather private key is not an Ed25519 key")
    header = _b64(json.dumps({"alg": "EdDSA", "kid": key_id}, separators=(",", ":")).encode())
    payload = _b64(json.dumps({"sub": project_id, "iat": int(now) - 30, "exp": int(now) + TOKEN_SECONDS},
                              separators=(",", ":")).encode())
    signature = key.sign(f"{header}.{payload}".encode())
    return f"{header}.{payload}.{_b64(signature)}"


def _time(text: Any) -> datetime | None:
    if not isinstance(text, str) or not text:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None


class QWeather:
    def __init__(self, config: WeatherConfig) -> None:
        self.config = config
        self.base = config.api_base.rstrip("/")
        self._session: aiohttp.ClientSession | None = None
        self._token: tuple[float, str] | None = None

    def _headers(self) -> dict[str, str]:
        c = self.config
        if c.project_id and c.key_id and c.private_key:
            now = time.time()
            if self._token is None or self._token[0] < now + 60:
                self._token = (now + TOKEN_SECONDS, make_jwt(c.project_id, c.key_id, c.private_key, now))
            return {"Authorization": f"Bearer {self._token[1]}", "Accept-Encoding": "gzip"}
        return {"X-QW-Api-Key": c.api_key, "Accept-Encoding": "gzip"}

    async def _get(self, path: str, params: dict[str, str]) -> dict[str, Any]:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.config.timeout))
        try:
            async with self._session.get(self.base + path, params=params, headers=self._headers()) as response:
                body = await response.read()
                status = response.status
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise ProviderError(f"qweather {path}: {type(exc).__name__}") from None
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            raise ProviderError(f"qweather {path}: HTTP {status}, not JSON") from None
        if not isinstance(data, dict):
            raise ProviderError(f"qweather {path}: HTTP {status}, unexpected body")
        if status != 200 or "error" in data:
            found = data.get("error")
            err: dict[str, Any] = found if isinstance(found, dict) else {}
            raise ProviderError(f"qweather {path}: HTTP {status} {err.get('title') or err.get('type') or ''}".strip())
        return data

    async def forecast(self, lat: float, lon: float) -> list[Day]:
        data = await self._get("/v7/weather/3d", {"location": f"{lon:.2f},{lat:.2f}", "lang": "zh"})
        code = str(data.get("code", ""))
        if code != "200":
            raise ProviderError(f"qweather forecast: code {code} ({CODES.get(code, 'unknown')})")
        try:
            days = [Day(day=date.fromisoformat(d["fxDate"]), text_day=str(d.get("textDay", "")),
                        text_night=str(d.get("textNight", "")), temp_min=int(d["tempMin"]),
                        temp_max=int(d["tempMax"]), precip=float(d.get("precip") or 0),
                        wind_dir=str(d.get("windDirDay", "")), wind_scale=str(d.get("windScaleDay", "")))
                    for d in data.get("daily") or []]
        except (KeyError, TypeError, ValueError):
            raise ProviderError("qweather forecast: a day without date or temperatures") from None
        if not days:
            raise ProviderError("qweather forecast: no days")
        return days

    async def alerts(self, lat: float, lon: float) -> list[Alert]:
        data = await self._get(f"/weatheralert/v1/current/{lat:.2f}/{lon:.2f}", {"localTime": "true", "lang": "zh"})
        if (data.get("metadata") or {}).get("zeroResult"):
            return []
        found = []
        for a in data.get("alerts") or []:
            if not isinstance(a, dict) or not a.get("id"):
                continue
            kind = a.get("messageType") or {}
            found.append(Alert(
                id=str(a["id"])[:64], event=str((a.get("eventType") or {}).get("name") or ""),
                color=str((a.get("color") or {}).get("code") or ""), headline=str(a.get("headline") or ""),
                description=str(a.get("description") or ""), sender=str(a.get("senderName") or ""),
                message_type=str(kind.get("code") or "alert"),
                supersedes=tuple(str(i) for i in kind.get("supersedes") or ()),
                issued_at=_time(a.get("issuedTime")), expires_at=_time(a.get("expiredTime"))))
        return found

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
