"""The weather feature's tables: the last forecast of each township (the 30-minute cache and the
outage fallback), the official warnings seen, and the broadcasts drafted from them."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from broadcasts.models import Broadcast


class Forecast(Model):
    """The newest forecast fetched for one township.

    Reused for weather.forecast_minutes, and shown with its time when the provider cannot be reached."""

    id = fields.IntField(primary_key=True)
    township = fields.CharField(max_length=50, unique=True)
    days: list[dict[str, Any]] = fields.JSONField(default=list)
    fetched_at = fields.DatetimeField()

    class Meta:
        table = "weather_forecast"


class WeatherAlert(Model):
    """One official warning message as seen for one township.

    (alert_id, township) is unique, so a warning polled again is never taken for a new one."""

    id = fields.IntField(primary_key=True)
    alert_id = fields.CharField(max_length=64)
    township = fields.CharField(max_length=50)
    event = fields.CharField(max_length=30)
    color = fields.CharField(max_length=16, default="", db_default="")
    headline = fields.CharField(max_length=200, default="", db_default="")
    description = fields.TextField(default="")
    sender = fields.CharField(max_length=100, default="", db_default="")
    message_type = fields.CharField(max_length=16, default="alert", db_default="alert")
    supersedes: list[str] = fields.JSONField(default=list)
    issued_at = fields.DatetimeField(null=True)
    expires_at = fields.DatetimeField(null=True)
    # active | superseded (an update replaced it) | cancelled (lifted) | ended (no longer listed)
    state = fields.CharField(max_length=16, default="active", db_default="active")
    seen_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "weather_alert"
        unique_together = (("alert_id", "township"),)
        indexes = (Index(fields=("state", "township"), name="idx_weather_alert_state"),)


class WarningBroadcast(Model):
    """A broadcast made from a warning, one per advice group and purpose.

    The group is the advice article matched to what people grow; the purpose is warning, or cancel for
    the 解除 message. Written before the broadcast, so two processes polling at once cannot both draft it."""

    id = fields.IntField(primary_key=True)
    alert_id = fields.CharField(max_length=64)
    purpose = fields.CharField(max_length=16, default="warning", db_default="warning")
    group = fields.CharField(max_length=100, default="", db_default="")  # the advice article's ref, or ""
    color = fields.CharField(max_length=16, default="", db_default="")
    townships: list[str] = fields.JSONField(default=list)
    broadcast: fields.ForeignKeyNullableRelation[Broadcast] = fields.ForeignKeyField(
        "models.Broadcast", related_name="weather_warnings", null=True, on_delete=fields.SET_NULL
    )
    broadcast_id: int | None
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "weather_warning_broadcast"
        unique_together = (("alert_id", "purpose", "group"),)
