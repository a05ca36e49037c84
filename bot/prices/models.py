"""Market price tables: markets, commodities, price records, unmapped names and alerts."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from bot.models import Subscriber


class Market(Model):
    """Where prices are collected, with kind 田头 (farm gate), 批发 (wholesale) or 零售 (retail)."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=50, unique=True)
    township = fields.CharField(max_length=50, default="", db_default="")
    city = fields.CharField(max_length=50, default="", db_default="")
    kind = fields.CharField(max_length=8, default="批发", db_default="批发")

    class Meta:
        table = "market"


class Commodity(Model):
    """A standard product name, the other names people use for it, and the unit prices are kept in."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=30, unique=True)
    aliases = fields.CharField(max_length=300, default="", db_default="")  # pack_set()
    unit = fields.CharField(max_length=10, default="元/斤", db_default="元/斤")
    group = fields.CharField(max_length=10, default="", db_default="")

    class Meta:
        table = "commodity"


class PriceRecord(Model):
    """One price on one day at one market, in the commodity's standard unit. Prices far from the
    30-day median are held as suspect until an officer confirms them."""

    id = fields.IntField(primary_key=True)
    date = fields.DateField()
    market: fields.ForeignKeyRelation[Market] = fields.ForeignKeyField(
        "models.Market", related_name="prices", on_delete=fields.CASCADE
    )
    commodity: fields.ForeignKeyRelation[Commodity] = fields.ForeignKeyField(
        "models.Commodity", related_name="prices", on_delete=fields.CASCADE
    )
    market_id: int
    commodity_id: int
    price = fields.FloatField()  # yuan per the commodity's unit
    raw_price = fields.FloatField()
    raw_unit = fields.CharField(max_length=10)
    status = fields.CharField(max_length=12, default="published", db_default="published")  # published|suspect
    source = fields.CharField(max_length=100, default="", db_default="")
    recorded_by = fields.CharField(max_length=50, default="", db_default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "price_record"
        unique_together = (("date", "market_id", "commodity_id"),)
        indexes = (Index(fields=("commodity_id", "status", "date"), name="idx_price_commodity_date"),)


class UnmappedPrice(Model):
    """A price row naming a market or commodity we do not know: kept for an officer to map."""

    id = fields.IntField(primary_key=True)
    date = fields.DateField()
    market_name = fields.CharField(max_length=50)
    commodity_name = fields.CharField(max_length=30)
    raw_price = fields.FloatField()
    raw_unit = fields.CharField(max_length=10)
    source = fields.CharField(max_length=100, default="", db_default="")
    reason = fields.CharField(max_length=200)
    status = fields.CharField(max_length=12, default="open", db_default="open")  # open|mapped|dropped
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "unmapped_price"


class PriceAlert(Model):
    """A subscriber's price alert: above/below a threshold, or a move of pct percent. `armed` is
    false after an alert until the price falls back, so one crossing gives one alert."""

    id = fields.IntField(primary_key=True)
    subscriber: fields.ForeignKeyRelation[Subscriber] = fields.ForeignKeyField(
        "models.Subscriber", related_name="price_alerts", on_delete=fields.CASCADE
    )
    commodity: fields.ForeignKeyRelation[Commodity] = fields.ForeignKeyField(
        "models.Commodity", related_name="alerts", on_delete=fields.CASCADE
    )
    subscriber_id: int
    commodity_id: int
    kind = fields.CharField(max_length=8)  # above | below | change
    threshold = fields.FloatField()  # yuan per unit, or percent for change
    armed = fields.BooleanField(default=True, db_default=True)
    last_price = fields.FloatField(null=True)
    last_alert_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "price_alert"
        unique_together = (("subscriber_id", "commodity_id", "kind"),)
