"""Small server-side SVG charts (horizontal bars, stacked columns): escaped labels, no script, no files.

Drawn at their size in pixels (never scaled down), labels FONT px: readable on a phone. A chart wider
than its box scrolls inside its .chart-box (bot/web/static/console.css)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

from markupsafe import Markup, escape

_ids = itertools.count(1)
BAR_COLOUR = "#2e7d32"
FONT = 13  # px, the labels' size: at least 12 on every screen
PHONE = 340  # px, a card's inside on a 390 px phone


def _frame(title: str, desc: str, width: int, height: int, body: list[str], *, fluid: bool = False) -> Markup:
    """fluid: the chart grows with its box up to 1.3 times its size and shrinks only while its labels
    stay at least 12 px (then its box scrolls)."""
    n = next(_ids)
    size = (f'style="width: 100%; max-width: {round(width * 1.3)}px; min-width: {math.ceil(width * 12 / FONT)}px" '
            if fluid else "")
    head = (f'<div class="chart-box"><svg class="chart" role="img" aria-labelledby="chart{n}-t chart{n}-d" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-size="{FONT}" {size}'
            f'xmlns="http://www.w3.org/2000/svg">'
            f'<title id="chart{n}-t">{escape(title)}</title><desc id="chart{n}-d">{escape(desc)}</desc>')
    return Markup(head + "".join(body) + "</svg></div>")


def bar_chart(items: Sequence[tuple[str, int]], *, title: str, unit: str = "", width: int = 340) -> Markup:
    """One horizontal bar per (label, value), longest first as given; labels on the left.
    340 px wide by default: fits a phone's card without scrolling."""
    row, right = 26, 8 + FONT * 3
    left = 8 + FONT * max((min(len(label), 8) for label, _ in items), default=4)
    height = max(1, len(items)) * row + 10
    top = max((v for _, v in items), default=0) or 1
    body: list[str] = []
    for i, (label, value) in enumerate(items):
        y = 5 + i * row
        length = round((width - left - right) * value / top)
        name = label if len(label) <= 8 else label[:7] + "…"
        body.append(
            f'<text x="{left - 6}" y="{y + 17}" text-anchor="end">{escape(name)}</text>'
            f'<rect class="bar" x="{left}" y="{y + 4}" width="{max(length, 1 if value else 0)}" height="{row - 8}" '
            f'fill="{BAR_COLOUR}"><title>{escape(label)}：{value}{escape(unit)}</title></rect>'
            f'<text x="{left + length + 4}" y="{y + 17}">{value}</text>'
        )
    if not items:
        body.append(f'<text x="{left}" y="20">暂无数据</text>')
    desc = "；".join(f"{label} {value}{unit}" for label, value in items) or "暂无数据"
    return _frame(title, desc, width, height, body)


def stacked_columns(labels: Sequence[str], series: Sequence[tuple[str, str, Sequence[int]]], *,
                    title: str, width: int = 0, height: int = 240) -> Markup:
    """One column per label, stacked from the bottom in series order: (name, colour, values).
    Drawn for a phone (PHONE px) and grown with its box: when the labels do not all fit, every k-th
    is written, counted back from the last (the latest day always has its label)."""
    left, bottom, top_pad, legend = 40, 36, 10, 24
    width = width or PHONE
    plot_h = height - bottom - top_pad - legend
    totals = [sum(values[i] for _, _, values in series) for i in range(len(labels))]
    top = max(totals, default=0)
    step = (width - left - 10) / max(1, len(labels))
    widest = max((len(label) for label in labels), default=1) * FONT * 0.62 + 6  # digits and dashes
    every = max(1, math.ceil(widest / step))
    body: list[str] = [
        f'<line class="axis" x1="{left}" y1="{top_pad + legend + plot_h}" x2="{width - 5}" '
        f'y2="{top_pad + legend + plot_h}" stroke="#999"/>',
        f'<text x="{left - 4}" y="{top_pad + legend + 8}" text-anchor="end">{top}</text>' if top else
        f'<text x="{width / 2:.0f}" y="{top_pad + legend + plot_h / 2:.0f}" text-anchor="middle">暂无数据</text>',
        f'<text x="{left - 4}" y="{top_pad + legend + plot_h}" text-anchor="end">0</text>',
    ]
    top = top or 1
    x = left
    for name, colour, _ in series:  # the legend, across the top
        body.append(f'<rect x="{x}" y="5" width="13" height="13" fill="{escape(colour)}"/>'
                    f'<text x="{x + 17}" y="16">{escape(name)}</text>')
        x += 30 + (FONT + 1) * len(name)
    for i, label in enumerate(labels):
        x0 = left + i * step + step * 0.15
        y: float = top_pad + legend + plot_h
        for name, colour, values in series:
            h = plot_h * values[i] / top
            if values[i]:
                y -= h
                title = f"{escape(label)} {escape(name)}：{values[i]}"
                body.append(f'<rect x="{x0:.1f}" y="{y:.1f}" width="{step * 0.7:.1f}" height="{h:.1f}" '
                            f'fill="{escape(colour)}"><title>{title}</title></rect>')
        if totals[i] and len(str(totals[i])) * FONT * 0.62 <= step + 2:  # else in the tooltip and <desc>
            body.append(f'<text x="{x0 + step * 0.35:.1f}" y="{y - 3:.1f}" text-anchor="middle">{totals[i]}</text>')
        if (len(labels) - 1 - i) % every == 0:
            body.append(f'<text x="{x0 + step * 0.35:.1f}" y="{height - bottom + 16}" '
                        f'text-anchor="middle">{escape(label)}</text>')
    desc = "；".join(
        f"{label}：" + "，".join(f"{name} {values[i]}" for name, _, values in series)
        for i, label in enumerate(labels))
    return _frame(title, desc or "暂无数据", width, height, body, fluid=True)
