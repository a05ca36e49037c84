"""One canonical form of what villagers type: full-width → half-width, case folded, traditional → simplified."""

from __future__ import annotations

import functools
import unicodedata

import opencc
from pypinyin import Style, lazy_pinyin


@functools.cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def fold(text: str) -> str:
    """'蘋果葉子發黃ＡＢＣ' -> '苹果叶子发黄abc'. Runs before any matching, never on what we store."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    return _t2s().convert(folded) if not folded.isascii() else folded


def syllables(word: str) -> list[str]:
    """Toneless pinyin of each Chinese character ('打要' -> ['da', 'yao']); other characters kept as is."""
    return lazy_pinyin(word, style=Style.NORMAL, errors="default")
