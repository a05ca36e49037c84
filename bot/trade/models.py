"""The supply-and-demand feature's tables: buyers officers register, listings (sell or buy), the matches
proposed between them with each side's answer, the outcomes villagers report, and the block list."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from bot.models import Subscriber


class TradeBuyer(Model):
    """A cooperative, trader or processor an officer registered: what it buys, where, how much."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=100)
    kind = fields.CharField(max_length=20, default="", db_default="")  # 合作社 / 经纪人 / 加工厂 …
    phone = fields.CharField(max_length=20, unique=True)  # E.164
    township = fields.CharField(max_length=50, default="", db_default="")
    commodities = fields.CharField(max_length=300, default="", db_default="")  # pack_set() of standard names
    areas = fields.CharField(max_length=300, default="", db_default="")  # pack_set() of townships ("" = all)
    quantity = fields.FloatField(default=0.0, db_default=0.0)  # per commodity, in its unit (0 = any)
    price = fields.FloatField(null=True)  # offered 元 per unit, if said
    verified = fields.BooleanField(default=False, db_default=False)
    active = fields.BooleanField(default=True, db_default=True)
    subscriber: fields.ForeignKeyNullableRelation[Subscriber] = fields.ForeignKeyField(
        "models.Subscriber", related_name="trade_buyers", null=True, on_delete=fields.SET_NULL)
    subscriber_id: int | None
    created_by = fields.CharField(max_length=50, default="", db_default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "trade_buyer"


class TradeListing(Model):
    """One thing a villager (or a registered buyer) sells or wants: numbered per poster (取消 1)."""

    id = fields.IntField(primary_key=True)
    subscriber: fields.ForeignKeyRelation[Subscriber] = fields.ForeignKeyField(
        "models.Subscriber", related_name="trade_listings", on_delete=fields.CASCADE)
    subscriber_id: int
    buyer: fields.ForeignKeyNullableRelation[TradeBuyer] = fields.ForeignKeyField(
        "models.TradeBuyer", related_name="listings", null=True, on_delete=fields.SET_NULL)
    buyer_id: int | None
    number = fields.IntField()  # the poster's own number for it
    side = fields.CharField(max_length=4)  # sell | buy
    commodity = fields.CharField(max_length=30)
    quantity = fields.FloatField()
    unit = fields.CharField(max_length=8)  # 斤 头 只 箱 …
    price = fields.FloatField(null=True)  # 元 per price_unit
    price_unit = fields.CharField(max_length=8, default="", db_default="")
    township = fields.CharField(max_length=50, default="", db_default="")
    village = fields.CharField(max_length=50, default="", db_default="")
    grade = fields.CharField(max_length=30, default="", db_default="")
    available = fields.CharField(max_length=30, default="", db_default="")
    contact = fields.CharField(max_length=20)  # E.164, shown to the other side only after both agree
    text = fields.CharField(max_length=200, default="", db_default="")  # what they wrote
    # pending (an officer looks first) | open | closed (an officer) | cancelled (取消) | expired | rejected
    state = fields.CharField(max_length=10, default="open", db_default="open")
    expires_on = fields.DateField()
    expiry_told = fields.BooleanField(default=False, db_default=False)
    created_on = fields.DateField()  # county date, for the posts-a-day limit
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "trade_listing"
        unique_together = (("subscriber", "number"),)
        indexes = (Index(fields=("state", "commodity", "side"), name="idx_trade_listing_open"),)


class TradeMatch(Model):
    """A sell and a buy listing proposed to each other, with each side's answer (yes/no) and the outcome."""

    id = fields.IntField(primary_key=True)
    sell: fields.ForeignKeyRelation[TradeListing] = fields.ForeignKeyField(
        "models.TradeListing", related_name="sell_matches", on_delete=fields.CASCADE)
    sell_id: int
    buy: fields.ForeignKeyRelation[TradeListing] = fields.ForeignKeyField(
        "models.TradeListing", related_name="buy_matches", on_delete=fields.CASCADE)
    buy_id: int
    score = fields.IntField()
    reasons = fields.CharField(max_length=200)  # why, in plain words
    market_price = fields.FloatField(null=True)  # the market price when proposed
    # proposed -> exchanged (both agreed) | declined | expired
    state = fields.CharField(max_length=10, default="proposed", db_default="proposed")
    sell_answer = fields.CharField(max_length=3, default="", db_default="")  # "" | yes | no
    buy_answer = fields.CharField(max_length=3, default="", db_default="")
    proposed_on = fields.DateField()
    proposed_at = fields.DatetimeField(auto_now_add=True)
    exchanged_at = fields.DatetimeField(null=True)
    outcome_asked_at = fields.DatetimeField(null=True)

    class Meta:
        table = "trade_match"
        unique_together = (("sell", "buy"),)
        indexes = (Index(fields=("state", "proposed_on"), name="idx_trade_match_state"),)


class TradeOutcome(Model):
    """What one side answered to 成交了吗: a deal at a price, or none. The deals are the 成交价 series."""

    id = fields.IntField(primary_key=True)
    match: fields.ForeignKeyRelation[TradeMatch] = fields.ForeignKeyField(
        "models.TradeMatch", related_name="outcomes", on_delete=fields.CASCADE)
    match_id: int
    side = fields.CharField(max_length=4)
    dealt = fields.BooleanField()
    price = fields.FloatField(null=True)  # 元 per unit (the sell listing's price unit)
    commodity = fields.CharField(max_length=30)
    unit = fields.CharField(max_length=8)
    township = fields.CharField(max_length=50, default="", db_default="")  # the seller's
    reported_on = fields.DateField()
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "trade_outcome"
        unique_together = (("match", "side"),)
        indexes = (Index(fields=("commodity", "reported_on"), name="idx_trade_outcome_series"),)


class TradeBlock(Model):
    """A villager whose posts are refused (fraud, abuse), set by an officer."""

    id = fields.IntField(primary_key=True)
    subscriber: fields.OneToOneRelation[Subscriber] = fields.OneToOneField(
        "models.Subscriber", related_name="trade_block", on_delete=fields.CASCADE)
    subscriber_id: int
    reason = fields.CharField(max_length=100, default="", db_default="")
    created_by = fields.CharField(max_length=50, default="", db_default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "trade_block"
