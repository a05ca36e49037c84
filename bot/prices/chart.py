"""A commodity's published prices over time, one line per market, as a small server-side SVG (escaped
labels, no script), in the manner of bot/web/charts.py; the page shows the same numbers as a table."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta

from markupsafe import Markup, escape

from bot.prices.models import Market, PriceRecord

COLOURS = ("#2e7d32", "#c62828", "#1565c0", "#ef6c00", "#6a1b9a", "#00838f")
_ids = itertools.count(1)


@dataclass(frozen=True)
class Series:
    market: str
    points: tuple[tuple[date, float], ...]  # oldest first


async def series(commodity_id: int, since: date, market_id: int | None = None) -> list[Series]:
    """Published prices of one commodity since a day, per market (the markets with most prices first)."""
    query = PriceRecord.filter(commodity_id=commodity_id, status="published", date__gte=since)
    if market_id is not None:
        query = query.filter(market_id=market_id)
    rows = await query.order_by("date").values("market_id", "date", "price")
    names = dict(await Market.filter(id__in={r["market_id"] for r in rows}).values_list("id", "name"))
    by_market: dict[int, list[tuple[date, float]]] = {}
    for row in rows:
        by_market.setdefault(row["market_id"], []).append((row["date"], float(row["price"])))
    ordered = sorted(by_market.items(), key=lambda item: (-len(item[1]), str(names.get(item[0], ""))))
    return [Series(str(names.get(market_id, "")), tuple(points)) for market_id, points in ordered]


def line_chart(lines: Sequence[Series], first: date, last: date, *, title: str, unit: str,
               width: int = 360, height: int = 240) -> Markup:
    """One line per market across the days first..last; the lowest and highest price on the y axis."""
    left, right, top, bottom = 56, 16, 12, 40
    legend = 18 * ((len(lines) + 1) // 2)
    plot_w, plot_h = width - left - right, height - top - bottom - legend
    prices = [p for line in lines for _, p in line.points]
    n = next(_ids)
    body: list[str] = []
    if not prices:
        body.append(f'<text x="{width / 2:.0f}" y="{height / 2:.0f}" text-anchor="middle">这段时间没有价格</text>')
    else:
        low, high = min(prices), max(prices)
        pad = (high - low) * 0.1 or max(high * 0.1, 0.1)
        low, high = max(low - pad, 0), high + pad
        days = max((last - first).days, 1)

        def x(day: date) -> float:
            return left + plot_w * (day - first).days / days

        def y(price: float) -> float:
            return top + plot_h * (1 - (price - low) / (high - low))

        body.append(f'<line class="axis" x1="{left}" y1="{top + plot_h}" x2="{width - right}" y2="{top + plot_h}" '
                    'stroke="#999"/>')
        body.extend(f'<text x="{left - 4}" y="{y(value) + 4:.1f}" text-anchor="end">{value:.2f}</text>'
                    f'<line x1="{left}" y1="{y(value):.1f}" x2="{width - right}" y2="{y(value):.1f}" stroke="#ddd"/>'
                    for value in (low, (low + high) / 2, high))
        body.extend(f'<text x="{x(day):.1f}" y="{top + plot_h + 16}" text-anchor="{anchor}">{day.month}月{day.day}日</text>'
                    for day, anchor in ((first, "start"), (first + timedelta(days=days // 2), "middle"), (last, "end")))
        for i, line in enumerate(lines):
            colour = COLOURS[i % len(COLOURS)]
            points = " ".join(f"{x(d):.1f},{y(p):.1f}" for d, p in line.points)
            body.append(f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{points}"/>')
            for d, p in line.points:
                body.append(f'<circle cx="{x(d):.1f}" cy="{y(p):.1f}" r="3" fill="{colour}">'
                            f'<title>{escape(line.market)} {d.month}月{d.day}日：{p:.2f}{escape(unit)}</title></circle>')
            lx, ly = 8 + (i % 2) * (width / 2), height - legend + 18 * (i // 2) + 4
            name = line.market if len(line.market) <= 11 else line.market[:10] + "…"
            body.append(f'<rect x="{lx:.0f}" y="{ly}" width="12" height="12" fill="{colour}"/>'
                        f'<text x="{lx + 16:.0f}" y="{ly + 11}">{escape(name)}</text>')
    desc = "；".join(f"{line.market}：" + "，".join(f"{d.month}月{d.day}日 {p:.2f}" for d, p in line.points)
                    for line in lines) or "这段时间没有价格"
    head = (f'<svg class="chart price-chart" role="img" aria-labelledby="pchart{n}-t pchart{n}-d" '
            f'viewBox="0 0 {width} {height}" width="{width}" height="{height}" font-size="13" '
            'xmlns="http://www.w3.org/2000/svg">'
            f'<title id="pchart{n}-t">{escape(title)}</title><desc id="pchart{n}-d">{escape(desc)}</desc>')
    return Markup(head + "".join(body) + "</svg>")
