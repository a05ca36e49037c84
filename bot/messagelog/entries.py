"""The message log's rows: every text in or out (Message) and every broadcast delivery (Delivery), newest
first, filtered, a page at a time.

Two tables, one list: each is read newest first by id (its primary key, so a page costs two short index
scans whatever the table's size), and the two are merged by time. The next page starts below the
smallest id of each table shown so far (keyset pagination: rows arriving meanwhile never shift a page,
nothing is shown twice or skipped)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any

from tortoise.expressions import Q

from bot import sandbox
from bot.labels import BROADCAST_KINDS, CHANNEL_NAMES, HANDLER_GROUPS
from bot.messagelog.models import Resend
from bot.models import Message, Subscriber
from bot.phones import mask_phone, mask_phones_in
from broadcasts.models import Broadcast, BroadcastRun, Delivery

PAGE = 50
# The status filter: one word for the officer, the states it covers in each table.
STATUS_GROUPS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...]]] = {
    # key: (label, Message.status values, Delivery.state values)
    "failed": ("失败", ("failed", "undelivered"), ("failed",)),
    "pending": ("排队或发送中", ("queued", "sending", "processing"), ("queued", "sending")),
    "sent": ("已发送", ("sent",), ("sent",)),
    "delivered": ("已送达", ("delivered",), ("delivered",)),
    "answered": ("已回复（收到的）", ("answered",), ()),
    "skipped": ("未发送", (), ("skipped",)),
}
DIRECTIONS = {"in": "收到的", "out": "发出的"}
# A row's state in the officer's words (inbound and outbound messages, deliveries).
STATE_NAMES = {"processing": "处理中", "answered": "已回复", "queued": "排队中", "sending": "发送中",
               "sent": "已发送", "delivered": "已送达", "undelivered": "未送达", "failed": "发送失败",
               "skipped": "未发送", "received": "已收到"}
FAILED = ("failed", "undelivered")
# Who wrote an outbound text that is not a broadcast (Message.handler of replies and console sends).
OUT_HANDLERS = {"console.reply": "农技员回复", "console.message": "农技员单独发送", "console.resend": "农技员重发"}


@dataclass(frozen=True)
class Filters:
    direction: str = ""  # "" | in | out
    channel: str = ""
    status: str = ""  # a key of STATUS_GROUPS
    township: str = ""
    text: str = ""
    day: date | None = None
    subscriber: int | None = None
    run: int | None = None

    def active(self) -> dict[str, str]:
        """The filters given, as query parameters (for links and the export)."""
        values = {"direction": self.direction, "channel": self.channel, "status": self.status,
                  "township": self.township, "text": self.text, "day": self.day.isoformat() if self.day else "",
                  "subscriber": str(self.subscriber or ""), "run": str(self.run or "")}
        return {k: v for k, v in values.items() if v}


@dataclass(frozen=True)
class Cursor:
    """Where the next page starts: below these ids (None: from the newest; 0: that table is done)."""

    message: int | None = None
    delivery: int | None = None

    @property
    def done(self) -> bool:
        return self.message == 0 and self.delivery == 0

    def query(self) -> dict[str, str]:
        return {"m": str(self.message if self.message is not None else ""),
                "d": str(self.delivery if self.delivery is not None else "")}


@dataclass
class Entry:
    """One row of the log, as every view of it (page, API, export) shows it."""

    kind: str  # message | delivery
    id: int
    at: datetime
    direction: str  # in | out
    channel: str
    status: str
    body: str
    subscriber_id: int | None
    error: str = ""
    handler: str = ""  # what answered or wrote it, in Chinese
    broadcast_id: int | None = None
    run_id: int | None = None
    person: str = ""  # the villager's name (or "" when unknown)
    township: str = ""
    address: str = ""  # phone as this officer may see it, or "微信用户"
    resent_as: int | None = None  # the push that carried it again
    opted_out: bool = False
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def channel_label(self) -> str:
        return CHANNEL_NAMES.get(self.channel, self.channel)

    @property
    def status_label(self) -> str:
        return STATE_NAMES.get(self.status, self.status)

    @property
    def failed(self) -> bool:
        return self.direction == "out" and self.status in FAILED

    @property
    def resendable(self) -> bool:
        return self.failed and self.resent_as is None and self.subscriber_id is not None and not self.opted_out


def day_range(day: date, tz: tzinfo) -> tuple[datetime, datetime]:
    """A county day as UTC moments: SQLite compares the stored UTC text, so a +08:00 bound would be 8 hours off."""
    start = datetime.combine(day, time(), tzinfo=tz)
    return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)


def message_query(f: Filters, tz: tzinfo) -> Any:
    query = Message.exclude(address__startswith=sandbox.PREFIX)  # the simulator's texts are no one's
    if f.direction:
        query = query.filter(direction=f.direction)
    if f.channel:
        query = query.filter(channel=f.channel)
    if f.status:
        query = query.filter(status__in=list(STATUS_GROUPS[f.status][1]))
    if f.township:
        query = query.filter(subscriber__township=f.township)
    if f.text:
        query = query.filter(body__icontains=f.text)
    if f.day:
        start, end = day_range(f.day, tz)
        query = query.filter(created_at__gte=start, created_at__lt=end)
    if f.subscriber:
        query = query.filter(subscriber_id=f.subscriber)
    return query


async def delivery_query(f: Filters, tz: tzinfo) -> Any | None:
    """None when no delivery can match (inbound asked for, or a state deliveries never have)."""
    if f.direction == "in" or (f.status and not STATUS_GROUPS[f.status][2]):
        return None
    query = Delivery.all()
    if f.channel:
        query = query.filter(channel=f.channel)
    if f.status:
        states = STATUS_GROUPS[f.status][2]
        query = query.filter(state=states[0]) if len(states) == 1 else query.filter(state__in=list(states))
    if f.township:
        query = query.filter(subscriber__township=f.township)
    if f.text:
        runs = await BroadcastRun.filter(Q(text__icontains=f.text) | Q(
            text__isnull=True, broadcast__text__icontains=f.text)).values_list("id", flat=True)
        if not runs:
            return None
        # One run (the usual case): an equality, so the (run_id, id) index gives the rows in order.
        query = query.filter(run_id=runs[0]) if len(runs) == 1 else query.filter(run_id__in=list(runs))
    if f.day:
        start, end = day_range(f.day, tz)
        query = query.filter(Q(sent_at__gte=start, sent_at__lt=end) | Q(
            sent_at__isnull=True, due_at__gte=start, due_at__lt=end))
    if f.subscriber:
        query = query.filter(subscriber_id=f.subscriber)
    if f.run:
        query = query.filter(run_id=f.run)
    return query


def first_line(text: str, limit: int = 20) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[:limit] + "…"


def handler_label(handler: str, direction: str) -> str:
    if direction == "out":
        return OUT_HANDLERS.get(handler) or ("机器人回复" if handler else "发出")
    return HANDLER_GROUPS.get(handler) or HANDLER_GROUPS.get(handler.split(".", 1)[0], "其他")


async def page(f: Filters, cursor: Cursor, tz: tzinfo, *, admin: bool,
               limit: int = PAGE) -> tuple[list[Entry], Cursor]:
    """One page of the log below `cursor`, and the cursor of the page after it."""
    messages: list[Message] | None = None  # None: this table is not asked
    if cursor.message != 0 and not f.run:
        query = message_query(f, tz)
        if cursor.message:
            query = query.filter(id__lt=cursor.message)
        messages = await query.order_by("-id").limit(limit + 1)
    deliveries: list[Delivery] | None = None
    if cursor.delivery != 0 and (query := await delivery_query(f, tz)) is not None:
        if cursor.delivery:
            query = query.filter(id__lt=cursor.delivery)
        deliveries = await query.order_by("-id").limit(limit + 1)
    rows = [_from_message(m) for m in messages or []]
    sent = [_from_delivery(d) for d in deliveries or []]
    merged: list[Entry] = []
    i = j = 0
    while len(merged) < limit and (i < len(rows) or j < len(sent)):
        if j >= len(sent) or (i < len(rows) and rows[i].at >= sent[j].at):
            merged.append(rows[i])
            i += 1
        else:
            merged.append(sent[j])
            j += 1
    after = Cursor(message=_next(cursor.message, messages, i), delivery=_next(cursor.delivery, deliveries, j))
    await fill(merged, admin=admin)
    return merged, after


def _next(before: int | None, fetched: Sequence[Message | Delivery] | None, used: int) -> int | None:
    """A table's cursor after a page that showed its first `used` rows of `fetched`: 0 when it has
    nothing left (or was not asked), else below the last row shown."""
    if fetched is None or used == len(fetched):
        return 0
    return fetched[used - 1].id if used else before


def _from_message(m: Message) -> Entry:
    return Entry(kind="message", id=m.id, at=m.created_at, direction=m.direction, channel=m.channel,
                 status=m.status, body=m.body, subscriber_id=m.subscriber_id,
                 error=" ".join(x for x in (m.error_code or "", m.error or "") if x),
                 handler=handler_label(m.handler, m.direction), extra={"address": m.address})


def _from_delivery(d: Delivery) -> Entry:
    return Entry(kind="delivery", id=d.id, at=d.sent_at or d.due_at, direction="out", channel=d.channel,
                 status=d.state, body="", subscriber_id=d.subscriber_id, run_id=d.run_id,
                 error=" ".join(x for x in (d.error_code or "", d.error or "") if x))


async def fill(entries: Sequence[Entry], *, admin: bool) -> None:
    """Who each row is about (masked for all but admins), the broadcast a delivery belongs to and what
    it said, and whether a failed row was sent again."""
    people = {s.id: s for s in await Subscriber.filter(
        id__in=sorted({e.subscriber_id for e in entries if e.subscriber_id}))} if entries else {}
    run_ids = sorted({e.run_id for e in entries if e.run_id})
    runs = {r.id: r for r in await BroadcastRun.filter(id__in=run_ids)} if run_ids else {}
    casts = {b.id: b for b in await Broadcast.filter(id__in=sorted({r.broadcast_id for r in runs.values()}))
             } if runs else {}
    resent: dict[tuple[str, int], int | None] = {}
    for kind in ("message", "delivery"):
        ids = [e.id for e in entries if e.kind == kind and e.failed]
        if ids:
            for r in await Resend.filter(kind=kind, source_id__in=ids):
                resent[(kind, r.source_id)] = r.broadcast_id or 0
    for e in entries:
        person = people.get(e.subscriber_id) if e.subscriber_id else None
        if person is not None:
            e.person, e.township, e.opted_out = person.name, person.township, person.status != "active"
        address = str(e.extra.get("address", "")) or (
            (person.phone if e.channel == "sms" else person.wechat_openid) or "" if person else "")
        if e.channel == "sms" and address:
            e.address = address if admin else mask_phone(address)
        else:
            e.address = "微信用户" if e.channel == "wechat" else ""
        if e.run_id and (run := runs.get(e.run_id)) is not None:
            cast = casts.get(run.broadcast_id)
            e.broadcast_id = run.broadcast_id
            e.body = run.text or (cast.text if cast else "")
            kind = BROADCAST_KINDS.get(cast.kind, "") if cast else ""
            e.handler = f"群发《{first_line(cast.text if cast else e.body)}》" + (f"（{kind}）" if kind else "")
        if not admin:
            e.body = mask_phones_in(e.body)
            e.error = mask_phones_in(e.error)
        if (e.kind, e.id) in resent:
            e.resent_as = resent[(e.kind, e.id)]
