"""The bundled knowledge base: well-formed, broad enough, and never recommending forbidden products."""

from __future__ import annotations

import re

import pytest

from content.loader import BUNDLED, read_path
from content.safety import find_forbidden
from content.vocab import vocabulary

REPORT = read_path(BUNDLED)
ARTICLES = REPORT.articles
TOPICS = {"病害", "虫害", "栽培", "施肥", "养殖", "防疫", "储藏", "安全用药", "灾害", "采收", "务工", "加工", "经营", "农机"}
MUST_COVER = ["玉米", "马铃薯", "水稻", "小麦", "油菜", "甘薯", "大豆", "柑橘", "茶叶", "核桃", "板栗", "猕猴桃",
              "香菇", "木耳", "魔芋", "黄姜", "天麻", "杜仲", "辣椒", "白菜", "萝卜", "生猪", "山羊", "黄牛", "鸡",
              "蜜蜂"]


def test_every_bundled_file_loads() -> None:
    assert REPORT.errors == []
    assert len(ARTICLES) >= 120
    assert len({a.ref for a in ARTICLES}) == len(ARTICLES)


@pytest.mark.parametrize("article", ARTICLES, ids=lambda a: a.ref)
def test_article_fields(article) -> None:  # type: ignore[no-untyped-def]
    crops = set(vocabulary().crops)
    assert article.origin == f"{article.ref}.md"
    assert len(article.title) <= 24
    assert set(article.crops) <= crops, set(article.crops) - crops
    assert article.topics and set(article.topics) <= TOPICS
    assert 20 <= len(article.summary) <= 130 and "\n" not in article.summary
    assert 4 <= len(article.keywords) <= 12
    assert article.sources, "facts need a source"
    assert len(re.findall(r"[\u4e00-\u9fff]", article.body)) >= 200
    assert all(1 <= m <= 12 for m in article.months)


@pytest.mark.parametrize("article", ARTICLES, ids=lambda a: a.ref)
def test_no_forbidden_pesticide_or_drug(article) -> None:  # type: ignore[no-untyped-def]
    text = "\n".join([article.title, article.summary, " ".join(article.keywords), article.body])
    assert find_forbidden(text, article.crops) == []


def test_coverage_of_what_the_county_grows() -> None:
    covered = {c for a in ARTICLES for c in a.crops}
    assert set(MUST_COVER) <= covered, set(MUST_COVER) - covered
    general = {t for a in ARTICLES if not a.crops for t in a.topics}
    assert {"安全用药", "灾害"} <= general
    titles = " ".join(a.title for a in ARTICLES if "灾害" in a.topics)
    for disaster in ("霜", "旱", "冰雹", "涝"):
        assert disaster in titles


@pytest.mark.parametrize(("text", "crops", "entry"), [
    ("每亩用40%氧化乐果乳油50毫升", ("玉米",), "氧乐果"),
    ("用呋喃丹拌种", ("玉米",), "克百威"),
    ("撒施3%克百威颗粒剂", (), "克百威"),
    ("喷毒死蜱", ("水稻",), "毒死蜱"),
    ("辣椒地用三唑磷", ("辣椒",), "三唑磷"),
    ("饲料里加瘦肉精", ("生猪",), "β-兴奋剂类及其盐、酯"),
    ("用DDT", (), "滴滴涕"),
    ("粮仓用磷化铝熏蒸", (), "磷化铝"),
])
def test_checker_catches_forbidden_products(text: str, crops: tuple[str, ...], entry: str) -> None:
    assert [f.entry for f in find_forbidden(text, crops)] == [entry]


@pytest.mark.parametrize(("text", "crops"), [
    ("玉米田用乙酰甲胺磷防虫", ("玉米",)),  # contains 甲胺磷 but is another product, allowed on maize
    ("兑水16050毫升", ()),  # a number that merely contains a code (1605)
    ("吡虫啉1500倍液", ("柑橘",)),
])
def test_checker_allows_lookalikes(text: str, crops: tuple[str, ...]) -> None:
    assert find_forbidden(text, crops) == []
