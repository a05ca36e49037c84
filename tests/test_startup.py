"""What a start keeps for the next one gives the same results as working it out again: jieba's dictionary
read in one piece, the tokenizer's memo of cuts (content/tokenizer.py), and a new SQLite file's schema
copied from what the migrations built last time (bot/db.py). How fast: benchmarks/startup.py."""

from __future__ import annotations

import asyncio
import contextlib
import marshal
import os
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jieba
import pytest

from bot import db
from content.loader import BUNDLED, read_path
from content.tokenizer import Tokenizer, _load_jieba, fingerprint


@pytest.fixture(scope="module")
def plain() -> Tokenizer:
    return Tokenizer()


@pytest.fixture(scope="module")
def texts() -> list[str]:
    articles = read_path(BUNDLED).articles[:12]
    return [t for a in articles for t in (a.title, " ".join(a.keywords), a.summary, a.body)] + ["苞谷叶子发黄咋办"]


def test_jieba_dictionary_is_the_one_jieba_loads() -> None:
    ours, theirs = jieba.Tokenizer(), jieba.Tokenizer()
    _load_jieba(ours)
    theirs.initialize()
    assert ours.initialized and ours.total == theirs.total and ours.FREQ == theirs.FREQ


def test_remembered_cuts_are_the_cuts(tmp_path: Path, plain: Tokenizer, texts: list[str]) -> None:
    memo_file = tmp_path / "memo.marshal"
    first = Tokenizer(memo=memo_file)
    with first.recording() as cuts:
        made = [(first.terms(t), first.sounds(t)) for t in texts]
    assert len(cuts) == 2 * len(set(texts))
    assert first.keep(cuts) and memo_file.is_file()
    assert not first.keep(cuts)  # nothing new: the file is not written again

    second = Tokenizer(memo=memo_file)
    assert second._memo.keys() == cuts.keys()
    for text, (terms, sounds) in zip(texts, made, strict=True):
        assert second.terms(text) == terms == plain.terms(text)
        assert second.sounds(text) == sounds == plain.sounds(text)
        assert second.sounds(text, known=lambda pair: False) == plain.sounds(text, known=lambda pair: False)
    second.terms(texts[0]).append("changed")  # a caller's list is its own
    assert second.terms(texts[0]) == plain.terms(texts[0])
    assert second.terms("洋玉烂根了") == plain.terms("洋玉烂根了")  # not remembered: cut


async def test_recording_reaches_the_threads_it_starts(tmp_path: Path) -> None:
    tk = Tokenizer(memo=tmp_path / "memo.marshal")
    with tk.recording() as cuts:
        await asyncio.to_thread(tk.terms, "苞谷叶子发黄咋办")
    tk.terms("不记")  # outside: not recorded
    assert list(cuts) == [("t", "苞谷叶子发黄咋办")]


def test_memo_of_other_inputs_or_writable_by_others_is_not_used(tmp_path: Path, plain: Tokenizer) -> None:
    memo_file = tmp_path / "memo.marshal"
    memo_file.write_bytes(marshal.dumps(("made by other code", {("t", "苞谷"): ("错",)})))
    memo_file.chmod(0o600)
    assert Tokenizer(memo=memo_file).terms("苞谷") == plain.terms("苞谷")
    memo_file.write_bytes(marshal.dumps((fingerprint(), {("t", "苞谷"): ("错",)})))
    memo_file.chmod(0o666)
    assert Tokenizer(memo=memo_file).terms("苞谷") == plain.terms("苞谷")
    memo_file.chmod(0o600)
    assert Tokenizer(memo=memo_file).terms("苞谷") == ["错"]  # the same file, ours: used (this is what it checks)
    memo_file.write_bytes(b"not marshal")
    assert Tokenizer(memo=memo_file).terms("苞谷") == plain.terms("苞谷")


def _schema(path: Path) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    with contextlib.closing(sqlite3.connect(path)) as conn:
        schema = conn.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()
        applied = conn.execute("SELECT app, name FROM tortoise_migrations ORDER BY id").fetchall()
    return schema, applied


async def test_new_sqlite_file_gets_the_migrations_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "TEMPLATE_DIR", tmp_path / "templates")
    (tmp_path / "templates").mkdir()
    restored: list[bool] = []
    restore = db._restore_schema
    monkeypatch.setattr(db, "_restore_schema", lambda *args: restored.append(restore(*args)) or restored[-1])

    async with db.database(f"sqlite://{tmp_path}/plain.sqlite3"):  # the default: migrations only
        pass
    assert not restored and not os.listdir(tmp_path / "templates")

    async with db.database(f"sqlite://{tmp_path}/first.sqlite3", schema_template=True):
        pass
    template = db.template_for(f"sqlite://{tmp_path}/first.sqlite3")
    assert restored == [False] and template.is_file()
    started = datetime.now(UTC) - timedelta(seconds=1)

    async with db.database(f"sqlite://{tmp_path}/second.sqlite3", schema_template=True):
        pass
    assert restored == [False, True]
    assert _schema(tmp_path / "second.sqlite3") == _schema(tmp_path / "plain.sqlite3")
    with contextlib.closing(sqlite3.connect(tmp_path / "second.sqlite3")) as conn:
        moments = [datetime.fromisoformat(at) for (at,) in conn.execute("SELECT applied_at FROM tortoise_migrations")]
    assert moments and all(m >= started for m in moments)  # recorded as applied now

    async with db.database(f"sqlite://{tmp_path}/second.sqlite3", schema_template=True):  # exists: left alone
        pass
    assert restored == [False, True]


async def test_template_is_kept_only_without_rows_and_used_only_when_ours(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(db, "TEMPLATE_DIR", tmp_path)
    url = f"sqlite://{tmp_path}/a.sqlite3"
    async with db.database(url):
        pass
    with contextlib.closing(sqlite3.connect(tmp_path / "a.sqlite3")) as conn:
        conn.execute("CREATE TABLE extra (x INTEGER)")
        conn.execute("INSERT INTO extra VALUES (1)")
        conn.commit()
    template = db.template_for(url)
    db._keep_schema(tmp_path / "a.sqlite3", template)
    assert not template.exists()  # a row besides the migrations' own: not a schema

    async with db.database(f"sqlite://{tmp_path}/b.sqlite3", schema_template=True):
        pass
    assert template.is_file()
    template.chmod(0o666)
    assert not db._restore_schema(tmp_path / "c.sqlite3", template)
    assert not (tmp_path / "c.sqlite3").exists()
    template.chmod(0o600)
    assert db._restore_schema(tmp_path / "c.sqlite3", template)
    assert not db._restore_schema(tmp_path / "c.sqlite3", template)  # appeared meanwhile: left alone
    assert [name for name in os.listdir(tmp_path) if name.startswith(".")] == []  # no temporary left
