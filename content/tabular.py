"""One reader for every CSV and JSON Lines import: subscribers, prices, jobs, articles.

The same rules everywhere:

* Encoding: UTF-8 with or without a BOM, or GBK/GB18030 (what Excel saves as "CSV" on a Chinese PC).
  A file is one encoding: GB18030 only when no line of it is UTF-8 text, so a stray GBK line in a
  UTF-8 file is an error on that line, never stored as mojibake.
* CSV: a header line, English or Chinese column names (each import passes its aliases), spaces around
  names, cells and delimiters ignored (``date, market, …``), comma or tab delimited. A quoted cell
  must close on its own line: an unbalanced quote is an error on that line and the next line is read
  as a row of its own (cells cannot span lines, so nothing is ever merged into a later row).
* Limits: CELL_MAX characters per cell, LINE_MAX per CSV line; JSONL_LINE_MAX per JSON line, nested
  at most JSONL_DEPTH_MAX lists/objects deep.
* Every problem is a LineError (line number, English for the command line, Chinese for the console);
  the good rows are kept. Nothing here raises on bad input.

It lives in content/ because content/ must import nothing from bot/, while bot/ already imports
content/: this is the one place both may use. It needs the standard library only.
"""

from __future__ import annotations

import codecs
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

CELL_MAX = 4096  # characters in one CSV cell (the longest real one, a job's pay terms, is 100)
LINE_MAX = 65536  # characters in one CSV line
JSONL_LINE_MAX = 1024 * 1024  # characters in one JSON line: a 20,000-character article escaped as \uXXXX fits
JSONL_DEPTH_MAX = 16  # lists/objects inside each other on one JSON line (an article needs 2)

_NEWLINE = re.compile(r"\r\n|\r|\n")
_NEWLINE_BYTES = re.compile(rb"\r\n|\r|\n")
_BEYOND_LATIN = re.compile(r"[\u0800-\U0010ffff]")  # CJK and the like: three bytes or more in UTF-8
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"')
_BRACKET = re.compile(r"[\[\]{}]")
NOT_TEXT = ("not UTF-8 or GBK text (save the sheet as CSV UTF-8)",
            "文件不是文本表格（请在 Excel 里“另存为 CSV UTF-8”）")


@dataclass(frozen=True)
class LineError:
    line: int
    message: str  # English, for the command line
    chinese: str  # for the console

    def __str__(self) -> str:
        return f"{self.line}: {self.message}"


class FieldError(ValueError):
    """A bad value: str() is the English message, .chinese the console's."""

    def __init__(self, message: str, chinese: str = "") -> None:
        super().__init__(message)
        self.chinese = chinese or message


@dataclass
class Lines:
    """A file's lines, decoded: None for a line that is not text in the file's encoding."""

    encoding: str
    lines: list[str | None]


@dataclass
class Sheet:
    """A CSV file read: the header's column names (canonical), the good rows, the bad lines."""

    columns: list[str] = field(default_factory=list)
    rows: list[tuple[int, dict[str, str]]] = field(default_factory=list)  # (line, column -> cell)
    errors: list[LineError] = field(default_factory=list)
    encoding: str = "utf-8"


# --- encoding ------------------------------------------------------------------------------------


def decode_lines(data: bytes) -> Lines:
    """Split into lines (\\r\\n, \\r or \\n) and decode: UTF-8 (a BOM is dropped), else GB18030 when no
    line is UTF-8 text and the whole file is GB18030; otherwise the lines that are not UTF-8 are None."""
    bom = data.startswith(codecs.BOM_UTF8)
    body = data[len(codecs.BOM_UTF8):] if bom else data
    try:
        return Lines("utf-8", _NEWLINE.split(body.decode("utf-8")))
    except UnicodeDecodeError:
        pass
    raw = _NEWLINE_BYTES.split(body)
    decoded: list[str | None] = []
    utf8_text = False
    for line in raw:
        try:
            text = line.decode("utf-8")
        except UnicodeDecodeError:
            decoded.append(None)
            continue
        decoded.append(text)
        # GBK bytes can pass for a Latin letter or two in UTF-8, hardly ever for Chinese.
        utf8_text = utf8_text or _BEYOND_LATIN.search(text) is not None
    if not bom and not utf8_text:
        try:
            return Lines("gb18030", _NEWLINE.split(body.decode("gb18030")))
        except UnicodeDecodeError:
            pass
    return Lines("utf-8", decoded)


