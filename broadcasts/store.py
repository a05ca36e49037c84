"""The delivery engine's hot statements in plain SQL: claiming a batch, keeping its lease, and writing
the outcomes of many sends at once.

Measured (issue 21): building one ORM UPDATE per delivery and committing it alone cost more than the
send itself (on SQLite each also hops to the driver's thread). Here a batch is claimed in one
`UPDATE … RETURNING`, and the outcomes of many sends go in one `UPDATE … FROM (VALUES …)` per kind of
outcome (CHUNK rows each). One statement is atomic on its own: a cancelled or failed write leaves each
row as it was or as written, never half.

Every write of an outcome and every renewal of a lease names the claim it belongs to: the row must
still be `sending`, claimed by this worker, at the attempt this worker made. So a late write (a
worker whose database went away for longer than the lease, while another worker settled its rows)
changes nothing, and writing the same outcomes twice (a write retried after it was cut off) is
harmless. `updated_at` is left as QuerySet.update leaves it (untouched). SQLite (3.35+: UPDATE … FROM,
RETURNING) and PostgreSQL run the same statements, PostgreSQL with numbered, typed placeholders (and
SKIP LOCKED in the claim)."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime

from tortoise import connections

from broadcasts.models import Delivery

DUE_AT = Delivery._meta.fields_map["due_at"]  # reads a due_at as the ORM does (SQLite keeps text)
CHUNK = 200  # rows per statement: far below SQLite's 32,766 parameters
# The VALUES columns every kind starts with: the row, and the attempt this worker claimed it at.
CLAIM_COLUMNS = ("bigint", "integer")
# kind -> (SET clause over the VALUES columns v.column3 …, PostgreSQL types of those columns)
KINDS = {
    "sent": ("state = 'sent', provider_id = v.column3, sent_at = v.column4, lease_until = NULL, error = NULL, "
             "error_code = NULL", ("text", "timestamptz")),
    "queued": ("state = 'queued', due_at = v.column3, attempts = v.column4, lease_until = NULL, "
               "error_code = v.column5, error = v.column6", ("timestamptz", "integer", "text", "text")),
    "failed": ("state = 'failed', lease_until = NULL, error_code = v.column3, error = v.column4", ("text", "text")),
    "skipped": ("state = 'skipped', lease_until = NULL, error = v.column3", ("text",)),
}


@dataclass(frozen=True)
class Outcome:
    """What one claimed row becomes: sent; queued again (a retry, or handed back untried with its
    attempt given back); failed; or skipped (cancelled, opted out)."""

    delivery_id: int
    claimed_attempts: int  # `attempts` as the claim left it: the write applies only to that claim
    state: str  # sent | queued | failed | skipped
    provider_id: str | None = None
    at: datetime | None = None  # sent_at, or when a queued row is due
    attempts: int | None = None  # a queued row's attempts from now on
    error_code: str | None = None
    error: str | None = None

    def values(self) -> list[object]:
        head: list[object] = [self.delivery_id, self.claimed_attempts]
        if self.state == "sent":
            return [*head, self.provider_id, self.at]
        if self.state == "queued":
            return [*head, self.at, self.attempts, self.error_code, self.error]
        if self.state == "failed":
            return [*head, self.error_code, self.error]
        return [*head, self.error]


def _marks(count: int, postgres: bool, types: Iterable[str] = (), start: int = 1) -> list[str]:
    """`count` placeholders: `?` on SQLite, `$n` (typed when `types` are given) on PostgreSQL."""
    if not postgres:
        return ["?"] * count
    kinds = list(types) or [""] * count
    return [f"${start + i}" + (f"::{kinds[i % len(kinds)]}" if kinds[i % len(kinds)] else "") for i in range(count)]


def statement(kind: str, rows: int, postgres: bool) -> str:
    assignments, types = KINDS[kind]
    columns = (*CLAIM_COLUMNS, *types)
    marks = iter(_marks(rows * len(columns), postgres, columns))
    tuples = ", ".join("(" + ", ".join(next(marks) for _ in columns) + ")" for _ in range(rows))
    (worker,) = _marks(1, postgres, start=rows * len(columns) + 1)
    return (f"UPDATE delivery SET {assignments} FROM (VALUES {tuples}) AS v WHERE delivery.id = v.column1 "
            f"AND delivery.attempts = v.column2 AND delivery.state = 'sending' AND delivery.claimed_by = {worker}")


async def record(outcomes: Iterable[Outcome], worker: str, postgres: bool) -> None:
    """Write every outcome (each row's last one, should a row appear twice), if its claim still holds."""
    latest = {o.delivery_id: o for o in outcomes}
    conn = connections.get("default")
    for kind in KINDS:
        rows = [o for o in latest.values() if o.state == kind]
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            await conn.execute_query(statement(kind, len(chunk), postgres),
                                     [*(value for o in chunk for value in o.values()), worker])


async def renew(ids: list[int], worker: str, lease: datetime, postgres: bool) -> None:
    """Push the lease of these rows (still `sending` and this worker's) to `lease`."""
    conn = connections.get("default")
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start:start + CHUNK]
        lease_mark, worker_mark, *marks = _marks(len(chunk) + 2, postgres)
        await conn.execute_query(
            f"UPDATE delivery SET lease_until = {lease_mark} WHERE claimed_by = {worker_mark} AND state = 'sending' "
            f"AND id IN ({', '.join(marks)})", [lease, worker, *chunk])


