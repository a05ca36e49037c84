"""Import villagers from CSV (phone,name,township,village,crops,topics,channel): line-numbered errors,
good rows kept, existing phones updated, opted-out people left opted out. The file is read by the
reader every import uses (content/tabular.py), in a worker thread; rows are saved in batches."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tortoise.transactions import in_transaction

from bot.models import CHANNELS, TOPICS, ConsentEvent, Subscriber, pack_set, unpack_set
from bot.phones import normalise_phone
from content import tabular
from content.vocab import vocabulary

COLUMNS = ("phone", "name", "township", "village", "crops", "topics", "channel")
# Officers' own sheets often have Chinese headers.
HEADER_ALIASES = {"手机号": "phone", "手机": "phone", "电话": "phone", "姓名": "name", "乡镇": "township",
                  "村": "village", "村组": "village", "作物": "crops", "种植作物": "crops", "主题": "topics",
                  "订阅主题": "topics", "渠道": "channel", "接收渠道": "channel"}
CHANNEL_ALIASES = {"短信": "sms", "微信": "wechat"}
FORMULA_STARTS = ("=", "+", "-", "@")
BATCH = 200  # rows per transaction, and how often progress is reported
TEXT_MAX = 50  # name, township, village: longer is refused, never cut
LABELS = {"phone": "手机号", "name": "姓名", "township": "乡镇", "village": "村", "crops": "作物", "topics": "主题",
          "channel": "渠道"}
WORD_SPLIT = re.compile(r"[;；]")
Progress = Callable[[int, int], Awaitable[None]]
# A bad row: the English message (str()) for the command line, .chinese for the console.
RowError = tabular.FieldError


@dataclass
class Problem:
    line: int
    message: str
    chinese: str


@dataclass
class RosterReport:
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    opted_out: int = 0  # rows naming someone who opted out: details kept, still opted out
    problems: list[Problem] = field(default_factory=list)
    name: str = ""  # the file, for the command line's "file:line: error"

    @property
    def errors(self) -> list[str]:
        return [f"{self.name}:{p.line}: {p.message}" for p in self.problems]

    def add(self, line: int, error: RowError) -> None:
        self.problems.append(Problem(line, str(error), error.chinese))

    def as_json(self) -> dict[str, Any]:
        return {"created": self.created, "updated": self.updated, "unchanged": self.unchanged,
                "opted_out": self.opted_out,
                "errors": [{"line": p.line, "error": p.chinese} for p in self.problems]}


def _words(row: Mapping[str, Any], key: str) -> list[str]:
    """'a;b', 'a；b' or ['a', 'b'] -> ['a', 'b']; RowError for another type."""
    return [_text(v) for v in tabular.text_list(row[key], key, label=LABELS[key], split=WORD_SPLIT)]


def crop_names(words: Iterable[str]) -> list[str]:
    """Crops under their standard names (洋芋 -> 马铃薯, content/dict/vocab.toml), so that targeting
    马铃薯 reaches everyone who grows it, whatever they called it; a word naming no known crop is kept."""
    vocab = vocabulary()
    return list(dict.fromkeys(vocab.crop(w) or w for w in words))


def parse_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """One villager's columns (a CSV row or a JSON object) -> Subscriber fields; RowError says what is
    wrong (a list where text belongs, text too long). A column the file does not have is left out (a
    known person keeps that detail); an empty cell clears it."""
    raw = tabular.text_value(row.get("phone"), "phone", 32, label=LABELS["phone"])
    phone = normalise_phone(raw)
    if phone is None:
        if not raw:
            raise RowError("phone: empty", "手机号为空")
        raise RowError(f"phone: not a mobile number: {raw!r}", f"手机号“{raw[:24]}”不是有效的手机号")
    return {"phone": phone, **parse_details(row)}


def parse_details(row: Mapping[str, Any]) -> dict[str, Any]:
    """Every column but the phone (parse_row's rules): what the console's edit form changes too."""
    values: dict[str, Any] = {}
    for key in ("name", "township", "village"):
        if key in row:
            values[key] = _text(tabular.text_value(row[key], key, TEXT_MAX, label=LABELS[key]))
    if "topics" in row:
        topics = _words(row, "topics")
        unknown = set(topics) - set(TOPICS)
        if unknown:
            raise RowError(f"topics: unknown {', '.join(sorted(unknown))} (expected {', '.join(TOPICS)})",
                           f"主题只能是{'、'.join(TOPICS)}，这一行写了“{'、'.join(sorted(unknown))[:40]}”")
        values["topics"] = pack_set(topics)
    if "channel" in row:
        channel = tabular.text_value(row["channel"], "channel", 20, label=LABELS["channel"]) or "sms"
        channel = CHANNEL_ALIASES.get(channel, channel.lower())
        if channel not in CHANNELS:
            raise RowError(f"channel: expected sms or wechat, got {channel!r}",
                           f"渠道只能是 sms（短信）或 wechat（微信），这一行写了“{channel[:20]}”")
        values["preferred_channel"] = channel
    if "crops" in row:
        values["crops"] = pack_set(crop_names(_words(row, "crops")))
        if len(values["crops"]) > 400:
            raise RowError("crops: too long (at most 400 characters)", "作物写得太多了（最多 400 个字）")
    return values


def _cell(text: str) -> str:
    # A spreadsheet runs a cell starting with = + - @ as a formula: a leading ' keeps it text.
    # A cell never spans lines (the import refuses that as an unclosed quote).
    text = " ".join(text.splitlines())
    return f"'{text}" if text[:1] in FORMULA_STARTS else text


def _text(value: Any) -> str:
    text = str(value or "").strip()
    return text[1:] if text[:1] == "'" and text[1:2] in FORMULA_STARTS else text


def to_row(subscriber: Subscriber, phone: str) -> list[str]:
    """A subscriber as a CSV row in COLUMNS order (import_bytes reads it back)."""
    return [phone, *(_cell(v) for v in (subscriber.name, subscriber.township, subscriber.village,
                                         ";".join(unpack_set(subscriber.crops)))),
            ";".join(unpack_set(subscriber.topics)), subscriber.preferred_channel]


def _people(rows: Iterable[tuple[int, Mapping[str, Any]]], report: RosterReport) -> list[dict[str, Any]]:
    """Check each row; the good ones as Subscriber fields, one per phone (the later line wins)."""
    people: dict[str, dict[str, Any]] = {}
    for line, row in rows:
        try:
            values = parse_row(row)
        except RowError as exc:
            report.add(line, exc)
            continue
        people.setdefault(values["phone"], {}).update(values)
    report.problems.sort(key=lambda p: p.line)
    return list(people.values())


def read(data: bytes) -> tuple[list[dict[str, Any]], RosterReport]:
    """A CSV file's bytes -> the people to save and a report of the bad lines. CPU only, no database:
    the import runs it in a worker thread, so a 100,000-row file never stalls the server."""
    report = RosterReport()
    sheet = tabular.read_csv(data, columns=COLUMNS, required=("phone",), aliases=HEADER_ALIASES)
    report.problems.extend(Problem(e.line, e.message, e.chinese) for e in sheet.errors)
    return _people(sheet.rows, report), report


async def import_bytes(data: bytes, *, source: str = "import", progress: Progress | None = None) -> RosterReport:
    """Import a CSV file with a header line; `progress(done, total)` after each batch saved."""
    people, report = await asyncio.to_thread(read, data)
    await save(people, source=source, progress=progress, report=report)
    return report


async def import_rows(rows: Iterable[tuple[int, Mapping[str, Any]]], *, source: str = "import",
                      progress: Progress | None = None, report: RosterReport | None = None) -> RosterReport:
    """Import (line number, columns) pairs, e.g. the API's JSON list."""
    report = report if report is not None else RosterReport()
    people = await asyncio.to_thread(_people, list(rows), report)
    await save(people, source=source, progress=progress, report=report)
    return report


async def save(people: list[dict[str, Any]], *, source: str, report: RosterReport,
               progress: Progress | None = None) -> None:
    """Save checked people in transactions of BATCH, giving the event loop a turn after each. New
    people get `source` as their consent and an opt-in event; known phones get their details
    updated, but their status is never changed."""
    if progress is not None:
        await progress(0, len(people))
    for start in range(0, len(people), BATCH):
        await _save(people[start : start + BATCH], source, report)
        if progress is not None:
            await progress(min(start + BATCH, len(people)), len(people))
        await asyncio.sleep(0)  # let /healthz and webhooks in between batches


async def _save(batch: list[dict[str, Any]], source: str, report: RosterReport) -> None:
    now = datetime.now(UTC)
    async with in_transaction():
        existing = {s.phone: s for s in await Subscriber.filter(phone__in=[r["phone"] for r in batch])}
        new = []
        for values in batch:
            sub = existing.get(values["phone"])
            if sub is None:
                new.append(Subscriber(**values, consent_source=source[:64], opted_in_at=now))
                continue
            if sub.status == "opted_out":
                report.opted_out += 1
            changed = [key for key, value in values.items() if getattr(sub, key) != value]
            if not changed:
                report.unchanged += 1
                continue
            for key in changed:
                setattr(sub, key, values[key])
            await sub.save(update_fields=[*changed, "updated_at"])
            report.updated += 1
        if new:
            await Subscriber.bulk_create(new)
            created = await Subscriber.filter(phone__in=[s.phone for s in new]).values("id", "preferred_channel")
            await ConsentEvent.bulk_create([
                ConsentEvent(subscriber_id=row["id"], action="opt_in", channel=row["preferred_channel"],
                             source=source[:64]) for row in created])
            report.created += len(new)


async def import_csv(path: Path) -> RosterReport:
    """The command line's import: the file's errors are reported as "path:line: error"."""
    report = await import_bytes(await asyncio.to_thread(path.read_bytes))
    report.name = str(path)
    return report
