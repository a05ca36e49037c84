"""Keyword normalisation and phone handling: table-driven."""

from __future__ import annotations

import pytest

from bot.phones import mask_phone, mask_phones_in, normalise_phone
from bot.textnorm import clean_text, keyword_form, split_words


@pytest.mark.parametrize(("text", "form"), [
    ("Ｔ Ｄ", "td"), ("td", "td"), ("TD", "td"), ("ｔｄ", "td"), ("退订！", "退订"), (" 退 订 。", "退订"),
    ("STOP", "stop"), ("Stop.", "stop"), ("？", "?"), ("?", "?"), ("帮助~", "帮助"),
    ("订阅　价格，柑橘", "订阅价格柑橘"), ("", ""), ("🌽🌽", "🌽🌽"),
])
def test_keyword_form(text: str, form: str) -> None:
    assert keyword_form(text) == form


def test_split_words() -> None:
    assert split_words("订阅 价格，柑橘、茶叶") == ["订阅", "价格", "柑橘", "茶叶"]
    assert split_words("登记　张三  关防乡") == ["登记", "张三", "关防乡"]


def test_clean_text_drops_nul_and_cuts() -> None:
    assert clean_text("a\x00b\x07c", 10) == "abc"
    assert clean_text("x" * 5000, 1600) == "x" * 1600


@pytest.mark.parametrize(("raw", "e164"), [
    ("13800138000", "+8613800138000"),
    ("138 0013 8000", "+8613800138000"),
    ("+86-138-0013-8000", "+8613800138000"),
    ("008613800138000", "+8613800138000"),
    ("８６１３８００１３８０００", "+8613800138000"),
    ("+14155550100", "+14155550100"),
    ("12345", None), ("abc", None), ("", None), ("1380013800012345", None), ("1" * 40, None),
])
def test_normalise_phone(raw: str, e164: str | None) -> None:
    assert normalise_phone(raw) == e164


def test_masking() -> None:
    assert mask_phone("+8613800138000") == "+86138****8000"
    line = "sent to +8613800138000 and 13900139000 at 2026-11-27 13:00:35 id=42"
    masked = mask_phones_in(line)
    assert "13800138000" not in masked and "13900139000" not in masked
    assert "2026-11-27 13:00:35" in masked and "id=42" in masked
