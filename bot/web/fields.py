"""Declared value types for request input (Int, Text, List, Obj …): each checks one value, JSON or
query text, and describes itself for the OpenAPI document. bot/web/params.py applies them to requests."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

MAX_ID = 2**31 - 1  # the largest id a table holds (PostgreSQL integer); bigger ones are not found
_WHOLE = re.compile(r"[+-]?[0-9]{1,30}")  # ASCII digits: int() would also read ٣ or ３


class Invalid(ValueError):
    """Input refused before (or while) a handler uses it; the message is plain Chinese for the officer."""

    def __init__(self, message: str, status: int = 400, *, param: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.param = param  # the query parameter at fault, dropped when the console page is shown again


def _name(path: str, label: str) -> str:
    return f"{path}（{label}）" if label else path


def storable(text: str) -> bool:
    """Text every database takes: no NUL character, no unpaired surrogate."""
    if "\x00" in text:
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


# --- types ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Field:
    """One declared value. `required`: must be given; `nullable`: JSON null is allowed (and means not
    given); `label`: the Chinese name officers read in the error (the field name is always said too)."""

    label: str = field(default="", kw_only=True)
    required: bool = field(default=False, kw_only=True)
    nullable: bool = field(default=True, kw_only=True)
    default: Any = field(default=None, kw_only=True)
    description: str = field(default="", kw_only=True)

    def from_text(self, raw: str, path: str) -> Any:
        """A query parameter, as text."""
        return self.check(raw, path)

    def check(self, value: Any, path: str) -> Any:
        """A JSON value (not None): the value to use, or Invalid."""
        raise NotImplementedError

    def schema(self) -> dict[str, Any]:
        raise NotImplementedError

    def described(self) -> dict[str, Any]:
        out = self.schema()
        if self.nullable and not self.required:
            kind = out.get("type")
            if isinstance(kind, str):
                out["type"] = [kind, "null"]
        if self.default is not None:
            out["default"] = self.default
        if text := self.description or self.label:
            out["description"] = text
        return out

    def refuse(self, path: str, expected: str) -> Invalid:
        return Invalid(f"{_name(path, self.label)}：{expected}", param=path)


@dataclass(frozen=True)
class Int(Field):
    low: int = 0
    high: int = MAX_ID

    def _expected(self) -> str:
        return f"应是 {self.low} 到 {self.high} 之间的整数"

    def from_text(self, raw: str, path: str) -> int:
        if not _WHOLE.fullmatch(raw.strip()):
            raise self.refuse(path, self._expected())
        return self.check(int(raw), path)

    def check(self, value: Any, path: str) -> int:
        if isinstance(value, bool) or not isinstance(value, int) or not self.low <= value <= self.high:
            raise self.refuse(path, self._expected())
        return int(value)

    def schema(self) -> dict[str, Any]:
        return {"type": "integer", "minimum": self.low, "maximum": self.high}


@dataclass(frozen=True)
class Text(Field):
    max_len: int = 200
    min_len: int = 0
    choices: tuple[str, ...] = ()

    def check(self, value: Any, path: str) -> str:
        if not isinstance(value, str):
            raise self.refuse(path, "应是文字")
        if not storable(value):
            raise self.refuse(path, "含有不能保存的字符")
        if self.choices and value not in self.choices:
            raise self.refuse(path, f"只能是 {'、'.join(self.choices)} 之一（现在是“{value[:20]}”）")
        if len(value) > self.max_len:
            raise self.refuse(path, f"最多 {self.max_len} 个字（现在 {len(value)} 个字）")
        if len(value) < self.min_len:
            raise self.refuse(path, f"至少 {self.min_len} 个字")
        return value

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "string", "maxLength": self.max_len}
        if self.min_len:
            out["minLength"] = self.min_len
        if self.choices:
            out["enum"] = list(self.choices)
        return out


@dataclass(frozen=True)
class Bool(Field):
    TRUE = ("1", "true", "yes", "on")
    FALSE = ("0", "false", "no", "off")

    def from_text(self, raw: str, path: str) -> bool:
        word = raw.strip().lower()
        if word in self.TRUE or word in self.FALSE:
            return word in self.TRUE
        raise self.refuse(path, "应是 1 或 0（true 或 false）")

    def check(self, value: Any, path: str) -> bool:
        if not isinstance(value, bool):
            raise self.refuse(path, "应是 true 或 false")
        return value

    def schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True)
class Scalar(Field):
    """Text or a number, as spreadsheets and scales send it (a price, a date); the handler reads it."""

    max_len: int = 100

    def check(self, value: Any, path: str) -> Any:
        if isinstance(value, str):
            return Text(self.max_len, label=self.label).check(value, path)
        if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            return value
        raise self.refuse(path, f"应是文字或数字（最多 {self.max_len} 个字）")

    def schema(self) -> dict[str, Any]:
        return {"type": ["string", "number"], "maxLength": self.max_len}


@dataclass(frozen=True)
class Value(Field):
    """Any JSON value (its size and depth are bounded by the reader): a row the handler checks itself
    and reports by position."""

    def check(self, value: Any, path: str) -> Any:
        return value

    def schema(self) -> dict[str, Any]:
        return {}


@dataclass(frozen=True)
class List(Field):
    item: Field = field(default_factory=lambda: Text())
    max_items: int = 100
    text_items: bool = False  # one text is taken too (the handler splits it): "柑橘,茶叶"

    def check(self, value: Any, path: str) -> Any:
        if self.text_items and isinstance(value, str):
            each = self.item.max_len + 1 if isinstance(self.item, Text | Scalar) else 50
            return Text(self.max_items * each, label=self.label).check(value, path)
        if not isinstance(value, list):
            raise self.refuse(path, "应是列表" + ("或文字" if self.text_items else ""))
        if len(value) > self.max_items:  # 413: too much for one request, split it
            raise Invalid(f"{_name(path, self.label)}：最多 {self.max_items} 项（现在 {len(value)} 项），请分几次发",
                          413, param=path)
        return [self.item.check(v, f"{path}[{i}]") for i, v in enumerate(value)]

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "array", "items": self.item.described(), "maxItems": self.max_items}
        return {"oneOf": [out, {"type": "string"}]} if self.text_items else out


@dataclass(frozen=True)
class Map(Field):
    """An object whose keys are data (a township → its date)."""

    key: Text = field(default_factory=lambda: Text(50))
    value: Field = field(default_factory=lambda: Text())
    max_items: int = 500

    def check(self, value: Any, path: str) -> dict[str, Any]:
        if not isinstance(value, dict):
            raise self.refuse(path, "应是对象 {名称: 值}")
        if len(value) > self.max_items:
            raise self.refuse(path, f"最多 {self.max_items} 项")
        return {self.key.check(k, f"{path} 的名称"): self.value.check(v, f"{path}.{k}") for k, v in value.items()}

    def schema(self) -> dict[str, Any]:
        return {"type": "object", "additionalProperties": self.value.described(), "maxProperties": self.max_items}


class Obj(Field):
    """A JSON object with declared fields. Undeclared ones are refused when `closed`, else passed on."""

    def __init__(self, fields: Mapping[str, Field] | None = None, *, closed: bool = False, label: str = "",
                 required: bool = False, nullable: bool = True, description: str = "",
                 example: Mapping[str, Any] | None = None, **named: Field) -> None:
        super().__init__(label=label, required=required, nullable=nullable, description=description)
        object.__setattr__(self, "fields", {**(fields or {}), **named})
        object.__setattr__(self, "closed", closed)
        object.__setattr__(self, "example", dict(example) if example is not None else None)

    fields: dict[str, Field]
    closed: bool
    example: dict[str, Any] | None

    # Declarations are compared by identity (the dataclass equality would compare labels only).
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def check(self, value: Any, path: str) -> dict[str, Any]:
        where = path or "请求内容"
        if not isinstance(value, dict):
            expected = "应是 JSON 对象" + (f"（可用的字段：{'、'.join(self.fields)}）" if self.fields else "")
            raise self.refuse(path, expected) if path else Invalid(f"请求内容{expected}")
        if self.closed and (unknown := sorted(set(value) - set(self.fields))):
            raise Invalid(f"{where}里有不认识的字段 {'、'.join(unknown)}（可用的字段：{'、'.join(self.fields)}）",
                          param=path)
        out = dict(value)
        for name, spec in self.fields.items():
            inner = f"{path}.{name}" if path else name
            given = value.get(name)
            if given is None:
                if spec.required or (name in value and not spec.nullable):
                    raise spec.refuse(inner, "必须填写")
                continue
            out[name] = spec.check(given, inner)
        return out

    def schema(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "object",
                               "properties": {name: spec.described() for name, spec in self.fields.items()}}
        if required := [name for name, spec in self.fields.items() if spec.required]:
            out["required"] = required
        if self.closed:
            out["additionalProperties"] = False
        if self.example is not None:
            out["example"] = self.example
        return out


class OneOf(Field):
    """Several accepted shapes (a list of rows, or an object holding them): the first whose JSON type
    matches is checked."""

    def __init__(self, *shapes: Field, label: str = "", description: str = "") -> None:
        super().__init__(label=label, description=description)
        object.__setattr__(self, "shapes", shapes)

    shapes: tuple[Field, ...]

    # Declarations are compared by identity (the dataclass equality would compare labels only).
    __eq__ = object.__eq__
    __hash__ = object.__hash__

    def check(self, value: Any, path: str) -> Any:
        for shape in self.shapes:
            if isinstance(value, dict) == isinstance(shape, Obj | Map) and isinstance(value, list) == isinstance(
                    shape, List):
                return shape.check(value, path)
        kinds = "、".join("对象" if isinstance(s, Obj | Map) else "列表" if isinstance(s, List) else "值"
                         for s in self.shapes)
        if path:
            raise self.refuse(path, f"应是{kinds}之一")
        raise Invalid(f"请求内容应是{kinds}之一")

    def schema(self) -> dict[str, Any]:
        return {"oneOf": [s.described() for s in self.shapes]}


@dataclass(frozen=True)
class Day(Field):
    """A calendar day written 2026-12-06 (what a date input sends): a datetime.date."""

    def check(self, value: Any, path: str) -> date:
        if not isinstance(value, str) or not _DAY.fullmatch(value.strip()):
            raise self.refuse(path, "应是日期，如 2026-12-06")
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            raise self.refuse(path, "没有这一天") from None

    def schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date"}


_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
