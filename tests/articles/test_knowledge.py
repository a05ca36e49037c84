"""The knowledge base through the whole pipeline: answers that fit the channel, 更多, numbered
choices, hand-over to officers, live re-indexing, import and ask on the command line."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web

from bot.keys import SEARCH
from bot.questions.models import Question
from bot.sms import segments
from content import importer
from content.loader import BUNDLED, ArticleData, read_path
from content.search import Entry, Searcher
from content.tokenizer import shared
from tests.conftest import ROOT
from tests.helpers import reply_text

pytestmark = pytest.mark.db

QUERIES = [json.loads(line) for line in (ROOT / "tests/data/queries.jsonl").read_text("utf-8").splitlines()]
BUNDLE = read_path(BUNDLED).articles


@pytest.fixture
async def kb(app: web.Application) -> web.Application:
    await importer.upsert(BUNDLE)
    await app[SEARCH].refresh()
    return app


async def test_sms_answers_fit_three_segments_with_signature(kb: web.Application) -> None:
    signature = "【农技通】"
    for q in QUERIES[::4]:
        text = await reply_text(kb, q["q"])
        assert text
        assert segments(signature + text) <= 3, text


async def test_more_continues_the_same_article(kb: web.Application) -> None:
    first = await reply_text(kb, "洋芋晚疫病咋治")
    assert "白霉" in first and "更多" in first
    pages = [first]
    for _ in range(12):
        page = await reply_text(kb, "更多")
        if "看完了" in page:
            break
        pages.append(page)
        assert segments("【农技通】" + page) <= 3
    assert len(pages) >= 3
    assert "【怎么办】" in "".join(pages)
    assert len(set(pages)) == len(pages)


async def test_more_without_an_article(kb: web.Application) -> None:
    assert "没有可以接着看" in await reply_text(kb, "更多")


async def test_wechat_offers_numbered_choices_and_opens_them(kb: web.Application) -> None:
    text = await reply_text(kb, "苞谷叶子发黄咋办", channel="wechat", address="oUser123")
    assert "其他相关" in text and "回复数字查看" in text and len(text) <= 900
    second_title = text.split("其他相关：\n1. ", 1)[1].split("\n", 1)[0]
    opened = await reply_text(kb, "1", channel="wechat", address="oUser123")
    assert opened.startswith(second_title)


async def test_unanswerable_goes_to_an_officer(kb: web.Application) -> None:
    text = await reply_text(kb, "养鳄鱼要办啥证")
    assert "农技员" in text
    question = await Question.get()
    assert question.status == "open" and question.text == "养鳄鱼要办啥证" and question.reason
    assert question.message_id is not None


async def test_greeting_is_not_sent_to_officers(kb: web.Application) -> None:
    assert "您好" in await reply_text(kb, "你好")
    assert await Question.all().count() == 0


async def test_edited_article_is_searchable_within_seconds(kb: web.Application) -> None:
    new = ArticleData(ref="test-velvet-antler", title="梅花鹿鹿茸的采收", crops=(), topics=("采收",),
                      keywords=("鹿茸", "梅花鹿"), summary="梅花鹿鹿茸在生长约50天、茸顶饱满时锯茸，锯后止血并防蝇。",
                      body="鹿茸采收要看茸形。" * 20)
    await importer.upsert([new])
    for _ in range(50):  # the running app's refresh loop picks it up; no restart
        if "锯茸" in await reply_text(kb, "梅花鹿鹿茸啥时候采收"):
            break
        await asyncio.sleep(0.1)
    else:
        pytest.fail("the new article was not searchable within 5 s")


async def test_same_ranking_on_this_database_as_in_memory(kb: web.Application) -> None:
    memory = Searcher(shared())
    memory.build([Entry(i + 1, a.ref, a.title, a.crops, a.keywords, a.summary, a.body, phrasings=a.questions)
                  for i, a in enumerate(BUNDLE)])
    database = kb[SEARCH]
    for q in QUERIES:
        ours, theirs = database.search(q["q"], limit=5), memory.search(q["q"], limit=5)
        assert [h.ref for h in ours.hits] == [h.ref for h in theirs.hits], q["q"]
        assert (ours.answered, ours.reason) == (theirs.answered, theirs.reason)


def _run(args: list[str], db_url: str, cwd: Path, stdin: str = "") -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NONGBOT_DATABASE_URL": db_url}
    return subprocess.run([sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml"), *args],
                          input=stdin, capture_output=True, text=True, env=env, cwd=cwd, timeout=120)


def test_import_reports_bad_lines_and_keeps_good_ones_then_ask(db_url: str, tmp_path: Path) -> None:
    rows = [
        json.dumps({"ref": "jl-1", "title": "羊肚菌大棚种植", "body": "羊肚菌喜欢冷凉湿润，出菇温度8到18度。" * 5,
                    "keywords": ["羊肚菌"], "crops": []}, ensure_ascii=False),
        "{not json",
        json.dumps({"ref": "jl-2", "title": "没有正文"}, ensure_ascii=False),
        json.dumps({"title": "黑山羊冬季补饲", "body": "冬季枯草期每只羊每天补精料0.2到0.3公斤，另给青干草。" * 4},
                   ensure_ascii=False),
    ]
    path = tmp_path / "kb.jsonl"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    proc = _run(["import", "articles", str(path)], db_url, tmp_path)
    assert proc.returncode == 1
    assert f"{path}:2: not valid JSON" in proc.stderr
    assert f"{path}:3: body: missing" in proc.stderr
    assert "2 new" in proc.stdout and "2 skipped" in proc.stdout
    again = _run(["import", "articles", str(path)], db_url, tmp_path)
    assert "0 new" in again.stdout and "2 unchanged" in again.stdout
    asked = _run(["ask", "--json", "-"], db_url, tmp_path, stdin="羊肚菌几度出菇\n明天下雨吗\n")
    assert asked.returncode == 0, asked.stderr
    first, second = (json.loads(line) for line in asked.stdout.splitlines())
    assert first["answered"] and first["hits"][0]["ref"] == "jl-1"
    assert set(first["hits"][0]) == {"id", "ref", "title", "score"}
    assert not second["answered"]


def test_import_missing_path_is_one_line(db_url: str, tmp_path: Path) -> None:
    proc = _run(["import", "articles", str(tmp_path / "nope")], db_url, tmp_path)
    assert proc.returncode == 2 and proc.stderr.strip().count("\n") == 0


def test_ask_never_loads_bundled_articles(db_url: str, tmp_path: Path) -> None:
    proc = _run(["ask", "--json", "苞谷叶子发黄咋办"], db_url, tmp_path)
    assert proc.returncode == 0
    assert json.loads(proc.stdout)["hits"] == []