def decode_text(data: bytes) -> str:
    """A whole file as text under the same rule; FieldError when some line is not text."""
    lines = decode_lines(data)
    if any(line is None for line in lines.lines):
        raise FieldError(*NOT_TEXT)
    return "\n".join(line or "" for line in lines.lines)


def _undecodable(line: int, encoding: str) -> LineError:
    return LineError(line, f"this line is not {encoding.upper()} text (a line saved as GBK in a UTF-8 file?); "
                           "save the whole file as CSV UTF-8",
                     "这一行的文字编码和文件其余部分不同（混入了 GBK？），请把整个文件另存为 CSV UTF-8")


# --- CSV -----------------------------------------------------------------------------------------


def split_cells(line: str, delimiter: str = ",") -> list[str]:
    """One CSV line -> its cells, spaces around each trimmed. A quoted cell ("a, b", or "say ""hi"" ")
    must close on this line and be followed by the delimiter; FieldError otherwise."""
    if '"' not in line:
        return [cell.strip() for cell in line.split(delimiter)]
    cells: list[str] = []
    i, end = 0, len(line)
    while True:
        while i < end and line[i] in " \t\u3000" and line[i] != delimiter:
            i += 1
        if i < end and line[i] == '"':
            start, parts = i, []
            i += 1
            while True:
                close = line.find('"', i)
                if close < 0:
                    raise FieldError(
                        f'a quote (") opened at character {start + 1} is not closed on this line '
                        "(close it or remove it; a cell cannot run onto the next line)",
                        f"第 {start + 1} 个字符处的引号（\"）没有在这一行配对：请补上或删掉（一个格子不能跨行）")
                parts.append(line[i:close])
                if line.startswith('"', close + 1):  # "" inside quotes is one "
                    parts.append('"')
                    i = close + 2
                    continue
                i = close + 1
                break
            while i < end and line[i] in " \t\u3000" and line[i] != delimiter:
                i += 1
            if i < end and line[i] != delimiter:
                raise FieldError(f"text after the closing quote at character {i} (quote the whole cell)",
                                 f"第 {i} 个字符处引号后面还有文字：请把整个格子放在引号里")
            cells.append("".join(parts).strip())
        else:
            nxt = line.find(delimiter, i)
            nxt = end if nxt < 0 else nxt
            cells.append(line[i:nxt].strip())
            i = nxt
        if i >= end:
            return cells
        i += 1  # past the delimiter
        if i == end:
            cells.append("")
            return cells


def header_name(name: str, aliases: Mapping[str, str]) -> str:
    """' 手机号 ' -> 'phone', ' Date' -> 'date': spaces trimmed, lower case, aliases applied."""
    key = name.strip().lstrip("\ufeff").strip().lower()
    return aliases.get(key, key)


