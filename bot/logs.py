"""Logging set-up: text or JSON lines, with every phone number masked and every secret hidden
before a line is written, whoever logged it (our code, twilio, aiohttp's access log, asyncpg …).

The masking sits on the root handler (a filter and the formatter), so it sees every record that
propagates, and it works on the finished line: message, arguments, traceback, stack and extra
fields alike. Secrets are hidden first: a registered value (`hide_secret`) becomes `***` and a path
of a registered route (`hide_route`, e.g. `/webhooks/aliyun/{secret}`) is written as the route."""

from __future__ import annotations

import functools
import json
import logging
import re
import sys
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any, TextIO

from aiohttp import web_log
from aiohttp.web_request import BaseRequest
from aiohttp.web_response import StreamResponse

from bot.phones import mask_phones_in

_REDACTED = "_nongbot_redacted"  # set by RedactRecord: the formatters need not mask message and extras again
_STANDARD = set(logging.makeLogRecord({}).__dict__) | {"message", "asctime", _REDACTED}
_DIGIT = re.compile(r"\d")
_FEWEST_DIGITS = 7  # the shortest phone mask_phones_in looks for; every written digit holds a \d
_MIN_SECRET = 12  # shorter values would hide ordinary words
# Replaced, never changed in place: a thread logging meanwhile iterates over the old one.
_secrets: frozenset[str] = frozenset()
_routes: dict[str, re.Pattern[str]] = {}  # route template -> any path it matches


def hide_secret(*values: str) -> None:
    """Never write these values (API keys, URL secrets) in a log line: they become `***`."""
    global _secrets
    _secrets = _secrets | {v for v in values if v and len(v) >= _MIN_SECRET}
    _forget_redacted()


def hide_route(template: str) -> None:
    """Write every path of this route (e.g. `/webhooks/aliyun/{secret}`) as the template itself:
    in the access log and in any other line, whatever value stood in the path."""
    parts = re.split(r"(\{[^}]+\})", template)
    pattern = "".join(r"[^/\s?#\"'<>{}]+" if p.startswith("{") else re.escape(p) for p in parts)
    global _routes
    _routes = {**_routes, template: re.compile(pattern)}
    _forget_redacted()


def redact(text: str) -> str:
    """`text` with registered secrets, secret routes and phone numbers (in any form) hidden."""
    if len(text) <= _SHORT:
        return _redact_short(text, _generation)
    return _redact(text)


_SHORT = 64  # values this long repeat (an extra field, the access log's time to the second): remembered
_generation = 0  # of the secrets and routes: a value remembered under an older one is never used


def _forget_redacted() -> None:
    global _generation
    _generation += 1
    _redact_short.cache_clear()


@functools.lru_cache(maxsize=4096)
def _redact_short(text: str, generation: int) -> str:
    return _redact(text)


def _redact(text: str) -> str:
    for secret in _secrets:
        if secret in text:
            text = text.replace(secret, "***")
    for template, pattern in _routes.items():
        text = pattern.sub(template, text)
    if len(_DIGIT.findall(text)) < _FEWEST_DIGITS:  # no phone can be in it: skip the long pattern
        return text
    return mask_phones_in(text)


def _redact_value(value: Any) -> Any:
    """An extra field, masked for JSON: strings, numbers that look like phones, and what is inside
    dicts and lists (the access log's headers); anything else as the text JSON would show."""
    if value is None or isinstance(value, bool | float):
        return value
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, int):
        return value if redact(str(value)) == str(value) else redact(str(value))
    if isinstance(value, dict):
        return {str(k): _redact_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_redact_value(v) for v in value]
    return redact(str(value))


class RedactRecord(logging.Filter):
    """Rewrites the message and extra fields of every record the handler gets, so a record that
    also reaches another handler (a test's capture) carries no phone number or secret either."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a library's bad format arguments: keep what there is, masked
            message = f"{record.msg!r} % {record.args!r}"
        record.msg = redact(message)
        record.args = None
        for key, value in list(record.__dict__.items()):
            if key not in _STANDARD and value is not None:
                setattr(record, key, _redact_value(value))
        setattr(record, _REDACTED, True)
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        done = getattr(record, _REDACTED, False)
        data: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage() if done else redact(record.getMessage()),
        }
        data.update({k: v if done else _redact_value(v) for k, v in record.__dict__.items() if k not in _STANDARD})
        if record.exc_info:
            data["exc"] = redact(self.formatException(record.exc_info))
        if record.stack_info:
            data["stack"] = redact(self.formatStack(record.stack_info))
        return json.dumps(data, ensure_ascii=False, default=str)


class TextFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        # Message and extras masked by RedactRecord, no traceback: the rest (time, level, logger) holds none.
        done = getattr(record, _REDACTED, False) and not record.exc_info and not record.stack_info
        if record.name == "aiohttp.access":  # its extras repeat the line it already wrote
            return line if done else redact(line)
        extras = {k: v for k, v in record.__dict__.items() if k not in _STANDARD}
        if extras:
            line += " " + " ".join(f"{k}={v}" for k, v in extras.items())
        return line if done else redact(line)


class AccessLogger(web_log.AccessLogger):
    """aiohttp's access log, with a request to a route registered by `hide_route` written as the
    route (`POST /webhooks/aliyun/{secret} HTTP/1.1`), never the path it came in on."""

    def _format_line(self, request: BaseRequest, response: StreamResponse,
                     time: float) -> Iterable[tuple[str | tuple[str, str], str]]:
        items = super()._format_line(request, response, time)
        route = _hidden_route(request)
        if route is None:
            return items
        line = f"{request.method} {route} HTTP/{request.version.major}.{request.version.minor}"
        return [(key, line if key == "first_request_line" else value) for key, value in items]


def _hidden_route(request: BaseRequest | None) -> str | None:
    info = getattr(request, "match_info", None)
    resource = getattr(getattr(info, "route", None), "resource", None)
    canonical = getattr(resource, "canonical", None)
    return canonical if canonical in _routes else None


def configure(level: str = "info", fmt: str = "text", stream: TextIO | None = None) -> None:
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.addFilter(RedactRecord())
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(TextFormatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # Tortoise logs every SQL statement (with phone numbers) at DEBUG.
    logging.getLogger("tortoise").setLevel(max(logging.WARNING, root.level))
    logging.getLogger("aiosqlite").setLevel(logging.WARNING)
