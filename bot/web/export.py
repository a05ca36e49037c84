"""CSV exports from the console: one writer for every list an officer can take away (villagers, messages,
a broadcast run's deliveries, questions, the audit log).

What every export shares: UTF-8 with a BOM (so Excel on a Chinese PC reads it as UTF-8), a header row
in Chinese, rows streamed in batches (a county's list never sits in memory at once), and cells that a
spreadsheet would run as a formula (a leading = + - @, or a tab / carriage return that hides one) kept
as text with a leading '. Masking is the caller's: it writes the values as its screen shows them."""

from __future__ import annotations

import csv
import io
from collections.abc import AsyncIterable, Iterable, Sequence
from datetime import UTC, datetime

from aiohttp import web

from bot.web.console import SECURITY_HEADERS

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
Row = Sequence[object]


def cell(value: object) -> str:
    """One value as the file holds it: None is empty; text a spreadsheet would run is kept as text."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text


def encode_rows(rows: Iterable[Row]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    for row in rows:
        writer.writerow([cell(v) for v in row])
    return out.getvalue()


def filename(stem: str) -> str:
    """'messages' → 'messages-20261206.csv' (ASCII: every browser keeps it)."""
    return f"{stem}-{datetime.now(UTC).strftime('%Y%m%d')}.csv"


async def stream(request: web.Request, stem: str, header: Row,
                 batches: AsyncIterable[Iterable[Row]]) -> web.StreamResponse:
    """Send a CSV download: the BOM and `header`, then each batch of rows as it comes."""
    response = web.StreamResponse(headers={
        **SECURITY_HEADERS, "Content-Type": "text/csv; charset=utf-8",
        "Content-Disposition": f'attachment; filename="{filename(stem)}"'})
    await response.prepare(request)
    await response.write(("\ufeff" + encode_rows([header])).encode())
    async for batch in batches:
        if text := encode_rows(batch):
            await response.write(text.encode())
    await response.write_eof()
    return response
