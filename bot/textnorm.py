"""Normalise what villagers type so keywords match: widths, case, spaces and punctuation."""

from __future__ import annotations

import re
import unicodedata

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u200b-\u200f\u2028\u2029\ufeff]")
_SEPARATORS = re.compile(r"[\s,，、;；:：/|]+")


def clean_text(text: str, limit: int) -> str:
    """Drop NUL and other control characters, trim, and cut to `limit` characters."""
    return _CONTROL.sub("", text).strip()[:limit]


def _is_noise(ch: str) -> bool:
    cat = unicodedata.category(ch)
    return cat[0] in "PSZC"  # punctuation, symbols (emoji too), spaces, controls


def keyword_form(text: str) -> str:
    """'Ｔ Ｄ' / 'td' / '退订！' -> 'td' / 'td' / '退订': the whole message as one keyword."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    form = "".join(ch for ch in folded if not _is_noise(ch))
    # A message of only punctuation ("？") keeps it, so "?" can still mean help.
    return form or "".join(ch for ch in folded if not ch.isspace() and ch.isprintable())


def split_words(text: str) -> list[str]:
    """'订阅 价格，柑橘' -> ['订阅', '价格', '柑橘'] (NFKC, case-folded, punctuation trimmed)."""
    folded = unicodedata.normalize("NFKC", text).casefold()
    words = []
    for raw in _SEPARATORS.split(folded):
        word = "".join(ch for ch in raw if not _is_noise(ch))
        if word:
            words.append(word)
    return words