def read_csv(data: bytes, *, columns: Sequence[str], required: Sequence[str] = (),
             aliases: Mapping[str, str] | None = None, extra: Literal["ignore", "error"] = "ignore") -> Sheet:
    """A CSV file with a header line -> the rows as {column: cell} (only `columns`; a column the file
    lacks is absent, a short row's missing cells are ''), numbered by their line in the file.

    `required` columns must be in the header; other names are dropped (extra="ignore") or stop the
    file (extra="error"). A bad header stops the file; a bad line is reported and skipped."""
    aliases = {k.lower(): v for k, v in (aliases or {}).items()}
    sheet = Sheet()
    lines = decode_lines(data)
    sheet.encoding = lines.encoding
    first = next((n for n, text in enumerate(lines.lines) if text is None or text.strip()), None)
    if first is None:
        header = ",".join(columns)
        sheet.errors.append(LineError(1, f"empty file: expected a header line ({header})",
                                      f"文件是空的：第一行应是表头（{header}）"))
        return sheet
    header_text = lines.lines[first]
    if header_text is None:
        sheet.errors.append(LineError(first + 1, *NOT_TEXT))
        return sheet
    delimiter = "\t" if "," not in header_text and "\t" in header_text else ","
    try:
        names = [header_name(n, aliases) for n in _checked_cells(header_text, delimiter)]
    except FieldError as exc:
        sheet.errors.append(LineError(first + 1, f"header: {exc}", f"表头：{exc.chinese}"))
        return sheet
    while names and not names[-1]:
        names.pop()  # an empty column a spreadsheet saved after the last one
    problem = _header_problem(names, columns, required, extra)
    if problem is not None:
        sheet.errors.append(LineError(first + 1, *problem))
        return sheet
    sheet.columns = [n for n in names if n in columns]
    keep = [(i, n) for i, n in enumerate(names) if n in columns]
    width = len(names)
    for index in range(first + 1, len(lines.lines)):
        text, line = lines.lines[index], index + 1
        if text is None:
            sheet.errors.append(_undecodable(line, lines.encoding))
            continue
        if not text.strip():
            continue
        try:
            cells = _checked_cells(text, delimiter)
        except FieldError as exc:
            sheet.errors.append(LineError(line, str(exc), exc.chinese))
            continue
        if len(cells) > width and any(cells[width:]):
            sheet.errors.append(LineError(line, f"more cells than the {width} columns of the header",
                                          f"这一行的格子比表头的 {width} 列多（多了逗号？）"))
            continue
        if not any(cells):
            continue  # a row of empty cells: the end of a sheet
        sheet.rows.append((line, {name: cells[i] if i < len(cells) else "" for i, name in keep}))
    return sheet


def _checked_cells(text: str, delimiter: str) -> list[str]:
    if len(text) > LINE_MAX:
        raise FieldError(f"line longer than {LINE_MAX} characters ({len(text)})",
                         f"这一行太长（{len(text)} 个字，最多 {LINE_MAX} 个）")
    cells = split_cells(text, delimiter)
    for number, cell in enumerate(cells, 1):
        if len(cell) > CELL_MAX:
            raise FieldError(f"cell {number} longer than {CELL_MAX} characters ({len(cell)})",
                             f"第 {number} 格太长（{len(cell)} 个字，最多 {CELL_MAX} 个）")
        if "\x00" in cell:
            raise FieldError(f"cell {number} contains a NUL character (is this a spreadsheet's binary file?)",
                             f"第 {number} 格里有不可见的控制字符（是不是 Excel 原文件而不是 CSV？）")
    return cells


def _header_problem(names: list[str], columns: Sequence[str], required: Sequence[str],
                    extra: str) -> tuple[str, str] | None:
    expected = ",".join(columns)
    if "" in names:
        number = names.index("") + 1
        return (f"column {number} of the header has no name (expected {expected})",
                f"表头第 {number} 列没有名称（表头应为 {expected}）")
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        return (f"column {', '.join(doubled)} appears twice in the header",
                f"表头里 {'、'.join(doubled)} 列出现了两次")
    missing = [c for c in required if c not in names]
    if missing:
        return (f"missing column {', '.join(missing)} (expected {expected})",
                f"第一行表头缺少 {'、'.join(missing)} 列（表头应为 {expected}）")
    unknown = [n for n in names if n not in columns]
    if unknown and extra == "error":
        return (f"unknown column {', '.join(unknown)} (expected {expected})",
                f"表头里有不认识的列 {'、'.join(unknown)}（表头应为 {expected}）")
    return None


# --- JSON Lines ----------------------------------------------------------------------------------


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not a number JSON allows")


def json_depth(text: str) -> int:
    """How deeply lists and objects nest in a JSON text (strings skipped)."""
    depth = deepest = 0
    for match in _BRACKET.finditer(_JSON_STRING.sub("", text)):
        if match.group() in "[{":
            depth += 1
            deepest = max(deepest, depth)
        else:
            depth -= 1
    return deepest


