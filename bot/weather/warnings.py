"""The poller: every weather.poll_seconds, the warnings in force for each township. A warning seen
for the first time drafts its broadcasts (push.py) once for all the townships it covers; one polled
again is nothing new; an update replaces the warning it names and is pushed again only when its
colour rose; a cancellation lifts it; a warning no longer listed has ended. Stale forecasts are
refreshed on the way, so the {天气} digests have fresh ones."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from aiohttp import web
from tortoise.exceptions import IntegrityError

from bot.config import Config
from bot.keys import CONFIG
from bot.weather import places, push, service
from bot.weather.models import Forecast, WeatherAlert
from bot.weather.provider import Alert, Provider, ProviderError

log = logging.getLogger("nongbot.weather")
PREFETCH_AFTER = timedelta(hours=3)  # forecasts older than this are fetched again by the poller


@dataclass
class Round:
    """What one polling round did (logged, and returned to tests and the console)."""

    new: list[str] = field(default_factory=list)  # alert ids first seen now
    drafted: int = 0
    failed: list[str] = field(default_factory=list)  # townships the provider did not answer for


async def poll(app: web.Application) -> Round:
    config: Config = app[CONFIG]
    provider = app.get(service.PROVIDER)
    temporary = provider is None
    provider = provider or service.make_provider(config)
    if provider is None:
        return Round()
    try:
        return await _poll(app, config, provider)
    finally:
        if temporary:
            await provider.close()


async def _poll(app: web.Application, config: Config, provider: Provider) -> Round:
    done = Round()
    fresh: dict[str, tuple[Alert, list[str]]] = {}
    for town in places.townships(config.weather.townships):
        try:
            alerts = await provider.alerts(town.lat, town.lon)
        except ProviderError as exc:
            log.warning("warnings unavailable: %s", exc, extra={"township": town.name})
            done.failed.append(town.name)
            continue
        for alert in alerts:
            try:
                await WeatherAlert.create(
                    alert_id=alert.id, township=town.name, event=alert.event[:30], color=alert.color[:16],
                    headline=alert.headline[:200], description=alert.description, sender=alert.sender[:100],
                    message_type=alert.message_type[:16], supersedes=list(alert.supersedes),
                    issued_at=alert.issued_at, expires_at=alert.expires_at,
                    state="cancelled" if alert.message_type == "cancel" else "active")
            except IntegrityError:
                continue  # seen before: nothing new
            fresh.setdefault(alert.id, (alert, []))[1].append(town.name)
        listed = [a.id for a in alerts]
        await WeatherAlert.filter(township=town.name, state="active").exclude(alert_id__in=listed).update(state="ended")
        await _prefetch(app, config, town)
    for alert, towns in fresh.values():
        done.new.append(alert.id)
        done.drafted += await _handle(config, alert, towns)
    await push.expedite(config)
    if done.new or done.failed:
        log.info("weather warnings polled", extra={"new": len(done.new), "drafted": done.drafted,
                                                   "failed": len(done.failed)})
    return done


async def _handle(config: Config, alert: Alert, towns: list[str]) -> int:
    replaced = WeatherAlert.filter(alert_id__in=list(alert.supersedes), township__in=towns)
    previous = await replaced.all()
    if alert.message_type == "cancel":
        await replaced.update(state="cancelled")
        if config.weather.send_cancellations and previous:
            await push.cancellation(config, alert, sorted({p.alert_id for p in previous}), towns)
        return 0
    if previous:
        await replaced.update(state="superseded")
        if max(push.level(p.color) for p in previous) >= alert.level:
            return 0  # the same warning re-issued or eased: those who got it need no second message
    return len(await push.draft(config, alert, towns))


async def _prefetch(app: web.Application, config: Config, town: places.Township) -> None:
    row = await Forecast.get_or_none(township=town.name)
    if row is None or datetime.now(UTC) - row.fetched_at > PREFETCH_AFTER:
        await service.outlook(app, config, town)


async def expedite(app: web.Application) -> int:
    return await push.expedite(app[CONFIG])
