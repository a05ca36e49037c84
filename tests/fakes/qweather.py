"""A fake QWeather (和风天气): the 3-day forecast (/v7/weather/3d) and current warnings
(/weatheralert/v1/current/{lat}/{lon}) with QWeather's JSON shapes, gzip-compressed bodies, its
API-key header or an EdDSA JWT checked, the status codes and error bodies, and scriptable faults.

Run by hand next to nongbot:
    python -m tests.fakes.qweather --port 8098
then start nongbot with the line it prints, and type commands: `frost 关防乡` (a blue frost warning
there), `update 关防乡` (the same warning re-issued), `red 关防乡` (a red rainstorm warning), `cancel 关防乡`,
`clear`, `down` (every call fails with 500), `up`, `rain` / `sun` (the next days' weather).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gzip
import itertools
import json
from collections import deque
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
from aiohttp import web
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from tests.fakes import run_by_hand

API_KEY = "test-qweather-key-0123456789"
SH = ZoneInfo("Asia/Shanghai")
_ids = itertools.count(202612060800000001)


def day(when: date, text_day: str = "多云", text_night: str = "", low: int = 3, high: int = 9,
        precip: float = 0.0, wind: str = "3-4") -> dict[str, Any]:
    """One day of the /v7/weather/3d `daily` list, as QWeather writes it (every value a string)."""
    return {"fxDate": when.isoformat(), "sunrise": "07:12", "sunset": "17:18", "tempMax": str(high),
            "tempMin": str(low), "iconDay": "101", "textDay": text_day, "iconNight": "151",
            "textNight": text_night or text_day, "wind360Day": "45", "windDirDay": "东北风",
            "windScaleDay": wind, "windSpeedDay": "16", "humidity": "70", "precip": f"{precip:.1f}",
            "pressure": "1018", "vis": "25", "cloud": "40", "uvIndex": "2"}


def alert(event: str = "霜冻", color: str = "blue", *, message_type: str = "alert", supersedes: tuple[str, ...] = (),
          county: str = "郧西县", alert_id: str = "", description: str = "") -> dict[str, Any]:
    """One entry of the weatheralert `alerts` list."""
    names = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}
    now = datetime.now(SH).replace(second=0, microsecond=0)
    kind: dict[str, Any] = {"code": message_type}
    if supersedes:
        kind["supersedes"] = list(supersedes)
    return {
        "id": alert_id or str(next(_ids)), "senderName": f"{county}气象台",
        "issuedTime": now.isoformat(timespec="minutes"), "messageType": kind,
        "eventType": {"name": event, "code": "1015"}, "urgency": None, "severity": "minor", "certainty": None,
        "icon": "1015", "color": {"code": color, "red": 30, "green": 50, "blue": 205, "alpha": 1},
        "effectiveTime": now.isoformat(timespec="minutes"), "onsetTime": now.isoformat(timespec="minutes"),
        "expiredTime": (now + timedelta(days=1)).isoformat(timespec="minutes"),
        "headline": f"{county}气象台发布{event}{names.get(color, '')}预警[Ⅳ级/一般]",
        "description": description or (f"{county}气象台{now:%Y年%m月%d日%H时}发布{event}{names.get(color, '')}预警信号："
                                       f"预计今天夜间到明天早晨，我县最低气温将降到0℃以下，有{event}，请注意防范。"),
        "criteria": "", "instruction": "", "responseTypes": [],
    }


def _key(lat: float, lon: float) -> tuple[float, float]:
    return (round(lat, 2), round(lon, 2))


@dataclass
class FakeQWeather:
    """State of the fake. `alerts` by (lat, lon) rounded to two decimals (see `_key`); `days` by
    place, else `default_days`. `faults` are consumed one per request: "500" (HTTP 500), "401", "429",
    "code402" (HTTP 200 with "code": "402", the v7 way), "timeout" (hang), "garbage" (not JSON).
    `down` makes every request answer 500 until cleared."""

    api_key: str = API_KEY
    public_key: Ed25519PublicKey | None = None  # set to check JWTs instead of the key
    project_id: str = ""
    key_id: str = ""
    alerts: dict[tuple[float, float], list[dict[str, Any]]] = field(default_factory=dict)
    days: dict[tuple[float, float], list[dict[str, Any]]] = field(default_factory=dict)
    default_days: list[dict[str, Any]] = field(default_factory=list)
    faults: deque[str] = field(default_factory=deque)
    down: bool = False
    hang_seconds: float = 30.0
    calls: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def set_alerts(self, lat: float, lon: float, *alerts: dict[str, Any]) -> None:
        self.alerts[_key(lat, lon)] = list(alerts)

    def forecast_from(self, start: date, *texts: str, low: int = 3, high: int = 9) -> None:
        """The default forecast: `start` and the days after with these texts (小雨, 多云, 晴)."""
        self.default_days = [day(start + timedelta(days=i), text, low=low, high=high,
                                 precip=3.0 if "雨" in text else 0.0) for i, text in enumerate(texts)]

    def _authorised(self, request: web.Request) -> bool:
        if self.public_key is None:
            return request.headers.get("X-QW-Api-Key") == self.api_key
        scheme, _, token = request.headers.get("Authorization", "").partition(" ")
        parts = token.split(".")
        if scheme != "Bearer" or len(parts) != 3:
            return False

        def decode(part: str) -> bytes:
            return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

        try:
            self.public_key.verify(decode(parts[2]), f"{parts[0]}.{parts[1]}".encode())
            header, payload = json.loads(decode(parts[0])), json.loads(decode(parts[1]))
        except (InvalidSignature, ValueError):
            return False
        now = datetime.now().timestamp()
        return (header.get("alg") == "EdDSA" and header.get("kid") == self.key_id
                and payload.get("sub") == self.project_id and payload["iat"] <= now < payload["exp"])

    @staticmethod
    def _gzip(data: Any, status: int = 200) -> web.Response:
        body = gzip.compress(json.dumps(data, ensure_ascii=False).encode())
        return web.Response(body=body, status=status, content_type="application/json",
                            headers={"Content-Encoding": "gzip"})

    @staticmethod
    def _error(status: int, kind: str, title: str) -> web.Response:
        return FakeQWeather._gzip({"error": {"status": status, "type": f"https://dev.qweather.com/docs/resource/error-code/#{kind}",
                                             "title": title, "detail": title}}, status)

    async def _fault(self, request: web.Request) -> web.StreamResponse | None:
        self.calls.append((request.path, dict(request.query)))
        fault = self.faults.popleft() if self.faults else ("500" if self.down else "")
        if fault == "timeout":
            await asyncio.sleep(self.hang_seconds)
        if fault in ("500", "timeout"):
            return self._error(500, "unknown-error", "Unknown Error")
        if fault == "429":
            return self._error(429, "too-many-requests", "Too Many Requests")
        if fault == "garbage":
            return web.Response(text="<html>bad gateway</html>", status=200, content_type="text/html")
        if fault == "401" or not self._authorised(request):
            return self._error(401, "unauthorized", "Unauthorized")
        if fault == "code402":
            return self._gzip({"code": "402"})
        return None

    async def forecast(self, request: web.Request) -> web.StreamResponse:
        if (refused := await self._fault(request)) is not None:
            return refused
        try:
            lon, lat = (float(v) for v in request.query["location"].split(","))
        except (KeyError, ValueError):
            return self._error(400, "invalid-parameter", "Invalid Parameter")
        days = self.days.get(_key(lat, lon)) or self.default_days
        if not days:
            return self._gzip({"code": "204"})
        return self._gzip({"code": "200", "updateTime": datetime.now(SH).isoformat(timespec="minutes"),
                           "fxLink": "https://www.qweather.com", "daily": days[:3],
                           "refer": {"sources": ["QWeather"], "license": ["QWeather Developers License"]}})

    async def warnings(self, request: web.Request) -> web.StreamResponse:
        if (refused := await self._fault(request)) is not None:
            return refused
        try:
            lat, lon = float(request.match_info["lat"]), float(request.match_info["lon"])
        except ValueError:
            return self._error(400, "invalid-parameter", "Invalid Parameter")
        found = self.alerts.get(_key(lat, lon), [])
        return self._gzip({"metadata": {"tag": "fake", "zeroResult": not found,
                                        "attributions": ["https://developer.qweather.com/attribution.html"]},
                           "alerts": found})

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v7/weather/3d", self.forecast)
        app.router.add_get("/weatheralert/v1/current/{lat}/{lon}", self.warnings)
        return app


async def _by_hand(port: int) -> None:
    from bot.weather import places

    fake = FakeQWeather()
    fake.forecast_from(datetime.now(SH).date(), "多云", "小雨", "阴")
    last: dict[str, str] = {}

    async def typed(_: aiohttp.ClientSession, line: str) -> None:
        command, _, name = line.strip().partition(" ")
        town = places.find(name) if name else None
        if command in ("rain", "sun"):
            fake.forecast_from(datetime.now(SH).date(), *(("小雨", "中雨", "阴") if command == "rain" else ("晴",) * 3))
        elif command in ("down", "up"):
            fake.down = command == "down"
        elif command == "clear":
            fake.alerts.clear()
        elif town is None:
            print("commands: frost|update|red|cancel <乡镇>, clear, down, up, rain, sun")
            return
        elif command in ("frost", "red"):
            made = alert("霜冻") if command == "frost" else alert("暴雨", "red")
            last[town.name] = made["id"]
            fake.set_alerts(town.lat, town.lon, made)
        elif command in ("update", "cancel") and town.name in last:
            made = alert("霜冻", message_type=command, supersedes=(last[town.name],))
            last[town.name] = made["id"]
            fake.set_alerts(town.lat, town.lon, made)
        print(f"ok ({len(fake.calls)} calls so far)")

    await run_by_hand(fake.app(), port, {
        "NONGBOT_WEATHER_PROVIDER": "qweather", "NONGBOT_WEATHER_API_BASE": f"http://127.0.0.1:{port}",
        "NONGBOT_WEATHER_API_KEY": fake.api_key, "NONGBOT_WEATHER_POLL_SECONDS": "60",
    }, "the weather office (frost 关防乡, update 关防乡, red 关防乡, cancel 关防乡, clear, down, up, rain, sun)", typed)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--port", type=int, default=8098)
    args = parser.parse_args()
    asyncio.run(_by_hand(args.port))


if __name__ == "__main__":
    main()
