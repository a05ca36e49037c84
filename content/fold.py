"""One canonical form of what villagers type: full-width → half-width, case folded, traditional → simplified,
an emoji for a crop or animal read as its name (content/dict/emoji.toml)."""

from __future__ import annotations

import functools
import tomllib
import unicodedata
from pathlib import Path

import opencc

EMOJI_FILE = Path(__file__).parent / "dict" / "emoji.toml"
VARIATION_SELECTOR = 0xFE0F


@functools.cache
def _emoji() -> dict[int, str]:
    names = tomllib.loads(EMOJI_FILE.read_text(encoding="utf-8"))["emoji"]
    return {ord(e): name for e, name in names.items()} | {VARIATION_SELECTOR: ""}


@functools.cache
def _t2s() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


def fold(text: str) -> str:
    """'蘋果葉子發黃ＡＢＣ' -> '苹果叶子发黄abc', '🍊树' -> '橘子树'. Runs before any matching, never on what we
    store."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    if folded.isascii():
        return folded
    simplified: str = _t2s().convert(folded.translate(_emoji()))
    return simplified


def syllables(word: str) -> list[str]:
    """Toneless pinyin of each Chinese character ('打要' -> ['da', 'yao']); other characters kept as is."""
    from pypinyin import Style, lazy_pinyin  # only a text that must be sounded out needs it (0.2 s to load)

    return lazy_pinyin(word, style=Style.NORMAL, errors="default")
