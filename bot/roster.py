"""Import villagers from CSV (phone,name,township,village,crops,topics,channel): line-numbered errors,
good rows kept, existing phones updated, opted-out people left opted out."""

from __future__ import annotations

import csv
import io
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from tortoise.transactions import in_transaction

from bot.models import CHANNELS, TOPICS, ConsentEvent, Subscriber, pack_set, unpack_set
from bot.phones import normalise_phone

COLUMNS = ("phone", "name", "township", "village", "crops", "topics", "channel")
# Officers' own sheets often have Chinese headers.
HEADER_ALIASES = {"手机号": "phone", "手机": "phone", "电话": "phone", "姓名": "name", "乡镇": "township",
                  "村": "village", "村组": "village", "作物": "crops", "主题": "topics", "渠道": "channel"}
CHANNEL_ALIASES = {"短信": "sms", "微信": "wechat"}
FORMULA_STARTS = ("=", "+", "-", "@")
BATCH = 200  # rows per transaction, and how often progress is reported
Progress = Callable[[int, int], Awaitable[None]]


class RowError(ValueError):
    """A bad row: the English message for the command line, the Chinese one for the console."""

    def __init__(self, message: str, chinese: str) -> None:
        super().__init__(message)
        self.chinese = chinese


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


def _words(value: Any) -> list[str]:
    """'a;b', 'a；b' or ['a', 'b'] -> ['a', 'b']."""
    if isinstance(value, list | tuple):
        items = [str(v) for v in value]
    else:
        items = str(value or "").replace("；", ";").split(";")
    return [_text(v) for v in items if v.strip()]


def parse_row(row: Mapping[str, Any]) -> dict[str, Any]:
    """One villager's columns -> Subscriber fields; RowError says what is wrong. A column the file
    does not have is left out (a known person keeps that detail); an empty cell clears it."""
    raw = str(row.get("phone") or "").strip()
    phone = normalise_phone(raw)
    if phone is None:
        if not raw:
            raise RowError("phone: empty", "手机号为空")
        raise RowError(f"phone: not a mobile number: {raw!r}", f"手机号“{raw[:24]}”不是有效的手机号")
    values: dict[str, Any] = {"phone": phone}
    for key in ("name", "township", "village"):
        if key in row:
            values[key] = _text(row[key])[:50]
    if "topics" in row:
        topics = _words(row["topics"])
        unknown = set(topics) - set(TOPICS)
        if unknown:
            raise RowError(f"topics: unknown {', '.join(sorted(unknown))} (expected {', '.join(TOPICS)})",
                           f"主题只能是{'、'.join(TOPICS)}，这一行写了“{'、'.join(sorted(unknown))[:40]}”")
        values["topics"] = pack_set(topics)
    if "channel" in row:
        channel = str(row["channel"] or "").strip() or "sms"
        channel = CHANNEL_ALIASES.get(channel, channel.lower())
        if channel not in CHANNELS:
            raise RowError(f"channel: expected sms or wechat, got {channel!r}",
                           f"渠道只能是 sms（短信）或 wechat（微信），这一行写了“{channel[:20]}”")
        values["preferred_channel"] = channel
    if "crops" in row:
        values["crops"] = pack_set(_words(row["crops"]))
        if len(values["crops"]) > 400:
            raise RowError("crops: too long (at most 400 characters)", "作物写得太多了（最多 400 个字）")
    return values


def _cell(text: str) -> str:
    # A spreadsheet runs a cell starting with = + - @ as a formula: a leading ' keeps it text.
    return f"'{text}" if text[:1] in FORMULA_STARTS else text


def _text(value: Any) -> str:
    text = str(value or "").strip()
    return text[1:] if text[:1] == "'" and text[1:2] in FORMULA_STARTS else text


def to_row(subscriber: Subscriber, phone: str) -> list[str]:
    """A subscriber as a CSV row in COLUMNS order (import_text reads it back)."""
    return [phone, *(_cell(v) for v in (subscriber.name, subscriber.township, subscriber.village,
                                         ";".join(unpack_set(subscriber.crops)))),
            ";".join(unpack_set(subscriber.topics)), subscriber.preferred_channel]


def decode(data: bytes) -> str:
    """UTF-8 (with or without BOM), else GB18030: what Excel saves as "CSV" on a Chinese PC."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    try:
        return data.decode("gb18030")
    except UnicodeDecodeError:
        raise RowError("not UTF-8 text (save the sheet as CSV UTF-8)",
                       "文件不是文本表格（请在 Excel 里“另存为 CSV UTF-8”）") from None


async def import_text(text: str, *, source: str = "import", progress: Progress | None = None) -> RosterReport:
    """Import CSV text with a header line; `progress(done, total)` after each batch saved."""
    report = RosterReport()
    reader = csv.DictReader(io.StringIO(text))
    if reader.fieldnames:
        reader.fieldnames = [HEADER_ALIASES.get(n.strip(), n.strip().lower()) for n in reader.fieldnames]
    if "phone" not in (reader.fieldnames or []):
        report.add(1, RowError(f"missing column phone (expected {','.join(COLUMNS)})",
                               f"第一行表头缺少 phone 列（表头应为 {','.join(COLUMNS)}）"))
        return report
    rows: list[tuple[int, Mapping[str, Any]]] = []
    try:
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as exc:  # the rows before it are still imported
        report.add(reader.line_num, RowError(f"not a valid CSV from here on: {exc}",
                                             "从这一行起表格格式有误（引号没有配对？），后面的行没有导入"))
    return await import_rows(rows, source=source, progress=progress, report=report)


async def import_rows(rows: Iterable[tuple[int, Mapping[str, Any]]], *, source: str = "import",
                      progress: Progress | None = None, report: RosterReport | None = None) -> RosterReport:
    """Import (line number, columns) pairs. New people get `source` as their consent and an opt-in
    event; known phones get their details updated, but their status is never changed."""
    report = report if report is not None else RosterReport()
    people: dict[str, dict[str, Any]] = {}
    for line, row in rows:
        try:
            values = parse_row(row)
        except RowError as exc:
            report.add(line, exc)
            continue
        people.setdefault(values["phone"], {}).update(values)  # the same phone twice: the later line wins
    items = list(people.values())
    if progress is not None:
        await progress(0, len(items))
    for start in range(0, len(items), BATCH):
        await _save(items[start : start + BATCH], source, report)
        if progress is not None:
            await progress(min(start + BATCH, len(items)), len(items))
    return report


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
    try:
        text = decode(path.read_bytes())
    except RowError as exc:
        report = RosterReport()
        report.add(1, exc)
    else:
        report = await import_text(text)
    report.name = str(path)
    return report
