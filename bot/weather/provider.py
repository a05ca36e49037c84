"""What a weather provider gives this feature, whoever it is: daily forecasts and the official warnings
for a point (latitude, longitude). QWeather (qweather.py) is the first; another provider is one more
class with these methods and one line in bot/weather/service.py `make_provider`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Protocol

from bot.config import WARNING_LEVELS


class ProviderError(Exception):
    """The provider could not answer (down, slow, refused our key, out of quota). The message is for
    the log; villagers never see it."""


@dataclass(frozen=True)
class Day:
    """One day's forecast, in the county's words (和风天气 gives Chinese text)."""

    day: date
    text_day: str
    text_night: str
    temp_min: int
    temp_max: int
    precip: float = 0.0
    wind_dir: str = ""
    wind_scale: str = ""  # "3-4" (级)

    @property
    def text(self) -> str:
        """小雨, or 多云转小雨 when night differs from day."""
        if not self.text_night or self.text_night == self.text_day:
            return self.text_day
        return f"{self.text_day}转{self.text_night}"

    @property
    def wind_max(self) -> int:
        digits = [int(p) for p in self.wind_scale.replace("～", "-").split("-") if p.strip().isdigit()]
        return max(digits, default=0)

    def to_json(self) -> dict[str, Any]:
        return {"day": self.day.isoformat(), "text_day": self.text_day, "text_night": self.text_night,
                "temp_min": self.temp_min, "temp_max": self.temp_max, "precip": self.precip,
                "wind_dir": self.wind_dir, "wind_scale": self.wind_scale}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Day:
        return cls(day=date.fromisoformat(data["day"]), text_day=data["text_day"], text_night=data["text_night"],
                   temp_min=int(data["temp_min"]), temp_max=int(data["temp_max"]),
                   precip=float(data.get("precip", 0.0)), wind_dir=data.get("wind_dir", ""),
                   wind_scale=data.get("wind_scale", ""))


@dataclass(frozen=True)
class Alert:
    """One official warning message. `id` is the provider's id of this message; an update or a
    cancellation is a new message naming the ones it replaces in `supersedes`."""

    id: str
    event: str  # 霜冻, 暴雨 … (the CMA event type's name)
    color: str  # blue | yellow | orange | red (other values: no CMA colour)
    headline: str
    description: str = ""
    sender: str = ""
    message_type: str = "alert"  # alert (new) | update | cancel
    supersedes: tuple[str, ...] = field(default=())
    issued_at: datetime | None = None
    expires_at: datetime | None = None

    @property
    def level(self) -> int:
        """1 (blue) … 4 (red); 0 for a colour outside the CMA scale."""
        return WARNING_LEVELS.index(self.color) + 1 if self.color in WARNING_LEVELS else 0


class Provider(Protocol):
    async def forecast(self, lat: float, lon: float) -> list[Day]:
        """Today and the next days (at least three), today first."""
        ...

    async def alerts(self, lat: float, lon: float) -> list[Alert]:
        """The warnings in force at that point now ([] when none)."""
        ...

    async def close(self) -> None: ...

