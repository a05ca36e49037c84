"""SMS segment arithmetic and clause-boundary cutting."""

from __future__ import annotations

import pytest

from bot.sms import cut_at_clause, segments, ucs2_capacity


@pytest.mark.parametrize(("text", "count"), [
    ("", 0), ("hello", 1), ("a" * 160, 1), ("a" * 161, 2), ("a" * 306, 2), ("a" * 307, 3),
    ("{" * 80, 1), ("{" * 81, 2),  # extension characters take two septets
    ("中" * 70, 1), ("中" * 71, 2), ("中" * 134, 2), ("中" * 135, 3), ("a" * 69 + "，", 1),
    ("😀" * 35, 1), ("😀" * 36, 2),
    ("【农技通】" + "中" * 196, 3), ("【农技通】" + "中" * 197, 4),
])
def test_segments(text: str, count: int) -> None:
    assert segments(text) == count


def test_capacity() -> None:
    assert ucs2_capacity(1) == 70 and ucs2_capacity(3) == 201


def test_cut_prefers_sentence_then_clause() -> None:
    assert cut_at_clause("第一句话。第二句话，很长很长。第三句", 12) == ("第一句话。", "第二句话，很长很长。第三句")
    assert cut_at_clause("前面一段很长的话，后面还有", 10) == ("前面一段很长的话，", "后面还有")
    assert cut_at_clause("没有任何标点的一长串文字", 5) == ("没有任何标", "点的一长串文字")
    assert cut_at_clause("短", 5) == ("短", "")
