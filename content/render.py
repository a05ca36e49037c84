"""Fit an article to a channel: short SMS pages that continue on "更多", or a longer WeChat text."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

SENTENCE_END = re.compile(r"(?<=[。！？；!?;\n])")
CLAUSE_END = re.compile(r"(?<=[，、,：:])")
MORE_HINT = "回复“更多”看详细做法"
WECHAT_LIMIT = 300  # one screen on a phone; the rest on 更多


def cut_at_clause(text: str, limit: int) -> tuple[str, str]:
    """(head, rest) with len(head) <= limit, cut after a sentence end or else a clause end when
    one lies in the last two thirds; only text without any boundary is cut mid-run."""
    if len(text) <= limit:
        return text, ""
    for pattern in (SENTENCE_END, CLAUSE_END):
        cuts = [m.start() for m in pattern.finditer(text) if 0 < m.start() <= limit]
        if cuts and cuts[-1] >= limit // 3:
            return text[: cuts[-1]].rstrip(), text[cuts[-1] :].lstrip()
    return text[:limit], text[limit:]


def plain(markdown: str) -> str:
    """Markdown body -> plain text lines an SMS or WeChat text can carry."""
    lines = []
    for raw in markdown.splitlines():
        line = raw.strip()
        if not line:
            continue
        heading = re.match(r"^#+\s*(.+)$", line)
        if heading:
            lines.append(f"【{heading.group(1).strip()}】")
            continue
        line = re.sub(r"^[-*+]\s+", "·", line)
        line = re.sub(r"\*\*(.+?)\*\*|__(.+?)__|`(.+?)`", lambda m: next(g for g in m.groups() if g), line)
        lines.append(line)
    return "\n".join(lines)


def paginate(text: str, size: int) -> list[str]:
    pages = []
    rest = text.strip()
    while rest:
        head, rest = cut_at_clause(rest, size)
        pages.append(head.strip())
        rest = rest.strip()
    return pages


@dataclass(frozen=True)
class Page:
    text: str
    has_more: bool


def sms_page(summary: str, body: str, page: int, budget: int) -> Page:
    """Page 0 is the summary; later pages walk through the body. `budget` counts every character
    the page may use, the "更多" hint included."""
    room = max(budget - len(MORE_HINT) - 1, 20)
    pages = paginate(summary, room) + paginate(plain(body), room)
    if page >= len(pages):
        return Page("", False)
    more = page + 1 < len(pages)
    return Page(pages[page] + (f"\n{MORE_HINT}" if more else ""), more)


def wechat_text(title: str, summary: str, body: str, page: int = 0, limit: int = WECHAT_LIMIT) -> Page:
    full = f"{title}\n{summary}\n\n{plain(body)}"
    pages = paginate(full, limit - len(MORE_HINT) - 1)
    if page >= len(pages):
        return Page("", False)
    more = page + 1 < len(pages)
    return Page(pages[page] + (f"\n{MORE_HINT}" if more else ""), more)


def choices_text(titles: Sequence[str], lead: str = "相关内容") -> str:
    lines = [f"{lead}："] + [f"{i}. {t}" for i, t in enumerate(titles, 1)] + ["回复数字查看"]
    return "\n".join(lines)
