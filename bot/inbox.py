"""The one inbound path for every channel: dedupe → log → route → reply → log.

A text costs the database two round trips, written here in plain SQL (building an ORM query took more
CPU than SQLite took to run it: 0.15 ms against 0.07 ms), each one transaction (`_unit`); SQLite runs a
unit's statements in one call to its thread (a call there, with the GIL handed back and forth, cost more
than the statement), PostgreSQL in a transaction; both get the same statements (`$n` for `?`, DEFAULT for
NULL as a new row's id):
  1. on arrival: the villager's row read and stamped in one UPDATE … RETURNING (a first text: INSERT …
     ON CONFLICT DO NOTHING RETURNING, and its consent row; which comes first depends on whether this
     process has had a text from that address), and the text INSERTed before anything answers it (its
     unique (channel, provider_id) drops a retry, and the retry's stamp with it);
  2. once answered: the handler's own writes made through `write` (the dialog, the answer log, a
     question for the officers), the reply INSERTed and the text's status and handler set, together:
     a crash in between leaves the text "processing" with none of them, never half of them.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import sqlite3
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from tortoise import connections, fields
from tortoise.backends.base.client import BaseDBAsyncClient, TransactionalDBClient
from tortoise.backends.sqlite.client import SqliteClient
from tortoise.exceptions import BaseORMException, IntegrityError, OperationalError
from tortoise.models import Model
from tortoise.transactions import in_transaction

from bot import sandbox
from bot.keys import CONFIG, METRICS, ROUTER
from bot.messages import InboundMessage, Reply
from bot.models import Message, Subscriber
from bot.phones import mask_phone, normalise_phone
from bot.routing import Context
from bot.textnorm import clean_text
from bot.waits import until

log = logging.getLogger("nongbot.inbox")
T = TypeVar("T")

# A villager texts again and again from one number: parse it once (phonenumbers takes ~0.1 ms).
_phone = functools.lru_cache(maxsize=65536)(normalise_phone)

SORRY = "抱歉，系统出了点问题，请稍后再发一次。"
BAD_NUMBER = "抱歉，无法识别您的手机号码，请用手机直接发短信给我们。"


class InboxUnavailable(Exception):
    """The message could not be recorded; the channel must answer 5xx so the provider retries."""


@dataclass(frozen=True)
class Outcome:
    reply: Reply | None
    duplicate: bool = False
    message_id: int | None = None
    handler: str = ""


async def process(app: web.Application, msg: InboundMessage, *, duplicate_wait: float = 3.0,
                  touch: Mapping[str, Any] | None = None) -> Outcome:
    """Record, route and answer one text. `touch`: columns of the villager's row set when a text (not a
    provider's retry of one) arrives, written with the row's read (WeChat: followed, its 5-text window)."""
    config = app[CONFIG]
    metrics = app[METRICS]
    msg = replace(msg, text=clean_text(msg.text, config.bot.max_inbound_chars))
    address = msg.address
    sandboxed = sandbox.is_address(address)
    if sandboxed != (msg.provider == sandbox.PROVIDER):
        # Only the console's simulator texts as a sandbox villager, and it texts as no one else.
        metrics.inbound.labels(msg.channel, "bad_address").inc()
        log.warning("inbound from an address reserved for another provider",
                    extra={"channel": msg.channel, "provider": msg.provider})
        return Outcome(Reply(BAD_NUMBER))
    if msg.channel == "sms" and not sandboxed:
        phone = _phone(msg.address)
        if phone is None:
            metrics.inbound.labels(msg.channel, "bad_address").inc()
            log.warning("inbound from an unusable address", extra={"channel": msg.channel})
            return Outcome(Reply(BAD_NUMBER))
        address = phone
        msg = replace(msg, address=phone)
    try:
        subscriber, inbound = await _retry(lambda: _arrive(msg, sandboxed, touch or {}))
    except IntegrityError:
        metrics.inbound.labels(msg.channel, "duplicate").inc()
        return await _earlier_outcome(msg, duplicate_wait)
    except BaseORMException as exc:
        metrics.inbound.labels(msg.channel, "unrecorded").inc()
        log.error("inbound message not recorded: %s", exc, extra={"channel": msg.channel})
        raise InboxUnavailable(str(exc)) from exc

    ctx = Context(app=app, config=config, subscriber=subscriber, inbound=inbound)
    started = time.perf_counter()
    status = "answered"
    writes = _Writes()
    token = _WRITES.set(writes)
    try:
        handler, reply = await app[ROUTER].dispatch(msg, ctx)
    except Exception:
        log.exception("handler failed", extra={"message_id": inbound.id})
        handler, reply, status = "error", Reply(SORRY), "failed"
    finally:
        _WRITES.reset(token)
        writes.closed = True  # a write made later (by a task the handler started) goes at once
    metrics.handler_seconds.labels(handler or "none").observe(time.perf_counter() - started)
    metrics.inbound.labels(msg.channel, status).inc()
    try:
        now = datetime.now(UTC)
        await _retry(lambda: _unit(_answered(inbound, reply, handler, status, writes.statements, now),
                                   single=not writes.statements))
        inbound.status, inbound.handler, inbound.updated_at = status, handler, now
    except BaseORMException as exc:
        # The villager still gets the answer; only our log of it (and the handler's writes) is missing.
        log.error("reply not recorded: %s", exc, extra={"message_id": inbound.id})
    # One line per text, once answered (a text is in the message table from its arrival on).
    if log.isEnabledFor(logging.INFO):
        log.info("inbound answered", extra={"channel": msg.channel, "from": _show(address), "message_id": inbound.id,
                                            "chars": len(msg.text), "handler": handler,
                                            "reply_chars": len(reply.text) if reply else 0})
    return Outcome(reply if reply else None, message_id=inbound.id, handler=handler)


# --- the inbox's statements ------------------------------------------------------------------------

Statement = tuple[str, Sequence[Any]]
Rows = list[dict[str, Any]]
Steps = Generator[Statement, Rows, T]


@dataclass
class _Writes:
    """The writes handlers made on one text, written with its reply."""

    statements: list[Statement] = field(default_factory=list)
    closed: bool = False


_WRITES: ContextVar[_Writes | None] = ContextVar("nongbot_inbox_writes", default=None)


async def write(sql: str, values: Sequence[Any]) -> None:
    """A write a handler makes while answering a text (one statement, ? placeholders, a new row's id as
    `NEW_ID`): kept and written in one transaction with the reply once the handler is done, so a text's
    writes cost one round trip and land together or not at all; written at once anywhere else. Nothing
    on the inbound path may read back what it wrote this way (the villager's row is updated in memory)."""
    writes = _WRITES.get()
    if writes is None or writes.closed:
        await _rows(sql, list(values))
    else:
        writes.statements.append((sql, values))


async def _rows(sql: str, values: list[Any]) -> list[dict[str, Any]]:
    """Run one statement (written with ? placeholders) on the current connection; the rows it returns."""
    client = connections.get("default")
    rows: list[dict[str, Any]] = await client.execute_query_dict(
        _dialect(sql, client.capabilities.dialect == "postgres"), values)
    return rows


async def _unit(steps: Steps[T], *, single: bool = False) -> T:
    """Run the statements `steps` yields (each is sent the rows of the one before; its return value is
    ours) as one transaction. SQLite: all in one call to its connection's thread, holding the ORM's lock on
    that connection, BEGIN IMMEDIATE … COMMIT. PostgreSQL (or inside a transaction already): in a
    transaction, a round trip a statement (`single`: there is one, it needs no transaction)."""
    client = connections.get("default")
    if isinstance(client, SqliteClient) and not isinstance(client, TransactionalDBClient):
        async with client.acquire_connection() as connection:
            try:
                result: T = await connection._execute(_run_in_thread, connection._conn, steps, client.log)
            except sqlite3.IntegrityError as exc:
                raise IntegrityError(exc) from exc
            except sqlite3.OperationalError as exc:
                raise OperationalError(exc) from exc
            return result
    if single:
        return await _run_awaiting(client, steps)
    async with in_transaction("default") as transaction:
        return await _run_awaiting(transaction, steps)


def _run_in_thread(conn: sqlite3.Connection, steps: Steps[T], db_log: logging.Logger) -> T:
    """`_unit` on SQLite, in its connection's thread (nothing here touches the event loop)."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        sql, values = next(steps)
        while True:
            db_log.debug("%s: %s", sql, values)  # as the ORM logs each statement it runs
            rows = [dict(row) for row in conn.execute(_dialect(sql, False), values).fetchall()]
            sql, values = steps.send(rows)
    except StopIteration as done:
        conn.execute("COMMIT")
        return done.value  # type: ignore[no-any-return]
    except BaseException:
        if conn.in_transaction:
            conn.execute("ROLLBACK")
        raise


async def _run_awaiting(client: BaseDBAsyncClient, steps: Steps[T]) -> T:
    postgres = client.capabilities.dialect == "postgres"
    try:
        sql, values = next(steps)
        while True:
            rows: Rows = await client.execute_query_dict(_dialect(sql, postgres), list(values))
            sql, values = steps.send(rows)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]


M = TypeVar("M", bound=Model)


def _model(cls: type[M], row: dict[str, Any]) -> M:
    """The model of a row a statement returned, as the ORM makes it, its times read with
    datetime.fromisoformat (SQLite keeps them as text; the ORM's parser takes 50 times as long)."""
    for column in _datetime_columns(cls):
        value = row.get(column)
        if isinstance(value, str):
            with contextlib.suppress(ValueError):  # else the ORM parses it, as it would
                row[column] = datetime.fromisoformat(value)
    return cls._init_from_db(**row)


@functools.cache
def _datetime_columns(cls: type[Model]) -> tuple[str, ...]:
    return tuple(f.source_field or name for name, f in cls._meta.fields_map.items()
                 if isinstance(f, fields.DatetimeField))


@functools.lru_cache(maxsize=256)
def _dialect(sql: str, postgres: bool) -> str:
    """asyncpg numbers its placeholders: ? → $1, $2 … (none of these statements has a literal ?); a new
    row's own id is DEFAULT there, NULL in SQLite (which has no DEFAULT in VALUES)."""
    if not postgres:
        return sql.replace(NEW_ID, "NULL")
    sql = sql.replace(NEW_ID, "DEFAULT")
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))


