"""Every import (subscribers, prices, jobs, articles) reads files the same way (content/tabular.py):
UTF-8 or GBK, English or Chinese headers, spaces around cells, size limits, per-line errors with
line numbers, good rows kept, never a traceback (issue 15, items 9, 10, 11, 13)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from content import tabular
from content.loader import TITLE_MAX, read_path

# --- the reader ----------------------------------------------------------------------------------


def test_reader_same_rules_for_every_file() -> None:
    aliases = {"手机号": "phone", "姓名": "name"}
    for data in ("手机号 , 姓名\n13900000001 ,  王五 \n".encode("gbk"),
                 "\ufeffphone, name\n13900000001, 王五\n".encode(),
                 "手机号\t姓名\r\n13900000001\t王五\r\n".encode("gb18030")):
        sheet = tabular.read_csv(data, columns=("phone", "name"), required=("phone",), aliases=aliases)
        assert sheet.errors == [] and sheet.rows == [(2, {"phone": "13900000001", "name": "王五"})], data
    sheet = tabular.read_csv(b'phone,name\n1, "a, ""b"" c" ,\n2\n', columns=("phone", "name"))
    assert sheet.rows == [(2, {"phone": "1", "name": 'a, "b" c'}), (3, {"phone": "2", "name": ""})]
    extra = tabular.read_csv(b"phone\n1,x\n2,,\n", columns=("phone",))
    assert [e.line for e in extra.errors] == [2] and extra.rows == [(3, {"phone": "2"})]


def test_reader_refuses_what_it_cannot_read_line_by_line() -> None:
    assert tabular.read_csv(b"\xff\xfe\x00bad", columns=("a",)).errors[0].message.startswith("not UTF-8")
    assert "missing column phone" in tabular.read_csv(b"name\n", columns=("phone",), required=("phone",)).errors[0].message
    assert "unknown column x" in tabular.read_csv(b"a,x\n", columns=("a",), extra="error").errors[0].message
    assert "twice" in tabular.read_csv(b"a, A\n", columns=("a",)).errors[0].message
    mixed = "a\n好\n".encode() + "坏\n".encode("gbk") + "好\n".encode()
    sheet = tabular.read_csv(mixed, columns=("a",))
    assert [r[0] for r in sheet.rows] == [2, 4] and [e.line for e in sheet.errors] == [3]
    assert "GBK" in sheet.errors[0].message


# --- articles (JSON Lines) -----------------------------------------------------------------------

GOOD = {"ref": "ok-1", "title": "柑橘溃疡病防治", "body": "剪除病枝，喷铜制剂。"}


def _jsonl(tmp_path: Path, *lines: bytes) -> Path:
    path = tmp_path / "articles.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _good(ref: str) -> bytes:
    return json.dumps({**GOOD, "ref": ref}, ensure_ascii=False).encode()


def test_traceback_on_a_deeply_nested_jsonl_line(tmp_path: Path) -> None:
    """Issue 15 #10: a deeply nested line raised RecursionError out of the import."""
    deep = b'{"ref": "deep", "title": "x", "body": "y", "keywords": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    too_long = json.dumps({**GOOD, "ref": "long", "body": "长" * (tabular.JSONL_LINE_MAX + 1)}).encode()
    path = _jsonl(tmp_path, _good("a"), deep, b"[" * 50 + b"]" * 50, too_long, b'{"body": NaN}', _good("b"))
    report = read_path(path)
    assert [a.ref for a in report.articles] == ["a", "b"]
    assert report.errors == [f"{path}:2: nested deeper than {tabular.JSONL_DEPTH_MAX} levels",
                             f"{path}:3: nested deeper than {tabular.JSONL_DEPTH_MAX} levels",
                             f"{path}:4: line longer than {tabular.JSONL_LINE_MAX} characters ({len(too_long)})",
                             f"{path}:5: not valid JSON (NaN is not a number JSON allows)"]


def test_wrong_types_accepted_in_articles_jsonl(tmp_path: Path) -> None:
    """Issue 15 #11: {"title": 5, "body": ["x"]} was stored as "5" / "['x']", a 1,000-character title
    cut to 200, a GBK line stored as mojibake."""
    rows = [{"ref": "t", "title": 5, "body": "正文"}, {"ref": "b", "title": "标题", "body": ["x"]},
            {"ref": "s", "title": "标题", "body": "正文", "summary": {"a": 1}},
            {"ref": 7, "title": "标题", "body": "正文"},
            {"ref": "m", "title": "标题", "body": "正文", "months": [True]},
            {"ref": "long", "title": "长" * 1000, "body": "正文"},
            {"ref": "edge", "title": "长" * TITLE_MAX, "body": "正文"},
            {"ref": "two-lines", "title": "一行\n两行", "body": "正文"}]
    gbk = json.dumps({**GOOD, "ref": "gbk"}, ensure_ascii=False).encode("gbk")
    path = _jsonl(tmp_path, _good("first"), *(json.dumps(r, ensure_ascii=False).encode() for r in rows), gbk)
    report = read_path(path)
    assert [a.ref for a in report.articles] == ["first", "edge"]
    assert report.errors == [
        f"{path}:2: title: expected text, got a number",
        f"{path}:3: body: expected text, got a list",
        f"{path}:4: summary: expected text, got an object",
        f"{path}:5: ref: expected text, got a number",
        f"{path}:6: months: expected a list of integers 1-12",
        f"{path}:7: title: longer than {TITLE_MAX} characters (1000)",
        f"{path}:9: title: must be one line",
        f"{path}:10: this line is not UTF-8 text (a line saved as GBK in a UTF-8 file?); save the whole file as UTF-8",
    ]
    # A file saved as GBK throughout is read as GBK, like every other import.
    path.write_bytes(json.dumps(GOOD, ensure_ascii=False).encode("gbk") + b"\n")
    assert [a.title for a in read_path(path).articles] == [GOOD["title"]]


def test_one_title_limit_for_file_console_and_api() -> None:
    from bot.web import articles

    assert articles.TITLE_MAX == TITLE_MAX == 60
    _, errors = articles.validate({"title": "长" * (TITLE_MAX + 1), "body": "正文", "sources": ["书"]})
    assert any(f"标题最多 {TITLE_MAX} 个字" in e for e in errors)
