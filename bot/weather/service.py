"""Forecasts for a township: from the stored one while it is fresh (weather.forecast_minutes), else from
the provider; when the provider fails, the last one stored with its time. Also the words villagers read
(one SMS, or three days on WeChat) and the {天气} placeholder of daily digests."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, tzinfo

from aiohttp import web
from tortoise.exceptions import IntegrityError

from bot.config import Config
from bot.weather import places
from bot.weather.models import Forecast
from bot.weather.provider import Day, Provider, ProviderError
from bot.weather.qweather import QWeather

log = logging.getLogger("nongbot.weather")
PROVIDER: web.AppKey[Provider] = web.AppKey("weather_provider")
DOWN = "天气服务暂时连不上，请稍后再问，或拨打12121听本地预报。"
DAY_NAMES = ("今天", "明天", "后天")
STALE_AFTER = timedelta(days=2)  # an older stored forecast says nothing useful any more


def make_provider(config: Config) -> Provider | None:
    """The configured provider, or None when weather.provider is "" (off)."""
    if config.weather.provider == "qweather":
        return QWeather(config.weather)
    return None


def enabled(config: Config) -> bool:
    return bool(config.weather.provider)


@dataclass(frozen=True)
class Outlook:
    """What we know for a township: its days (today first), when they were fetched, and whether the
    provider failed just now (then the days are the last ones stored, or none)."""

    township: places.Township
    days: tuple[Day, ...]
    fetched_at: datetime | None
    down: bool = False


async def _stored(name: str) -> Forecast | None:
    return await Forecast.get_or_none(township=name)


async def outlook(app: web.Application, config: Config, town: places.Township) -> Outlook:
    """Fresh enough from the database, else asked for; never raises for the provider's troubles."""
    now = datetime.now(UTC)
    row = await _stored(town.name)
    if row is not None and now - row.fetched_at < timedelta(minutes=config.weather.forecast_minutes):
        return Outlook(town, tuple(Day.from_json(d) for d in row.days), row.fetched_at)
    provider = app.get(PROVIDER)
    temporary = provider is None
    if provider is None:  # an app built without this feature's setup (the pipeline's quick test app)
        provider = make_provider(config)
    try:
        if provider is None:
            raise ProviderError("weather provider off")
        days = await provider.forecast(town.lat, town.lon)
    except ProviderError as exc:
        log.warning("forecast unavailable: %s", exc, extra={"township": town.name})
        if row is None or now - row.fetched_at > STALE_AFTER:
            return Outlook(town, (), None, down=True)
        return Outlook(town, tuple(Day.from_json(d) for d in row.days), row.fetched_at, down=True)
    finally:
        if temporary and provider is not None:
            await provider.close()
    stored = {"days": [d.to_json() for d in days], "fetched_at": now}
    try:
        await Forecast.update_or_create(township=town.name, defaults=stored)
    except IntegrityError:  # another process stored the same township at the same moment
        await Forecast.filter(township=town.name).update(**stored)
    return Outlook(town, tuple(days), now)


def _label(day: date, today: date) -> str:
    offset = (day - today).days
    return DAY_NAMES[offset] if 0 <= offset < len(DAY_NAMES) else f"{day.month}月{day.day}日"


def asked_day(text: str) -> int:
    """Which day the villager asks about: 0 today, 1 tomorrow (the default), 2 the day after."""
    if "后天" in text:
        return 2
    if any(w in text for w in ("今天", "今晚", "今儿", "今日", "今夜", "现在", "这会")):
        return 0
    return 1


def hint_for(days: list[Day], channel: str) -> str:
    """The first rule of content/weather/hints.toml that fits the days given (the asked one first)."""
    for rule in places.hints():
        for d in days:
            words = any(w in d.text for w in rule.words)
            numbers = ((rule.min_at_most is not None and d.temp_min <= rule.min_at_most)
                       or (rule.max_at_least is not None and d.temp_max >= rule.max_at_least)
                       or (rule.wind_at_least is not None and d.wind_max >= rule.wind_at_least)
                       or (rule.precip_at_least is not None and d.precip >= rule.precip_at_least))
            if words or numbers:
                return rule.wechat if channel == "wechat" else rule.sms
    return ""


def reply_text(look: Outlook, channel: str, today: date, question: str = "", tz: tzinfo | None = None) -> str:
    """「关防乡 明天 小雨 3～9℃，后天 多云。有雨别打药…」 (SMS) or three days (WeChat); with the time of
    the forecast when the provider is down; the honest 「天气服务暂时连不上」 when nothing is known."""
    days = [d for d in look.days if d.day >= today]
    if not days:
        return DOWN
    if channel == "wechat":
        lines = [f"{look.township.name}天气预报："]
        for d in days[:3]:
            wind = f"，{d.wind_dir}{d.wind_scale}级" if d.wind_dir and d.wind_scale else ""
            lines.append(f"{_label(d.day, today)}（{d.day.month}月{d.day.day}日）{d.text}，"
                         f"{d.temp_min}～{d.temp_max}℃{wind}")
        text = "\n".join(lines)
        hint = hint_for(days[:3], channel)
        if hint:
            text += f"\n{hint}"
    else:
        wanted = min(asked_day(question), len(days) - 1)
        first = days[wanted]
        text = f"{look.township.name} {_label(first.day, today)} {first.text} {first.temp_min}～{first.temp_max}℃"
        shown = [first]
        if wanted + 1 < len(days):
            following = days[wanted + 1]
            text += f"，{_label(following.day, today)} {following.text}"
            shown.append(following)
        text += "。"
        hint = hint_for(shown, channel)
        text += hint
    if look.down and look.fetched_at is not None:
        when = look.fetched_at.astimezone(tz)
        text = f"天气服务暂时连不上，这是{when.month}月{when.day}日{when:%H:%M}的预报：" + text
    return text


async def forecast_reply(app: web.Application, config: Config, town: places.Township, channel: str,
                         question: str = "") -> str:
    look = await outlook(app, config, town)
    return reply_text(look, channel, datetime.now(config.tz).date(), question, config.tz)


async def digest(arg: str, today: date) -> str:
    """{天气:关防乡} in a broadcast: that township's forecast for today and tomorrow, from the stored
    forecast (the poller keeps it fresh; placeholders have no app to ask the provider with). {天气}
    alone is the first township of the file (the county seat)."""
    town = places.find(arg) if arg else (places.townships() or (None,))[0]
    if town is None:
        return f"（没有“{arg}”的天气预报）"
    row = await _stored(town.name)
    if row is None or datetime.now(UTC) - row.fetched_at > STALE_AFTER:
        return f"{town.name}天气预报暂时没取到，可拨打12121。"
    days = [d for d in (Day.from_json(x) for x in row.days) if d.day >= today][:2]
    if not days:
        return f"{town.name}天气预报暂时没取到，可拨打12121。"
    parts = [f"{_label(d.day, today)}{d.text}{d.temp_min}～{d.temp_max}℃" for d in days]
    hint = hint_for(days, "sms")
    return f"{town.name}" + "，".join(parts) + "。" + hint