async def _arrive(msg: InboundMessage, sandboxed: bool, touch: Mapping[str, Any]) -> tuple[Subscriber, Message]:
    """The sender's subscriber row, stamped with this arrival (created on first contact, a sandbox villager
    by its reserved address, with its consent row), and the text's row: one transaction."""
    now = datetime.now(UTC)
    row, message_id, values = await _unit(_arrival(msg, sandboxed, touch, now, msg.address in _SEEN))
    _remember(msg.address)
    return _model(Subscriber, row), Message._init_from_db(
        **dict(zip(_MESSAGE_COLUMNS, values, strict=True)), id=message_id, error_code=None, error=None, attempts=0)


def _arrival(msg: InboundMessage, sandboxed: bool, touch: Mapping[str, Any], now: datetime,
             seen: bool) -> Steps[tuple[dict[str, Any], int, list[Any]]]:
    """`_arrive`'s statements: an UPDATE for an address this process has seen (or an INSERT for one it
    has not), and a second only when that guess was wrong; then the text (IntegrityError when its
    provider_id was kept before)."""
    field = "phone" if msg.channel == "sms" and not sandboxed else "wechat_openid"
    rows = (yield _touch(field, msg, now, touch)) if seen else []
    if not rows:
        values: dict[str, Any] = {
            field: msg.address, "preferred_channel": msg.channel, "status": "active",
            "consent_source": sandbox.CONSENT_SOURCE if sandboxed else f"first_message:{msg.channel}",
            "opted_in_at": now, "last_inbound_at": now, "dialog": _EMPTY_DIALOG, "created_at": now,
            "updated_at": now, **touch,
        }
        rows = yield (f"INSERT INTO subscriber ({', '.join(values)}) VALUES ({', '.join('?' * len(values))}) "
                      f"ON CONFLICT ({field}) DO NOTHING RETURNING *", list(values.values()))
        if rows and not sandboxed:  # its consent, as consent.record writes it (none for a sandbox villager)
            yield _INSERT_CONSENT, [rows[0]["id"], "opt_in", msg.channel, f"first_message:{msg.provider}"[:64],
                                    msg.text[:200], now]
        elif not rows:  # known after all (texted before this process started, or two first texts at once)
            rows = yield _touch(field, msg, now, touch)
            if not rows:  # removed in between: the next try creates it again
                raise OperationalError(f"subscriber {field} vanished while it was stamped")
    text = ["in", msg.channel, msg.provider, msg.provider_id, msg.address, rows[0]["id"], None, msg.text,
            "processing", "", now, now]
    ids = yield _INSERT_MESSAGE + " RETURNING id", text
    return rows[0], ids[0]["id"], text


