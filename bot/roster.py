"""Import villagers from CSV (phone,name,township,village,crops,topics,channel): line-numbered errors,
good rows kept, existing phones updated."""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tortoise.transactions import in_transaction

from bot.models import CHANNELS, TOPICS, Subscriber, pack_set
from bot.phones import normalise_phone

COLUMNS = ("phone", "name", "township", "village", "crops", "topics", "channel")
BATCH = 500


@dataclass
class RosterReport:
    created: int = 0
    updated: int = 0
    errors: list[str] = field(default_factory=list)


def _split(value: str) -> list[str]:
    return [v.strip() for v in value.replace("；", ";").split(";") if v.strip()]


def parse_row(row: dict[str, str]) -> dict[str, Any]:
    phone = normalise_phone(row.get("phone") or "")
    if phone is None:
        raise ValueError(f"phone: not a mobile number: {row.get('phone')!r}")
    topics = _split(row.get("topics") or "")
    unknown = set(topics) - set(TOPICS)
    if unknown:
        raise ValueError(f"topics: unknown {', '.join(sorted(unknown))} (expected {', '.join(TOPICS)})")
    channel = (row.get("channel") or "sms").strip() or "sms"
    if channel not in CHANNELS:
        raise ValueError(f"channel: expected sms or wechat, got {channel!r}")
    return {
        "phone": phone, "name": (row.get("name") or "").strip()[:50],
        "township": (row.get("township") or "").strip()[:50], "village": (row.get("village") or "").strip()[:50],
        "crops": pack_set(_split(row.get("crops") or "")), "topics": pack_set(topics), "preferred_channel": channel,
    }


async def import_csv(path: Path) -> RosterReport:
    report = RosterReport()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError:
        report.errors.append(f"{path}:1: not UTF-8 text (save the sheet as CSV UTF-8)")
        return report
    reader = csv.DictReader(io.StringIO(text))
    missing = set(COLUMNS[:1]) - set(reader.fieldnames or [])
    if missing:
        report.errors.append(f"{path}:1: missing column {', '.join(sorted(missing))} (expected {','.join(COLUMNS)})")
        return report
    rows: dict[str, dict[str, Any]] = {}
    for row in reader:
        try:
            values = parse_row(row)
        except ValueError as exc:
            report.errors.append(f"{path}:{reader.line_num}: {exc}")
            continue
        rows[values["phone"]] = values
    items = list(rows.values())
    now = datetime.now(UTC)
    for start in range(0, len(items), BATCH):
        batch = items[start : start + BATCH]
        async with in_transaction():
            existing = {s.phone: s for s in await Subscriber.filter(phone__in=[r["phone"] for r in batch])}
            new = []
            for values in batch:
                sub = existing.get(values["phone"])
                if sub is None:
                    new.append(Subscriber(**values, consent_source="import", opted_in_at=now))
                    continue
                for key, value in values.items():
                    setattr(sub, key, value)
                await sub.save()
                report.updated += 1
            if new:
                await Subscriber.bulk_create(new)
                report.created += len(new)
    return report
