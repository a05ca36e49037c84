"""Declared request input: one way to read query strings and JSON bodies, with types and bounds.

A handler says what it accepts, under its guard:

    AUDIT_QUERY = Query(officer=Text(50, label="账号名"), before=Int(1, MAX_ID, label="从这条记录往前"))

    @auth.page("supervisor")
    @accepts(query=AUDIT_QUERY)
    async def audit_page(request): ...
        request[QUERY]["before"]  # an int within the bounds, or None when not given

Query values arrive as text: an empty value counts as not given; a number must be written as one
(no 1e26, 1.5, NaN or inf) and lie within its bounds; text has a length limit (and, where declared, a
list of allowed values); no text may hold a NUL character or an unpaired surrogate (PostgreSQL refuses
both). Query names a handler does not declare are ignored.

Every JSON body goes through `read_json` (as `auth.json_body` and the webhooks do): at most
MAX_JSON_BYTES, nested at most MAX_JSON_DEPTH deep, numbers finite and of at most MAX_INT_DIGITS
digits, strings storable. A declared body (`accepts(body=Obj(...))`) is then checked field by field.

What is refused raises `Invalid`; the console middleware answers it as 400 {"error": "…"} on the API
(413 for too much, 404 for an id beyond any table), and on console pages as the page again without the
bad parameters and the reason on top (a GET) or an error page (a form). The OpenAPI document
(bot/web/openapi.py) is generated from the same declarations, so what it says is what is enforced.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot.web.fields import MAX_ID, Field, Invalid, storable

MAX_JSON_BYTES = 1024 * 1024  # the app's client_max_size: nothing larger reaches a handler anyway
MAX_JSON_DEPTH = 20  # the deepest body the API takes is 4 levels (a broadcast's calendar schedule)
MAX_INT_DIGITS = 19  # a JSON whole number fits a 64-bit integer
QUERY = web.RequestKey("query_params", dict)
BODY = web.RequestKey("json_body", object)
_JSON_READ = web.RequestKey("json_read", object)  # the body as parsed, read once per request
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|[\[\]{}]')


# --- query strings ----------------------------------------------------------------------------------


class Query:
    """The query parameters a route reads. `parse` gives every declared name: its value, or its default."""

    def __init__(self, **params: Field) -> None:
        self.params = params

    def parse(self, query: Mapping[str, str]) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, spec in self.params.items():
            raw = query.get(name, "")
            if raw == "":
                if spec.required:
                    raise spec.refuse(name, "必须填写")
                values[name] = spec.default
                continue
            if not storable(raw):
                raise spec.refuse(name, "含有不能识别的字符")
            values[name] = spec.from_text(raw, name)
        return values

    def describe(self) -> list[dict[str, Any]]:
        """OpenAPI parameters: an empty or missing value is the default, so no type includes null."""
        return [{"name": name, "in": "query", "required": spec.required,
                 "schema": {**spec.schema(), **({"default": spec.default} if spec.default is not None else {})},
                 **({"description": spec.label} if spec.label else {})} for name, spec in self.params.items()]


# --- JSON -------------------------------------------------------------------------------------------


def _depth_ok(text: str, limit: int) -> bool:
    depth = 0
    for token in _TOKENS.finditer(text):
        char = token.group()
        if char in "[{":
            depth += 1
            if depth > limit:
                return False
        elif char in "]}":
            depth -= 1
    return True


def _whole(digits: str) -> int:
    if len(digits.lstrip("-")) > MAX_INT_DIGITS:
        raise ValueError("whole number too long")
    return int(digits)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def _no_constants(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _unstorable(value: Any) -> bool:
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if not storable(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


def loads(data: bytes | str, *, what: str = "请求内容", max_depth: int = MAX_JSON_DEPTH,
          max_bytes: int = MAX_JSON_BYTES) -> Any:
    """JSON from a request or a callback, or Invalid: valid UTF-8, at most `max_bytes`, nested at most
    `max_depth` deep, finite numbers, whole numbers of at most MAX_INT_DIGITS digits, storable text."""
    if len(data) > max_bytes:
        raise Invalid(f"{what}太大（最多 {max_bytes // 1024} KiB）", 413)
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise Invalid(f"{what}不是 UTF-8 编码的 JSON") from None
    else:
        text = data
    if not _depth_ok(text, max_depth):
        raise Invalid(f"{what}的 JSON 嵌套太深（最多 {max_depth} 层）")
    try:
        value = json.loads(text, parse_int=_whole, parse_float=_finite, parse_constant=_no_constants)
    except (ValueError, RecursionError):
        raise Invalid(f"{what}不是有效的 JSON（数字要有限，整数最多 {MAX_INT_DIGITS} 位）") from None
    if _unstorable(value):
        raise Invalid(f"{what}里有不能保存的字符（空字符或不成对的代理字符）")
    return value


async def read_json(request: web.Request) -> Any:
    """The request's JSON body (any JSON value), checked as `loads` does; read once per request."""
    if _JSON_READ in request:
        return request[_JSON_READ]
    if (request.content_length or 0) > MAX_JSON_BYTES:
        raise Invalid(f"请求内容太大（最多 {MAX_JSON_BYTES // 1024} KiB）", 413)
    try:
        data = await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise Invalid(f"请求内容太大（最多 {MAX_JSON_BYTES // 1024} KiB）", 413) from None
    if not data.strip():
        raise Invalid("请求内容是空的：应是 JSON")
    value = loads(data)
    request[_JSON_READ] = value
    return value


