"""Who a broadcast reaches: filters over subscribers, a cost preview, and recipients streamed in batches."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass, fields
from datetime import UTC, datetime
from typing import Any

from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from bot import sandbox
from bot.config import Config
from bot.models import CHANNELS, Subscriber
from bot.sms import segments
from content.vocab import vocabulary


class AudienceError(ValueError):
    """An audience filter that cannot be understood; the message names the field."""


@dataclass(frozen=True)
class Audience:
    townships: tuple[str, ...] = ()
    villages: tuple[str, ...] = ()
    crops: tuple[str, ...] = ()
    topics: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    subscriber_ids: tuple[int, ...] = ()
    registered_after: datetime | None = None
    registered_before: datetime | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> Audience:
        data = data or {}
        if not isinstance(data, dict):
            raise AudienceError("audience: expected an object of filters")
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise AudienceError(f"audience: unknown filter {', '.join(sorted(unknown))}")
        values: dict[str, Any] = {}
        for name in ("townships", "villages", "crops", "topics", "channels"):
            items = data.get(name) or []
            if not isinstance(items, list) or not all(isinstance(i, str) for i in items):
                raise AudienceError(f"audience.{name}: expected a list of strings")
            values[name] = tuple(i.strip() for i in items if i.strip())
        # 洋芋 targets whoever grows 马铃薯: villagers' crops are stored under their standard names.
        values["crops"] = tuple(dict.fromkeys(vocabulary().crop(c) or c for c in values["crops"]))
        bad = set(values["channels"]) - set(CHANNELS)
        if bad:
            raise AudienceError(f"audience.channels: unknown channel {', '.join(sorted(bad))}")
        ids = data.get("subscriber_ids") or []
        if not isinstance(ids, list) or not all(isinstance(i, int) for i in ids):
            raise AudienceError("audience.subscriber_ids: expected a list of integers")
        values["subscriber_ids"] = tuple(ids)
        for name in ("registered_after", "registered_before"):
            if data.get(name):
                try:
                    moment = datetime.fromisoformat(str(data[name]))
                    # In UTC when it has a zone: SQLite compares the stored UTC text (a +08:00 bound is 8 h off).
                    values[name] = moment.astimezone(UTC) if moment.tzinfo else moment
                except ValueError:
                    raise AudienceError(f"audience.{name}: expected an ISO date or time") from None
        return cls(**values)

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if isinstance(value, tuple):
                out[f.name] = list(value)
            elif isinstance(value, datetime):
                out[f.name] = value.isoformat()
        return out

    @property
    def allowed_channels(self) -> tuple[str, ...]:
        return self.channels or CHANNELS


def _any_of(field: str, words: tuple[str, ...]) -> Q:
    query = Q()
    for word in words:
        query |= Q(**{f"{field}__contains": f",{word},"})
    return query


def matching(audience: Audience) -> QuerySet[Subscriber]:
    """Active subscribers the filters select; opted-out people and the simulator's sandbox villagers
    are never included."""
    query = Subscriber.filter(sandbox.real(), status="active")
    if audience.townships:
        query = query.filter(township__in=audience.townships)
    if audience.villages:
        query = query.filter(village__in=audience.villages)
    if audience.crops:
        query = query.filter(_any_of("crops", audience.crops))
    if audience.topics:
        query = query.filter(_any_of("topics", audience.topics))
    if audience.subscriber_ids:
        query = query.filter(id__in=audience.subscriber_ids)
    if audience.registered_after:
        query = query.filter(created_at__gte=audience.registered_after)
    if audience.registered_before:
        query = query.filter(created_at__lt=audience.registered_before)
    reachable = Q()
    if "sms" in audience.allowed_channels:
        reachable |= Q(phone__isnull=False)
    if "wechat" in audience.allowed_channels:
        reachable |= Q(wechat_openid__isnull=False, wechat_followed=True)
    return query.filter(reachable)


def channel_for(row: dict[str, Any], allowed: tuple[str, ...]) -> str | None:
    """Their preferred channel when allowed and reachable, else another allowed one."""
    reachable = {
        "sms": row["phone"] is not None,
        "wechat": row["wechat_openid"] is not None and bool(row["wechat_followed"]),
    }
    order = [row["preferred_channel"], *[c for c in CHANNELS if c != row["preferred_channel"]]]
    return next((c for c in order if c in allowed and reachable.get(c)), None)


COLUMNS = ("id", "phone", "wechat_openid", "wechat_followed", "preferred_channel")


async def recipients(audience: Audience, batch: int = 1000) -> AsyncIterator[list[tuple[int, str]]]:
    """(subscriber id, channel) in batches, by id (keyset pagination: never all in memory)."""
    last = 0
    while True:
        rows = await matching(audience).filter(id__gt=last).order_by("id").limit(batch).values(*COLUMNS)
        if not rows:
            return
        last = rows[-1]["id"]
        chosen = [(r["id"], c) for r in rows if (c := channel_for(r, audience.allowed_channels))]
        if chosen:
            yield chosen


async def preview(audience: Audience, text: str, config: Config) -> dict[str, Any]:
    by_channel = dict.fromkeys(audience.allowed_channels, 0)
    async for batch in recipients(audience):
        for _, channel in batch:
            by_channel[channel] += 1
    per_sms = segments(config.sms.signature + text)
    total = sum(by_channel.values())
    return {
        "recipients": total,
        "by_channel": by_channel,
        "sms_segments": per_sms,
        "sms_segments_total": per_sms * by_channel.get("sms", 0),
        "estimated_cost_yuan": round(per_sms * by_channel.get("sms", 0) * config.sms.cost_per_segment, 2),
    }
