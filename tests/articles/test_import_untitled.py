"""Untitled material (passages, notices) imports whole: a title is made from its first sentence."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web

from content.loader import derive_title, read_path
from content.models import Article
from tests.conftest import ROOT

# Made-up rows in the shape of the public passage sets: a ref, an empty title, a body.
ROWS = [
    {"ref": "u-1", "title": "", "body": "春播玉米宜在地温稳定超过十度后播种，过早易烂种。覆膜可提早七天左右。"},
    {"ref": "u-2", "body": "稻田养鸭 鸭子在田里吃虫除草，每亩放十只左右，抽穗前收回。"},
    {"ref": "u-3", "title": "  ", "body": "丰谷23是某县农科所用自选系甲12为母本、乙7为父本杂交育成的中熟杂交稻新组合，"
                                          "适宜在丘陵区作一季中稻种植，亩产五百五十公斤左右。"},
    {"body": "1、冬季清园，剪除病枝，集中烧毁，减少来年的病源。2、发芽前喷一次石硫合剂。"},
    {"ref": "u-5", "title": "已有标题的文章", "body": "标题照原样保留。"},
]


def test_derived_titles_are_short_first_sentences() -> None:
    assert derive_title(ROWS[0]["body"]) == "春播玉米宜在地温稳定超过十度后播种，过早易烂种"
    assert derive_title(ROWS[1]["body"]) == "稻田养鸭"  # a heading run into the text, cut at the space
    long = derive_title(ROWS[2]["body"])
    assert long.startswith("丰谷23是某县农科所") and long.endswith("…") and len(long) <= 30
    assert derive_title(ROWS[3]["body"]) == "冬季清园，剪除病枝，集中烧毁，减少来年的病源"  # numbering dropped
    assert derive_title("## 。。。\n") == ""


def test_loader_keeps_untitled_rows(tmp_path: Path) -> None:
    path = tmp_path / "passages.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")
    report = read_path(path)
    assert report.errors == []
    assert len(report.articles) == len(ROWS) and report.derived_titles == 4
    kept = {a.ref: a for a in report.articles}
    assert kept["u-5"].title == "已有标题的文章" and not kept["u-5"].title_derived
    assert all(len(a.title) <= 30 for a in report.articles)
    # A row without a ref or a title gets a ref from its text: importing again updates, not duplicates.
    assert report.articles[3].ref.startswith("a-") and read_path(path).articles[3].ref == report.articles[3].ref


@pytest.mark.db
async def test_cli_import_says_how_many_titles_were_derived(app: web.Application, db_url: str, tmp_path: Path) -> None:
    path = tmp_path / "passages.jsonl"
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in ROWS), encoding="utf-8")
    env = {**os.environ, "NONGBOT_DATABASE_URL": db_url}
    proc = await asyncio.to_thread(
        subprocess.run, [sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml"), "import", "articles",
                         str(path)], capture_output=True, text=True, env=env, cwd=tmp_path, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "5 new" in proc.stdout and "0 skipped" in proc.stdout and "4 titles derived" in proc.stdout
    stored = {a.ref: a.title for a in await Article.all()}
    assert len(stored) == 5 and stored["u-2"] == "稻田养鸭" and stored["u-5"] == "已有标题的文章"
