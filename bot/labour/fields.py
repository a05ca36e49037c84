"""Reading one field of a labour row (a job notice or an arrears warning): text within its column,
dates in the forms spreadsheets write; JobError names the field that is wrong."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any

_DATE = re.compile(r"^(\d{4})\s*[-/.年]\s*(\d{1,2})\s*[-/.月]\s*(\d{1,2})\s*日?$")


class JobError(ValueError):
    """One row or object that cannot be stored; str() names the field."""


def parse_date(text: str) -> date:
    """'2026-03-01', '2026/3/1' (spreadsheets), '2026年3月1日'."""
    m = _DATE.match(text.strip())
    if m is None:
        raise ValueError(f"expected a date like 2026-03-01, got {text!r}")
    try:
        return date(int(m[1]), int(m[2]), int(m[3]))
    except ValueError:
        raise ValueError(f"no such date: {text!r}") from None


def text_field(values: Mapping[str, Any], name: str, limit: int | None = None) -> str:
    """The field as text, "" when absent; a list, object or true/false, or text over `limit`, is refused."""
    value = values.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        raise JobError(f"{name}: expected text, got {type(value).__name__}")
    text = str(value).strip()
    if limit is not None and len(text) > limit:
        raise JobError(f"{name}: longer than {limit} characters")
    return text


def date_field(values: Mapping[str, Any], name: str) -> date | None:
    text = text_field(values, name)
    if not text:
        return None
    try:
        return parse_date(text)
    except ValueError as exc:
        raise JobError(f"{name}: {exc}") from None