async def json_object(request: web.Request) -> dict[str, Any]:
    """The body, which must be a JSON object (as checked by the route's declaration, when it has one)."""
    if BODY in request:
        value = request[BODY]
    else:
        value = await read_json(request)
    if not isinstance(value, dict):
        raise Invalid("请求内容应是 JSON 对象 {…}")
    return value


# --- the declaration on a handler -------------------------------------------------------------------

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class Accepts:
    query: Query | None = None
    body: Field | None = None
    body_optional: bool = False  # an empty body is fine (the body is then {})
    other_types: tuple[str, ...] = ()  # bodies of these content types are the handler's (a CSV file)


def accepts(*, query: Query | None = None, body: Field | None = None, body_optional: bool = False,
            other_types: tuple[str, ...] = ()) -> Callable[[Handler], Handler]:
    """Check the declared query parameters (into request[QUERY]) and JSON body (into request[BODY])
    before the handler runs. Put it under the route's guard, so nobody learns more before logging in."""
    declared = Accepts(query, body, body_optional, other_types)

    def wrap(handler: Handler) -> Handler:
        async def checked(request: web.Request) -> web.StreamResponse:
            if query is not None:
                request[QUERY] = query.parse(request.query)
            if body is not None and request.content_type not in other_types:
                if body_optional and not request.body_exists:
                    request[BODY] = {}
                else:
                    request[BODY] = body.check(await read_json(request), "")
            return await handler(request)

        checked.__name__ = handler.__name__
        checked.__doc__ = handler.__doc__
        checked.__module__ = handler.__module__
        checked.accepts = declared  # type: ignore[attr-defined]  # read by openapi.py and the fuzz test
        return checked

    return wrap


def declared(handler: Any) -> Accepts | None:
    return getattr(handler, "accepts", None)


async def check_form(request: web.Request) -> None:
    """A console form whose text no database stores (a NUL, an unpaired surrogate) is refused whole."""
    if request.content_type not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        return
    form = await request.post()  # cached: the guard and the handler read it again for free
    for name, value in form.items():
        if isinstance(value, str) and not storable(value):
            raise Invalid(f"表单的“{name[:30]}”一栏里有不能保存的字符（空字符等），请删掉后再提交。")


def check_path(request: web.Request) -> None:
    """Ids in the path (the routes take digits only) beyond any table's range are simply not there."""
    raw = request.match_info.get("id")
    if raw is not None and (len(raw) > 10 or int(raw) > MAX_ID or int(raw) < 1):
        raise Invalid("没有这条记录", 404, param="id")
