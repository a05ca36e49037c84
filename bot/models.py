"""Shared core tables: villagers, their consent history, every message in or out, officers and webhook state."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

CHANNELS = ("sms", "wechat")
TOPICS = ("技术", "价格", "务工", "天气")  # 天气: the daily forecast digest (warnings reach everyone)


def pack_set(items: list[str] | set[str] | tuple[str, ...]) -> str:
    """Store a small set of words as ',a,b,' so `field__contains=',a,'` works on every backend."""
    words = sorted({w.strip() for w in items if w and w.strip()})
    return f",{','.join(words)}," if words else ""


def unpack_set(packed: str) -> list[str]:
    return [w for w in packed.split(",") if w]


class Subscriber(Model):
    """A villager: who they are, what they grow, what they want pushed, and their consent."""

    id = fields.IntField(primary_key=True)
    phone = fields.CharField(max_length=20, null=True, unique=True)  # E.164
    wechat_openid = fields.CharField(max_length=64, null=True, unique=True)
    name = fields.CharField(max_length=50, default="", db_default="")
    township = fields.CharField(max_length=50, default="", db_default="")
    village = fields.CharField(max_length=50, default="", db_default="")
    crops = fields.CharField(max_length=400, default="", db_default="")  # pack_set()
    topics = fields.CharField(max_length=100, default="", db_default="")  # pack_set() of TOPICS
    preferred_channel = fields.CharField(max_length=16, default="sms", db_default="sms")
    status = fields.CharField(max_length=16, default="active", db_default="active")  # active|opted_out
    consent_source = fields.CharField(max_length=64, default="", db_default="")
    opted_in_at = fields.DatetimeField(null=True)
    opted_out_at = fields.DatetimeField(null=True)
    last_inbound_at = fields.DatetimeField(null=True)
    # WeChat: whether they still follow the account, and customer-service texts sent to them since
    # their last message (WeChat allows a few inside the 48-hour window that message opens).
    wechat_followed = fields.BooleanField(default=False, db_default=False)
    wechat_cs_sent = fields.IntField(default=0, db_default=0)
    # Multi-step conversations (registration, "更多", numbered choices) keep their place here.
    dialog: dict[str, Any] = fields.JSONField(default=dict)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "subscriber"
        indexes = (
            # also the 首页's count of villagers by township and channel, read from this index alone
            Index(fields=("status", "township", "preferred_channel"), name="idx_subscriber_status_town_chan"),
            Index(fields=("status", "preferred_channel"), name="idx_subscriber_status_chan"),
        )

    @property
    def crop_list(self) -> list[str]:
        return unpack_set(self.crops)

    @property
    def topic_list(self) -> list[str]:
        return unpack_set(self.topics)

    @property
    def active(self) -> bool:
        return self.status == "active"


class ConsentEvent(Model):
    """Audit trail: every opt-in and opt-out, with where it came from and the words used."""

    id = fields.IntField(primary_key=True)
    subscriber: fields.ForeignKeyRelation[Subscriber] = fields.ForeignKeyField(
        "models.Subscriber", related_name="consent_events", on_delete=fields.CASCADE
    )
    subscriber_id: int
    action = fields.CharField(max_length=16)  # opt_in | opt_out
    channel = fields.CharField(max_length=16)
    source = fields.CharField(max_length=64)
    text = fields.CharField(max_length=200, default="", db_default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "consent_event"
        indexes = (Index(fields=("subscriber_id", "created_at"), name="idx_consent_sub_time"),)


class Message(Model):
    """One text in or out on any channel, inbound rows deduplicated by (channel, provider_id)."""

    id = fields.IntField(primary_key=True)
    direction = fields.CharField(max_length=3)  # in | out
    channel = fields.CharField(max_length=16)  # sms | wechat
    provider = fields.CharField(max_length=16)  # twilio | log | chat | wechat …
    provider_id = fields.CharField(max_length=64, null=True)
    address = fields.CharField(max_length=64)  # E.164 phone or WeChat openid
    subscriber: fields.ForeignKeyNullableRelation[Subscriber] = fields.ForeignKeyField(
        "models.Subscriber", related_name="messages", null=True, on_delete=fields.SET_NULL
    )
    subscriber_id: int | None
    reply_to: fields.ForeignKeyNullableRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name="replies", null=True, on_delete=fields.SET_NULL
    )
    reply_to_id: int | None
    body = fields.TextField()
    # in: processing | answered | failed;  out: queued | sending | sent | delivered | undelivered | failed
    status = fields.CharField(max_length=24)
    handler = fields.CharField(max_length=64, default="", db_default="")
    error_code = fields.CharField(max_length=32, null=True)
    error = fields.CharField(max_length=500, null=True)
    attempts = fields.IntField(default=0, db_default=0)  # provider calls made for an outbound row
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "message"
        unique_together = (("channel", "provider_id"),)
        indexes = (
            Index(fields=("subscriber_id", "created_at"), name="idx_message_sub_time"),
            Index(fields=("direction", "created_at"), name="idx_message_dir_time"),
            Index(fields=("direction", "id"), name="idx_message_dir_id"),  # the message log, newest first
        )


class MessageEvent(Model):
    """Each delivery state a provider reported for an outbound message, with its error code."""

    id = fields.IntField(primary_key=True)
    message: fields.ForeignKeyRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name="events", on_delete=fields.CASCADE
    )
    message_id: int
    status = fields.CharField(max_length=24)
    error_code = fields.CharField(max_length=32, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "message_event"
        indexes = (Index(fields=("message_id", "created_at"), name="idx_message_event_msg"),)


class AccessToken(Model):
    """A provider access token shared by every process (WeChat's must not be fetched per process)."""

    id = fields.IntField(primary_key=True)
    app_id = fields.CharField(max_length=64, unique=True)
    token = fields.CharField(max_length=1024)
    expires_at = fields.DatetimeField()
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "access_token"


class Officer(Model):
    """An extension officer console account, with role officer, supervisor or admin."""

    id = fields.IntField(primary_key=True)
    name = fields.CharField(max_length=50, unique=True)
    role = fields.CharField(max_length=16)
    password_hash = fields.CharField(max_length=200)
    active = fields.BooleanField(default=True, db_default=True)
    failed_logins = fields.IntField(default=0, db_default=0)
    locked_until = fields.DatetimeField(null=True)
    # Set when an admin opens the account or resets its password: the officer picks their own at next login.
    must_change_password = fields.BooleanField(default=False, db_default=False)
    # An account the system acts as (pushes), not a person: no password, hidden from the 账号 page.
    internal = fields.BooleanField(default=False, db_default=False)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "officer"


class ApiToken(Model):
    """A bearer token for the JSON API, of which only the SHA-256 is stored."""

    id = fields.IntField(primary_key=True)
    officer: fields.ForeignKeyRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="tokens", on_delete=fields.CASCADE
    )
    officer_id: int
    token_hash = fields.CharField(max_length=64, unique=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    last_used_at = fields.DatetimeField(null=True)
    revoked = fields.BooleanField(default=False, db_default=False)

    class Meta:
        table = "api_token"


class ConsoleSession(Model):
    """A logged-in console session: the cookie holds a random token, only its SHA-256 is stored."""

    id = fields.IntField(primary_key=True)
    token_hash = fields.CharField(max_length=64, unique=True)
    officer: fields.ForeignKeyRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="sessions", on_delete=fields.CASCADE
    )
    officer_id: int
    csrf_token = fields.CharField(max_length=64)
    created_at = fields.DatetimeField(auto_now_add=True)
    expires_at = fields.DatetimeField()
    ip = fields.CharField(max_length=64, default="", db_default="")

    class Meta:
        table = "console_session"


