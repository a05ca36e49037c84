"""Moments in a county's time zone compare as instants on SQLite too (it compares stored text)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from tortoise import connections

from bot.models import Message

pytestmark = pytest.mark.db
COUNTY = ZoneInfo("Asia/Shanghai")


async def test_a_bound_in_the_county_zone_is_the_same_instant(app: object) -> None:
    """Regression: the message log's day filter found nothing between 00:00 and 08:00 county time on SQLite."""
    sent = datetime(2026, 12, 6, 16, 2, tzinfo=UTC)  # 00:02 on 7 December in the county
    await Message.create(direction="in", channel="sms", provider="t", address="+8613800138000", body="x",
                         status="answered", created_at=sent)
    midnight = datetime(2026, 12, 7, tzinfo=COUNTY)
    assert await Message.filter(created_at__gte=midnight, created_at__lt=midnight + timedelta(days=1)).count() == 1
    assert await Message.filter(created_at__lt=midnight).count() == 0


async def test_an_update_in_the_county_zone_is_stored_as_the_same_instant(app: object) -> None:
    message = await Message.create(direction="in", channel="sms", provider="t", address="+8613800138000",
                                   body="x", status="answered")
    later = datetime(2026, 12, 7, 9, 30, tzinfo=COUNTY)
    await Message.filter(id=message.id).update(updated_at=later)
    assert await Message.filter(updated_at__gte=datetime(2026, 12, 7, 1, 30, tzinfo=UTC)).count() == 1
    assert await Message.filter(updated_at__gt=datetime(2026, 12, 7, 1, 30, tzinfo=UTC)).count() == 0
    [row] = await connections.get("default").execute_query_dict("SELECT updated_at FROM message")
    stored = row["updated_at"]
    moment = stored if isinstance(stored, datetime) else datetime.fromisoformat(stored)
    assert moment == later
