"""The delivery engine's hot statements in plain SQL: claiming a batch, and the outcomes of many sends.

Measured (issue 21): building one ORM UPDATE per delivery and committing it alone cost more than the
send itself (on SQLite each also hops to the driver's thread). Here the outcomes of a batch go in one
`UPDATE … FROM (VALUES …)` per kind of outcome (and CHUNK rows): one statement is atomic on its own,
so a cancelled or failed write leaves each row as it was or as written, never half. The columns and
values are the ones the ORM wrote (`updated_at` untouched, as QuerySet.update leaves it); SQLite
(3.35+: UPDATE … FROM, RETURNING) and PostgreSQL run the same statements, PostgreSQL with numbered,
typed placeholders (and SKIP LOCKED). claim() is one UPDATE … RETURNING instead of a SELECT that built
a model per row and an UPDATE, in a transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from tortoise import connections

from broadcasts.models import Delivery

DUE_AT = Delivery._meta.fields_map["due_at"]  # reads a due_at as the ORM does (SQLite keeps text)
CHUNK = 200  # rows per statement: far below SQLite's 32,766 parameters
# kind -> (SET clause over the VALUES columns v.column2 …, PostgreSQL types of the columns)
KINDS = {
    "sent": ("state = 'sent', provider_id = v.column2, sent_at = v.column3, lease_until = NULL, error = NULL, "
             "error_code = NULL", ("bigint", "text", "timestamptz")),
    "queued": ("state = 'queued', due_at = v.column2, lease_until = NULL, error_code = v.column3, "
               "error = v.column4", ("bigint", "timestamptz", "text", "text")),
    "failed": ("state = 'failed', lease_until = NULL, error_code = v.column2, error = v.column3",
               ("bigint", "text", "text")),
}


@dataclass(frozen=True)
class Outcome:
    """One delivery's result, as its row will hold it."""

    delivery_id: int
    state: str  # sent | queued (to be retried) | failed
    provider_id: str | None = None
    at: datetime | None = None  # sent_at, or the retry's due_at
    error_code: str | None = None
    error: str | None = None

    def values(self) -> list[object]:
        if self.state == "sent":
            return [self.delivery_id, self.provider_id, self.at]
        if self.state == "queued":
            return [self.delivery_id, self.at, self.error_code, self.error]
        return [self.delivery_id, self.error_code, self.error]


def statement(kind: str, rows: int, postgres: bool) -> str:
    assignments, types = KINDS[kind]
    if postgres:
        numbers = iter(range(1, rows * len(types) + 1))
        tuples = ", ".join("(" + ", ".join(f"${next(numbers)}::{t}" for t in types) + ")" for _ in range(rows))
    else:
        tuples = ", ".join(["(" + ", ".join("?" * len(types)) + ")"] * rows)
    return f"UPDATE delivery SET {assignments} FROM (VALUES {tuples}) AS v WHERE delivery.id = v.column1"


async def record(outcomes: list[Outcome], postgres: bool) -> None:
    """Write every outcome (each row's last one, should a row appear twice)."""
    latest = {o.delivery_id: o for o in outcomes}
    conn = connections.get("default")
    for kind in KINDS:
        rows = [o for o in latest.values() if o.state == kind]
        for start in range(0, len(rows), CHUNK):
            chunk = rows[start:start + CHUNK]
            await conn.execute_query(statement(kind, len(chunk), postgres),
                                     [value for o in chunk for value in o.values()])


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
    if postgres:
        numbers = iter(range(1, len(values) + 1))

        def mark(cast: str = "") -> str:
            return f"${next(numbers)}{cast}"
    else:
        def mark(cast: str = "") -> str:
            return "?"
    sql = CLAIM.format(lease=mark(), worker=mark(), now=mark(), runs=", ".join(mark() for _ in runs),
                       quiet=f" AND priority < {mark()}" if below_priority is not None else "",
                       limit=mark(), lock=" FOR UPDATE SKIP LOCKED" if postgres else "")
    rows = await connections.get("default").execute_query_dict(sql, values)
    due = DUE_AT.to_python_value
    claimed = [Claimed(int(r["id"]), int(r["run_id"]), int(r["subscriber_id"]), str(r["channel"]), int(r["priority"]),
                       int(r["attempts"]), due(r["due_at"]), r["error_code"]) for r in rows]
    return sorted(claimed, key=lambda c: (c.priority, c.due_at, c.id))
