"""Placeholders in a broadcast's text, such as {价格:水果}, filled when a firing is made.

Features register what fills each name (bot.prices: {价格}), so broadcasts never import a feature."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from datetime import date

# (the text after the colon, or "", and the firing's county date) -> the words that replace it
Filler = Callable[[str, date], Awaitable[str]]
# Process-wide like the templates: filled once by each feature's setup(app), the same for every app.
_FILLERS: dict[str, Filler] = {}


def add_placeholder(name: str, fill: Filler) -> None:
    """{name} and {name:arg} (either colon) in a broadcast's text become what `fill(arg, today)` returns."""
    _FILLERS[name] = fill


async def render(text: str, today: date) -> str:
    """"本周价格：{价格:水果}" -> the newest fruit prices; a placeholder nobody registered stays as it is."""
    if not _FILLERS:
        return text
    pattern = re.compile(r"\{(" + "|".join(map(re.escape, _FILLERS)) + r")(?:[:：]([^}]*))?\}")
    for match in list(pattern.finditer(text)):
        filled = await _FILLERS[match.group(1)]((match.group(2) or "").strip(), today)
        text = text.replace(match.group(0), filled, 1)
    return text