# Addresses this process has had a text from (most recent last): they get the UPDATE first.
_SEEN: OrderedDict[str, bool] = OrderedDict()
_SEEN_MAX = 65536


def _remember(address: str) -> None:
    _SEEN[address] = True
    _SEEN.move_to_end(address)
    if len(_SEEN) > _SEEN_MAX:
        _SEEN.popitem(last=False)


def _touch(field: str, msg: InboundMessage, now: datetime, touch: Mapping[str, Any]) -> Statement:
    """Stamp the row's last arrival (and `touch`'s columns, unless the text was recorded before: a
    retry changes nothing of the villager's) and read it, in one statement; no row when there is none."""
    sets = ["last_inbound_at = ?"]
    values: list[Any] = [now]
    for column, value in touch.items():
        if msg.provider_id is None:
            sets.append(f"{column} = ?")
            values.append(value)
        else:
            sets.append(f"{column} = CASE WHEN EXISTS (SELECT 1 FROM message WHERE channel = ? AND provider_id = ?) "
                        f"THEN {column} ELSE ? END")
            values += [msg.channel, msg.provider_id, value]
    return f"UPDATE subscriber SET {', '.join(sets)} WHERE {field} = ? RETURNING *", [*values, msg.address]


_EMPTY_DIALOG = "{}"
_INSERT_CONSENT = ("INSERT INTO consent_event (subscriber_id, action, channel, source, text, created_at) "
                   "VALUES (?, ?, ?, ?, ?, ?)")