def parse_json_line(text: str) -> Any:
    """One JSON value within the limits; FieldError (English and Chinese) otherwise, never another error."""
    if len(text) > JSONL_LINE_MAX:
        raise FieldError(f"line longer than {JSONL_LINE_MAX} characters ({len(text)})",
                         f"这一行太长（{len(text)} 个字，最多 {JSONL_LINE_MAX} 个）")
    if text.count("[") + text.count("{") > JSONL_DEPTH_MAX and json_depth(text) > JSONL_DEPTH_MAX:
        raise FieldError(f"nested deeper than {JSONL_DEPTH_MAX} levels", f"嵌套超过 {JSONL_DEPTH_MAX} 层")
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as exc:
        raise FieldError(f"not valid JSON ({exc.msg} at character {exc.pos + 1})",
                         f"不是有效的 JSON（第 {exc.pos + 1} 个字符：{exc.msg}）") from None
    except RecursionError:  # the depth check above should have caught it
        raise FieldError(f"nested deeper than {JSONL_DEPTH_MAX} levels", f"嵌套超过 {JSONL_DEPTH_MAX} 层") from None
    except ValueError as exc:  # NaN, or an integer longer than Python converts
        reason = str(exc).split(":", 1)[0]
        raise FieldError(f"not valid JSON ({reason})", "不是有效的 JSON（含 NaN、Infinity 或位数过多的数字）") from None


def read_jsonl(data: bytes) -> tuple[list[tuple[int, dict[str, Any]]], list[LineError]]:
    """One JSON object per line -> (line, object) for the good lines and a LineError for each bad one;
    blank lines are skipped."""
    lines = decode_lines(data)
    rows: list[tuple[int, dict[str, Any]]] = []
    errors: list[LineError] = []
    for line, text in enumerate(lines.lines, 1):
        if text is None:
            errors.append(LineError(line, f"this line is not {lines.encoding.upper()} text (a line saved as GBK "
                                          "in a UTF-8 file?); save the whole file as UTF-8",
                                    "这一行的文字编码和文件其余部分不同（混入了 GBK？），请把整个文件存为 UTF-8"))
            continue
        if not text.strip():
            continue
        try:
            value = parse_json_line(text)
        except FieldError as exc:
            errors.append(LineError(line, str(exc), exc.chinese))
            continue
        if not isinstance(value, dict):
            errors.append(LineError(line, "expected a JSON object", "每一行应是一个 JSON 对象"))
            continue
        rows.append((line, value))
    return rows, errors


# --- values --------------------------------------------------------------------------------------


def text_value(value: Any, name: str, limit: int, *, label: str = "") -> str:
    """A CSV cell or JSON field as text, trimmed: a string or a number (JSON), None is ''. Anything else
    (a list, an object, true/false) or text longer than `limit` is a FieldError naming the field; text
    is never cut short silently."""
    label = label or name
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        kind = {bool: "true/false", list: "a list", dict: "an object"}.get(type(value), type(value).__name__)
        raise FieldError(f"{name}: expected text, got {kind}",
                         f"{label}应是文字，不能是{_KINDS.get(type(value), '其他类型')}")
    text = str(value).strip()
    if len(text) > limit:
        raise FieldError(f"{name}: longer than {limit} characters ({len(text)})",
                         f"{label}最多 {limit} 个字（现在 {len(text)} 个字）")
    return text


def text_list(value: Any, name: str, *, label: str = "", split: re.Pattern[str] | None = None) -> list[str]:
    """A list of strings/numbers, or one string split at `split`; FieldError for any other shape."""
    label = label or name
    if value is None:
        return []
    if isinstance(value, str):
        items: Iterable[Any] = split.split(value) if split is not None else [value]
    elif isinstance(value, list) and all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        items = value
    else:
        raise FieldError(f"{name}: expected a list of text", f"{label}应是文字列表")
    return [str(v).strip() for v in items if str(v).strip()]


_KINDS = {bool: "真/假", list: "列表", dict: "对象"}