@dataclass(frozen=True)
class Claimed:
    """A delivery row as claim() left it: `sending`, leased, its attempt counted."""

    id: int
    run_id: int
    subscriber_id: int
    channel: str
    priority: int
    attempts: int  # counting the attempt about to be made
    due_at: datetime
    error_code: str | None


CLAIM = (
    "UPDATE delivery SET state = 'sending', lease_until = {lease}, attempts = attempts + 1, claimed_by = {worker} "
    "WHERE id IN (SELECT id FROM delivery WHERE state = 'queued' AND due_at <= {now} AND run_id IN ({runs}){quiet} "
    "ORDER BY priority, due_at, id LIMIT {limit}{lock}) "
    "RETURNING id, run_id, subscriber_id, channel, priority, attempts, due_at, error_code"
)


async def claim(runs: list[int], now: datetime, lease: datetime, worker: str, limit: int, *,
                below_priority: int | None, postgres: bool) -> list[Claimed]:
    """Mark up to `limit` due rows of these runs `sending` in one statement, committed before any
    provider call; in claim order (priority, due, id). PostgreSQL: SKIP LOCKED lets several workers
    take disjoint batches; SQLite: one process, and one statement is atomic."""
    values: list[object] = [lease, worker, now, *runs]
    if below_priority is not None:
        values.append(below_priority)
    values.append(limit)
    marks = iter(_marks(len(values), postgres))
    sql = CLAIM.format(lease=next(marks), worker=next(marks), now=next(marks),
                       runs=", ".join(next(marks) for _ in runs),
                       quiet=f" AND priority < {next(marks)}" if below_priority is not None else "",
                       limit=next(marks), lock=" FOR UPDATE SKIP LOCKED" if postgres else "")
    rows = await connections.get("default").execute_query_dict(sql, values)
    due = DUE_AT.to_python_value
    claimed = [Claimed(int(r["id"]), int(r["run_id"]), int(r["subscriber_id"]), str(r["channel"]), int(r["priority"]),
                       int(r["attempts"]), due(r["due_at"]), r["error_code"]) for r in rows]
    return sorted(claimed, key=lambda c: (c.priority, c.due_at, c.id))


ENQUEUE_CHUNK = 1000  # rows per INSERT: 5,000 parameters, within SQLite's and asyncpg's limits


async def enqueue(run_id: int, rows: list[tuple[int, str, datetime]], postgres: bool) -> None:
    """Insert a run's delivery rows ((subscriber, channel, due at) each, `queued`), skipping those
    already there (a firing finished after a crash): what Delivery.bulk_create(ignore_conflicts=True)
    wrote, without building a model object per row. Dates are written as the ORM writes them."""
    conn = connections.get("default")
    to_db = DUE_AT.to_db_value
    now = to_db(datetime.now(UTC), Delivery)
    types = ("bigint", "bigint", "text", "timestamptz", "timestamptz")
    for start in range(0, len(rows), ENQUEUE_CHUNK):
        chunk = rows[start:start + ENQUEUE_CHUNK]
        marks = iter(_marks(len(chunk) * len(types), postgres, types))
        tuples = ", ".join("(" + ", ".join(next(marks) for _ in types) + ")" for _ in chunk)
        await conn.execute_query(
            f"INSERT INTO delivery (run_id, subscriber_id, channel, due_at, updated_at) VALUES {tuples} "
            "ON CONFLICT (run_id, subscriber_id) DO NOTHING",
            [value for subscriber, channel, due in chunk for value in (run_id, subscriber, channel, to_db(due, Delivery),
                                                                       now)])