_MESSAGE_COLUMNS = ("direction", "channel", "provider", "provider_id", "address", "subscriber_id", "reply_to_id",
                    "body", "status", "handler", "created_at", "updated_at")
_INSERT_MESSAGE = (f"INSERT INTO message ({', '.join(_MESSAGE_COLUMNS)}) "
                   f"VALUES ({', '.join('?' * len(_MESSAGE_COLUMNS))})")


NEW_ID = "{new id}"
# The reply inserted and the text's status and handler set, in one statement: the text's row is "inserted"
# again under its own id, which conflicts, so only its status, handler and updated_at change (the other
# values of that row are never written; its provider_id is left out, or it would conflict on
# (channel, provider_id) instead).
_ANSWERED = (f"INSERT INTO message (id, {', '.join(_MESSAGE_COLUMNS)}) "
             f"VALUES (?, {', '.join('?' * len(_MESSAGE_COLUMNS))}), "
             f"({NEW_ID}, {', '.join('?' * len(_MESSAGE_COLUMNS))}) "
             "ON CONFLICT (id) DO UPDATE SET status = excluded.status, handler = excluded.handler, "
             "updated_at = excluded.updated_at")


def _answered(inbound: Message, reply: Reply | None, handler: str, status: str, writes: list[Statement],
              now: datetime) -> Steps[None]:
    """The handler's writes, then the reply and the text's status and handler."""
    for statement in writes:  # noqa: UP028 (rows are sent back: a list iterator takes no send())
        yield statement
    if reply:
        yield _ANSWERED, [
            inbound.id, "in", inbound.channel, inbound.provider, None, inbound.address, None,
            None, inbound.body, status, handler, inbound.created_at, now,
            "out", inbound.channel, inbound.provider, None, inbound.address, inbound.subscriber_id,
            inbound.id, reply.text, "sent", handler, now, now]
    else:
        yield "UPDATE message SET status = ?, handler = ?, updated_at = ? WHERE id = ?", [status, handler, now,
                                                                                          inbound.id]


async def save_dialog(subscriber: Subscriber, dialog: dict[str, Any]) -> None:
    """Keep where the villager is in a conversation (one statement, written with the reply on the
    inbound path: see `write`)."""
    now = datetime.now(UTC)
    stored = Subscriber._meta.fields_map["dialog"].to_db_value(dialog, subscriber)  # as the ORM stores it
    await write("UPDATE subscriber SET dialog = ?, updated_at = ? WHERE id = ?", [stored, now, subscriber.id])
    subscriber.dialog, subscriber.updated_at = dialog, now


async def _earlier_outcome(msg: InboundMessage, wait: float) -> Outcome:
    """A provider retry: give back the reply we already made, waiting a little if still busy."""

    async def answered() -> Message | None:
        first = await Message.get(channel=msg.channel, provider_id=msg.provider_id)
        return None if first.status == "processing" else first

    first = await until(wait, answered, step=0.05)
    if first is None:
        first = await Message.get(channel=msg.channel, provider_id=msg.provider_id)
        log.info("duplicate inbound still being answered", extra={"message_id": first.id})
        return Outcome(None, duplicate=True, message_id=first.id)
    answer = await Message.filter(reply_to_id=first.id, direction="out").order_by("id").first()
    log.info("duplicate inbound", extra={"message_id": first.id})
    return Outcome(Reply(answer.body) if answer else None, duplicate=True, message_id=first.id, handler=first.handler)


async def _retry(call: Callable[[], Awaitable[T]], attempts: int = 3) -> T:
    """Retry transient database errors (locked SQLite file, dropped connection) with backoff."""
    for attempt in range(attempts):
        try:
            return await call()
        except IntegrityError:
            raise
        except (OperationalError, OSError, ConnectionError) as exc:
            if attempt == attempts - 1:
                raise BaseORMException(str(exc)) from exc
            await asyncio.sleep(0.1 * 3**attempt)
    raise AssertionError("unreachable")


def _show(address: str) -> str:
    return mask_phone(address) if address.startswith("+") else address[:6] + "…"