class AuditEvent(Model):
    """Who did what in the console or the API: logins, edits, approvals, replies, imports."""

    id = fields.IntField(primary_key=True)
    officer: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="audit_events", null=True, on_delete=fields.SET_NULL
    )
    officer_id: int | None
    officer_name = fields.CharField(max_length=50, default="", db_default="")
    action = fields.CharField(max_length=40)
    target = fields.CharField(max_length=100, default="", db_default="")
    detail = fields.TextField(default="")
    ip = fields.CharField(max_length=64, default="", db_default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "audit_event"
        indexes = (Index(fields=("created_at",), name="idx_audit_time"),)


class TemplateSend(Model):
    """One number of one domestic template SMS, written before the provider is called: the per-number
    daily limit counts these, receipts are matched (and deduplicated) and pulled through them."""

    id = fields.BigIntField(primary_key=True)
    provider = fields.CharField(max_length=16)  # aliyun
    phone = fields.CharField(max_length=20)  # E.164
    template = fields.CharField(max_length=32)
    out_id = fields.CharField(max_length=64)  # ours, echoed by the provider in receipts and send logs
    text_hash = fields.CharField(max_length=16)  # finds the send of a text again after a crash
    biz_id = fields.CharField(max_length=64, null=True)  # the provider's receipt id, once accepted
    provider_id = fields.CharField(max_length=64, null=True)  # what the Message or Delivery row holds
    state = fields.CharField(max_length=16, default="reserved", db_default="reserved")
    # reserved (outcome not known yet) | accepted | rejected (refused: nothing sent) | delivered | undelivered
    error_code = fields.CharField(max_length=32, null=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    reported_at = fields.DatetimeField(null=True)

    class Meta:
        table = "template_send"
        indexes = (
            Index(fields=("phone", "template", "created_at"), name="idx_template_send_quota"),
            Index(fields=("out_id", "phone"), name="idx_template_send_receipt"),
            Index(fields=("state", "created_at"), name="idx_template_send_state"),
        )


class SeenNonce(Model):
    """A webhook request's (timestamp, nonce) already accepted: refused if it comes again (replay).

    Shared by every web process. A WeChat plaintext signature does not cover the body, so a captured
    query string could carry a forged body. Rows are pruned once the timestamp is older than the clock
    skew a request may have (such a request is refused as stale anyway)."""

    id = fields.BigIntField(primary_key=True)
    channel = fields.CharField(max_length=16)  # wechat
    timestamp = fields.BigIntField()  # the request's, in Unix seconds
    nonce = fields.CharField(max_length=64)

    class Meta:
        table = "seen_nonce"
        unique_together = (("channel", "timestamp", "nonce"),)
        indexes = (Index(fields=("timestamp",), name="idx_seen_nonce_time"),)


class PushItem(Model):
    """A pushed item stored before it is acknowledged, then processed from here (bot/intake.py).

    An Alibaba Cloud reply or receipt (a push's items go in one insert), or a WeChat message answered
    "success" at once. A process holds the rows it works on until `lease_until`; rows left unprocessed
    by a process that died are taken up again."""

    id = fields.BigIntField(primary_key=True)
    provider = fields.CharField(max_length=16)  # aliyun | wechat
    kind = fields.CharField(max_length=16)  # up | report | ask
    key = fields.CharField(max_length=64)  # the provider's id for it: pushed twice, stored once
    payload: dict[str, Any] = fields.JSONField()
    batch = fields.CharField(max_length=32)  # the push, or the sweep, that holds it now
    lease_until = fields.DatetimeField(null=True)
    attempts = fields.SmallIntField(default=0, db_default=0)
    error = fields.CharField(max_length=300, null=True)
    received_at = fields.DatetimeField(auto_now_add=True)
    processed_at = fields.DatetimeField(null=True)

    class Meta:
        table = "push_item"
        unique_together = (("provider", "key"),)
        indexes = (
            Index(fields=("processed_at", "lease_until"), name="idx_push_item_pending"),
            Index(fields=("batch",), name="idx_push_item_batch"),
            Index(fields=("received_at",), name="idx_push_item_received"),
        )


class DashboardDay(Model):
    """The 首页's numbers of one county day that can no longer change (bot/web/dashboard.py): counted
    once, so the page counts only the days still open. `part` is "inbound" (texts in, by handler and
    by crop named) or "outbound" (texts out and deliveries, by outcome); `basis` names how they were
    counted (time zone, crop names): a day counted another way is counted again."""

    id = fields.IntField(primary_key=True)
    day = fields.DateField()
    part = fields.CharField(max_length=16)
    basis = fields.CharField(max_length=32)
    numbers: dict[str, Any] = fields.JSONField()
    counted_at = fields.DatetimeField()

    class Meta:
        table = "dashboard_day"
        unique_together = (("day", "part"),)
