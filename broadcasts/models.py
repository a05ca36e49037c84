"""Broadcast tables: what officers schedule, each firing of it, and one delivery row per recipient."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

from bot.labels import BROADCAST_KINDS, BROADCAST_STATES
from bot.models import Officer, Subscriber

KINDS = tuple(BROADCAST_KINDS)
STATES = tuple(BROADCAST_STATES)


class Broadcast(Model):
    """A message for an audience, on a schedule, approved by a supervisor before anything goes out."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=16)
    text = fields.TextField()
    article_ref = fields.CharField(max_length=100, null=True)
    audience: dict[str, Any] = fields.JSONField(default=dict)
    schedule: dict[str, Any] | None = fields.JSONField(null=True)
    spread_minutes = fields.IntField(default=0, db_default=0)
    state = fields.CharField(max_length=20, default="pending_approval", db_default="pending_approval")
    created_by: fields.ForeignKeyRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="broadcasts_created", on_delete=fields.RESTRICT
    )
    approved_by: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="broadcasts_approved", null=True, on_delete=fields.RESTRICT
    )
    created_by_id: int
    approved_by_id: int | None
    approved_at = fields.DatetimeField(null=True)  # "send when approved" means this moment, once
    reason = fields.CharField(max_length=500, default="", db_default="")  # why rejected or cancelled
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "broadcast"
        indexes = (Index(fields=("state", "id"), name="idx_broadcast_state"),)


class BroadcastRun(Model):
    """One firing of a broadcast (a recurring one fires many times). (broadcast, fire_at) is unique,
    so a firing can never be made twice, whichever process wakes up for it."""

    id = fields.IntField(primary_key=True)
    broadcast: fields.ForeignKeyRelation[Broadcast] = fields.ForeignKeyField(
        "models.Broadcast", related_name="runs", on_delete=fields.CASCADE
    )
    broadcast_id: int
    fire_at = fields.DatetimeField()
    state = fields.CharField(max_length=20, default="enqueuing", db_default="enqueuing")
    # enqueuing | sending | paused | done | cancelled | skipped (missed beyond the grace window)
    targeted = fields.IntField(default=0, db_default=0)
    text: str | None = fields.TextField(null=True)  # the broadcast's text as rendered for this firing (price digests)
    note = fields.CharField(max_length=300, default="", db_default="")
    created_at = fields.DatetimeField(auto_now_add=True)
    finished_at = fields.DatetimeField(null=True)

    class Meta:
        table = "broadcast_run"
        unique_together = (("broadcast_id", "fire_at"),)
        indexes = (Index(fields=("state", "id"), name="idx_run_state"),)


class Delivery(Model):
    """One recipient of one run. Written before any send, and `sending` is committed before the provider
    is called, so after a crash a row is either untouched, done, or known to need reconciling."""

    id = fields.BigIntField(primary_key=True)
    run: fields.ForeignKeyRelation[BroadcastRun] = fields.ForeignKeyField(
        "models.BroadcastRun", related_name="deliveries", on_delete=fields.CASCADE
    )
    subscriber: fields.ForeignKeyRelation[Subscriber] = fields.ForeignKeyField(
        "models.Subscriber", related_name="deliveries", on_delete=fields.CASCADE
    )
    run_id: int
    subscriber_id: int
    channel = fields.CharField(max_length=16)
    priority = fields.SmallIntField(default=10, db_default=10)  # lower goes first: replies before bulk
    state = fields.CharField(max_length=16, default="queued", db_default="queued")
    # queued | sending | sent | delivered | failed | skipped
    due_at = fields.DatetimeField()
    lease_until = fields.DatetimeField(null=True)
    claimed_by = fields.CharField(max_length=64, null=True)  # host:pid of the worker that sent it
    attempts = fields.SmallIntField(default=0, db_default=0)
    provider_id = fields.CharField(max_length=64, null=True)
    error_code = fields.CharField(max_length=32, null=True)
    error = fields.CharField(max_length=300, null=True)
    sent_at = fields.DatetimeField(null=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "delivery"
        unique_together = (("run_id", "subscriber_id"),)
        indexes = (
            Index(fields=("state", "priority", "due_at"), name="idx_delivery_claim"),
            Index(fields=("run_id", "state"), name="idx_delivery_run_state"),
            Index(fields=("provider_id",), name="idx_delivery_provider"),
            # the message log (bot/messagelog), newest first: by state, and one run's deliveries
            Index(fields=("state", "id"), name="idx_delivery_state_id"),
            Index(fields=("run_id", "id"), name="idx_delivery_run_id"),
        )


class RateBucket(Model):
    """Shared pacing per channel on PostgreSQL: the time the next message may go (GCRA)."""

    channel = fields.CharField(max_length=16, primary_key=True)
    tat = fields.DatetimeField()

    class Meta:
        table = "rate_bucket"
