"""The one inbound path for every channel: dedupe → log → route → reply → log.

A text costs the database few statements, written here in plain SQL (building an ORM query took more
CPU than SQLite took to run it: 0.15 ms against 0.07 ms); SQLite and PostgreSQL get the same statements
(`$n` for `?`, DEFAULT for NULL as a new row's id):
  1. the villager's row read and stamped in one UPDATE … RETURNING (a first text: INSERT … ON CONFLICT
     DO NOTHING RETURNING, and its consent row; which comes first depends on whether this process has
     had a text from that address);
  2. the text INSERTed before anything answers it (its unique (channel, provider_id) drops a retry);
  3. the handler's own writes (the dialog, the answer log);
  4. the reply INSERTed and the text's status and handler set, in one statement.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any, TypeVar

from aiohttp import web
from tortoise import connections, fields
from tortoise.exceptions import BaseORMException, IntegrityError, OperationalError
from tortoise.models import Model

from bot import consent, sandbox
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
        subscriber = await _retry(lambda: _subscriber_for(msg, sandboxed, touch or {}))
        inbound = await _retry(lambda: _record_inbound(msg, subscriber))
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
    try:
        handler, reply = await app[ROUTER].dispatch(msg, ctx)
    except Exception:
        log.exception("handler failed", extra={"message_id": inbound.id})
        handler, reply, status = "error", Reply(SORRY), "failed"
    metrics.handler_seconds.labels(handler or "none").observe(time.perf_counter() - started)
    metrics.inbound.labels(msg.channel, status).inc()
    try:
        await _retry(lambda: _record_reply(inbound, reply, handler, status))
    except BaseORMException as exc:
        # The villager still gets the answer; only our log of it is missing.
        log.error("reply not recorded: %s", exc, extra={"message_id": inbound.id})
    # One line per text, once answered (a text is in the message table from its arrival on).
    if log.isEnabledFor(logging.INFO):
        log.info("inbound answered", extra={"channel": msg.channel, "from": _show(address), "message_id": inbound.id,
                                            "chars": len(msg.text), "handler": handler,
                                            "reply_chars": len(reply.text) if reply else 0})
    return Outcome(reply if reply else None, message_id=inbound.id, handler=handler)


# --- the inbox's statements ------------------------------------------------------------------------

async def _rows(sql: str, values: list[Any]) -> list[dict[str, Any]]:
    """Run one statement (written with ? placeholders) on the current connection; the rows it returns."""
    client = connections.get("default")
    rows: list[dict[str, Any]] = await client.execute_query_dict(
        _dialect(sql, client.capabilities.dialect == "postgres"), values)
    return rows


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
        return sql.replace(_NEW_ID, "NULL")
    sql = sql.replace(_NEW_ID, "DEFAULT")
    parts = sql.split("?")
    return parts[0] + "".join(f"${i}{part}" for i, part in enumerate(parts[1:], start=1))


async def _subscriber_for(msg: InboundMessage, sandboxed: bool, touch: Mapping[str, Any]) -> Subscriber:
    """The sender's subscriber row, stamped with this arrival, created on first contact (a sandbox
    villager by its reserved address): one statement, an UPDATE for an address this process has seen
    (or an INSERT for one it has not), and a second only when that guess was wrong."""
    field = "phone" if msg.channel == "sms" and not sandboxed else "wechat_openid"
    now = datetime.now(UTC)
    seen = _SEEN.get(msg.address)
    if seen and (stamp := await _touch(field, msg, now, touch)) is not None:
        return stamp
    values: dict[str, Any] = {
        field: msg.address, "preferred_channel": msg.channel, "status": "active",
        "consent_source": sandbox.CONSENT_SOURCE if sandboxed else f"first_message:{msg.channel}",
        "opted_in_at": now, "last_inbound_at": now, "dialog": _EMPTY_DIALOG, "created_at": now, "updated_at": now,
        **touch,
    }
    rows = await _rows(f"INSERT INTO subscriber ({', '.join(values)}) VALUES ({', '.join('?' * len(values))}) "
                       f"ON CONFLICT ({field}) DO NOTHING RETURNING *", list(values.values()))
    _remember(msg.address)
    if not rows:  # known after all (texted before this process started, or two first texts at once)
        stamp = await _touch(field, msg, now, touch)
        if stamp is None:  # removed in between: the next try creates it again
            raise OperationalError(f"subscriber {field} vanished while it was stamped")
        return stamp
    subscriber = _model(Subscriber, rows[0])
    await consent.record(subscriber, "opt_in", msg.channel, f"first_message:{msg.provider}", msg.text)
    return subscriber


# Addresses this process has had a text from (most recent last): they get the UPDATE first.
_SEEN: OrderedDict[str, bool] = OrderedDict()
_SEEN_MAX = 65536


def _remember(address: str) -> None:
    _SEEN[address] = True
    _SEEN.move_to_end(address)
    if len(_SEEN) > _SEEN_MAX:
        _SEEN.popitem(last=False)


async def _touch(field: str, msg: InboundMessage, now: datetime, touch: Mapping[str, Any]) -> Subscriber | None:
    """Stamp the row's last arrival (and `touch`'s columns, unless the text was recorded before: a
    retry changes nothing of the villager's) and read it, in one statement; None when there is no row."""
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
    rows = await _rows(f"UPDATE subscriber SET {', '.join(sets)} WHERE {field} = ? RETURNING *",
                       [*values, msg.address])
    if not rows:
        _SEEN.pop(msg.address, None)
        return None
    _remember(msg.address)
    return _model(Subscriber, rows[0])


