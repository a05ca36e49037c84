"""The message log's one table: each failed message an officer sent again, so it is never sent twice."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.models import Model

if TYPE_CHECKING:
    from bot.models import Officer


class Resend(Model):
    """A failed outbound message sent again by an officer, as a one-off push.

    kind: message (a Message row) or delivery (a broadcast's Delivery row). (kind, source_id) is unique:
    the row is written before the push, so a second click, officer or process finds it and sends nothing."""

    id = fields.IntField(primary_key=True)
    kind = fields.CharField(max_length=16)  # message | delivery
    source_id = fields.BigIntField()
    subscriber_id = fields.IntField(null=True)
    broadcast_id = fields.IntField(null=True)  # the push that carries it again
    officer: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="resends", null=True, on_delete=fields.SET_NULL
    )
    officer_id: int | None
    officer_name = fields.CharField(max_length=50, default="", db_default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "message_resend"
        unique_together = (("kind", "source_id"),)
