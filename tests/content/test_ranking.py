"""Ranking: folding of what villagers type, variety names kept whole, and the second pass on pinyin."""

from __future__ import annotations

from content.search import Searcher
from content.tokenizer import Tokenizer
from tests.content import test_search

# The search tests' module-scoped fixtures, shared rather than written twice.
tokenizer = test_search.tokenizer
searcher = test_search.searcher


def top(searcher: Searcher, text: str) -> str:
    _, ranked = searcher.rank(text)
    return searcher.entries[ranked[0][0]].ref


def test_traditional_and_full_width_are_folded(tokenizer: Tokenizer, searcher: Searcher) -> None:
    assert tokenizer.words("蘋果葉子發黃　ＡＢＣ１２３") == tokenizer.words("苹果叶子发黄 abc123")
    assert tokenizer.terms("馬鈴薯晚疫病") == tokenizer.terms("马铃薯晚疫病")
    assert searcher.rank("洋芋晚疫病怎麼治？") == searcher.rank("洋芋晚疫病怎么治?")
    assert top(searcher, "馬鈴薯晚疫病") == "potato-late-blight"


def test_variety_names_stay_whole(tokenizer: Tokenizer) -> None:
    # jieba cuts a name it does not know into characters; the name comes back as one term (and tails).
    assert {"丰谷23号", "谷23号"} <= set(tokenizer.terms("丰谷23号的特征特性"))
    assert {"甲优808", "优808"} <= set(tokenizer.terms("甲优808适合哪里种"))
    assert tokenizer.names(["在", "2019", "年", "种", "了", "3", "亩"]) == []  # amounts are no names


def test_pinyin_pass_rescues_a_same_sound_typo(searcher: Searcher) -> None:
    # 杨于 for 洋芋 (洋玉, the commonest slip, is in vocab.toml; 阳玉, the same tones, is spelled right as
    # heard): the spelling finds the wrong article; the pinyin pass finds late blight.
    searcher.sound_pass = False
    try:
        assert top(searcher, "杨于叶子发黑") != "potato-late-blight"
    finally:
        searcher.sound_pass = True
    _, ranked = searcher.rank("杨于叶子发黑")
    late_blight = next(e.id for e in searcher.entries.values() if e.ref == "potato-late-blight")
    assert ranked[0][0] == late_blight and ranked.by_sound and late_blight in ranked.rescued
    assert top(searcher, "杨于叶子发黑背面长白毛") == "potato-late-blight"


def test_a_well_spelled_question_needs_no_pinyin_pass(searcher: Searcher) -> None:
    _, ranked = searcher.rank("洋芋晚疫病咋治")
    assert not ranked.by_sound and not ranked.rescued
    _, none = searcher.rank("。。。")
    assert list(none) == [] and not none.by_sound
