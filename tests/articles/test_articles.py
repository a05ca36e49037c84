"""The bundled knowledge base: well-formed, broad enough, cheap to read by SMS, in plain words, and never
recommending forbidden products (docs/articles-guide.md says the same to the officers who write them)."""

from __future__ import annotations

import re

import pytest

from bot.articles.service import TOPICS  # what the console offers: a bundled article stays editable
from bot.compose import RATE_HINT
from bot.config import SmsConfig
from bot.sms import segments, ucs2_capacity
from content.loader import BUNDLED, read_path
from content.render import sms_page, wechat_text
from content.safety import find_forbidden
from content.vocab import vocabulary

REPORT = read_path(BUNDLED)
ARTICLES = REPORT.articles
MUST_COVER = ["玉米", "马铃薯", "水稻", "小麦", "油菜", "甘薯", "大豆", "花生", "柑橘", "茶叶", "核桃", "板栗",
              "猕猴桃", "桃", "梨", "葡萄", "草莓", "香菇", "木耳", "平菇", "羊肚菌", "魔芋", "黄姜", "天麻", "杜仲",
              "金银花", "辣椒", "白菜", "萝卜", "番茄", "生姜", "生猪", "山羊", "黄牛", "兔", "鸡", "鸭", "鹅", "鱼",
              "家蚕", "蜜蜂"]
SMS = SmsConfig()
SIGNATURE = SMS.signature
PAGE_BUDGET = ucs2_capacity(SMS.article_segments) - len(SIGNATURE)  # as bot/compose.py pages an article
MAX_SEGMENTS_WHOLE, MAX_AVERAGE_WHOLE = 8, 6.0
# Words a farmer does not use, and what to write instead (docs/articles-guide.md).
JARGON = {"甲氨基阿维菌素苯甲酸盐": "甲维盐", "水浸状": "像开水烫过", "病原菌": "病菌", "萎蔫": "打蔫",
          "病原物": "病菌", "侵染": "染上", "症状表现": "样子"}
DOSE = re.compile(r"\d+(?:\.\d+)?\s*(?:毫升|克|倍液?)")


def sms_pages(article) -> list[str]:  # type: ignore[no-untyped-def]
    """The SMS texts a villager receives for the whole article: the first answer, then each 更多 page."""
    pages = []
    while True:
        tail = RATE_HINT if not pages else ""
        page = sms_page(article.summary, article.body, len(pages), PAGE_BUDGET - len(tail))
        if not page.text:
            return pages
        pages.append(SIGNATURE + page.text + tail)


def whole_cost(article) -> int:  # type: ignore[no-untyped-def]
    return sum(segments(text) for text in sms_pages(article))


def test_every_bundled_file_loads() -> None:
    assert REPORT.errors == []
    assert len(ARTICLES) >= 320
    assert len({a.ref for a in ARTICLES}) == len(ARTICLES)


@pytest.mark.parametrize("article", ARTICLES, ids=lambda a: a.ref)
def test_article_fields(article) -> None:  # type: ignore[no-untyped-def]
    crops = set(vocabulary().crops)
    assert article.origin == f"{article.ref}.md"
    assert len(article.title) <= 24
    assert set(article.crops) <= crops, set(article.crops) - crops
    assert article.topics and set(article.topics) <= set(TOPICS)
    assert 20 <= len(article.summary) <= 100 and "\n" not in article.summary
    assert 4 <= len(article.keywords) <= 12
    assert 3 <= len(article.questions) <= 6 and all(len(q) <= 30 for q in article.questions)
    assert article.sources, "facts need a source"
    assert len(re.findall(r"[\u4e00-\u9fff]", article.body)) >= 100
    assert all(1 <= m <= 12 for m in article.months)


@pytest.mark.parametrize("article", ARTICLES, ids=lambda a: a.ref)
def test_no_forbidden_pesticide_or_drug(article) -> None:  # type: ignore[no-untyped-def]
    text = "\n".join([article.title, article.summary, " ".join(article.keywords), article.body])
    assert find_forbidden(text, article.crops) == []


@pytest.mark.parametrize("article", ARTICLES, ids=lambda a: a.ref)
def test_sms_cost(article) -> None:  # type: ignore[no-untyped-def]
    """The first answer fits two segments with the signature and both hints; so does each 更多 page."""
    pages = sms_pages(article)
    assert [segments(p) for p in pages if segments(p) > SMS.article_segments] == []
    assert whole_cost(article) <= MAX_SEGMENTS_WHOLE


def test_average_whole_article_cost() -> None:
    costs = [whole_cost(a) for a in ARTICLES]
    assert sum(costs) / len(costs) <= MAX_AVERAGE_WHOLE


@pytest.mark.parametrize("article", ARTICLES, ids=lambda a: a.ref)
def test_wechat_first_screen(article) -> None:  # type: ignore[no-untyped-def]
    """Title, summary and the first steps in one phone screen (300 characters), the rest on 更多."""
    assert len(wechat_text(article.title, article.summary, article.body).text) <= 300


@pytest.mark.parametrize("article", ARTICLES, ids=lambda a: a.ref)
def test_plain_words_and_doses(article) -> None:  # type: ignore[no-untyped-def]
    text = "\n".join([article.summary, article.body])
    used = [word for word, plain in JARGON.items() if word in text and plain not in text]
    assert used == [], f"write {[JARGON[w] for w in used]} instead"
    if DOSE.search(text):
        assert re.search(r"标签|安全间隔", text), "a dose must say 按标签 or the 安全间隔期"


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