_EMPTY_DIALOG = "{}"
_MESSAGE_COLUMNS = ("direction", "channel", "provider", "provider_id", "address", "subscriber_id", "reply_to_id",
                    "body", "status", "handler", "created_at", "updated_at")
_INSERT_MESSAGE = (f"INSERT INTO message ({', '.join(_MESSAGE_COLUMNS)}) "
                   f"VALUES ({', '.join('?' * len(_MESSAGE_COLUMNS))})")


async def _record_inbound(msg: InboundMessage, subscriber: Subscriber) -> Message:
    """The text, kept before anything answers it; IntegrityError when its provider_id was kept before."""
    now = datetime.now(UTC)
    values = ["in", msg.channel, msg.provider, msg.provider_id, msg.address, subscriber.id, None, msg.text,
              "processing", "", now, now]
    rows = await _rows(_INSERT_MESSAGE + " RETURNING id", values)
    return Message._init_from_db(**dict(zip(_MESSAGE_COLUMNS, values, strict=True)), id=rows[0]["id"],
                                 error_code=None, error=None, attempts=0)


_NEW_ID = "{new id}"
# The reply inserted and the text's status and handler set, in one statement: the text's row is "inserted"
# again under its own id, which conflicts, so only its status, handler and updated_at change (the other
# values of that row are never written; its provider_id is left out, or it would conflict on
# (channel, provider_id) instead).
_ANSWERED = (f"INSERT INTO message (id, {', '.join(_MESSAGE_COLUMNS)}) "
             f"VALUES (?, {', '.join('?' * len(_MESSAGE_COLUMNS))}), "
             f"({_NEW_ID}, {', '.join('?' * len(_MESSAGE_COLUMNS))}) "
             "ON CONFLICT (id) DO UPDATE SET status = excluded.status, handler = excluded.handler, "
             "updated_at = excluded.updated_at")


async def _record_reply(inbound: Message, reply: Reply | None, handler: str, status: str) -> None:
    now = datetime.now(UTC)
    if reply:
        await _rows(_ANSWERED, [
            inbound.id, "in", inbound.channel, inbound.provider, None, inbound.address, None,
            None, inbound.body, status, handler, inbound.created_at, now,
            "out", inbound.channel, inbound.provider, None, inbound.address, inbound.subscriber_id,
            inbound.id, reply.text, "sent", handler, now, now])
    else:
        await _rows("UPDATE message SET status = ?, handler = ?, updated_at = ? WHERE id = ?",
                    [status, handler, now, inbound.id])
    inbound.status, inbound.handler, inbound.updated_at = status, handler, now


async def save_dialog(subscriber: Subscriber, dialog: dict[str, Any]) -> None:
    """Keep where the villager is in a conversation (one statement; handlers on the inbound path)."""
    now = datetime.now(UTC)
    stored = Subscriber._meta.fields_map["dialog"].to_db_value(dialog, subscriber)  # as the ORM stores it
    await _rows("UPDATE subscriber SET dialog = ?, updated_at = ? WHERE id = ?", [stored, now, subscriber.id])
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
