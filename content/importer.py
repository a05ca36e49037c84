"""Upsert articles into the database by ref, in batches, reporting progress."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tortoise.transactions import in_transaction

from content.loader import ArticleData
from content.models import Article

BATCH = 500


@dataclass(frozen=True)
class ImportCounts:
    created: int
    updated: int
    unchanged: int


def _pack(items: Sequence[object]) -> str:
    words = sorted({str(w).strip() for w in items if str(w).strip()})
    return f",{','.join(words)}," if words else ""


def _values(a: ArticleData) -> dict[str, object]:
    return {
        "title": a.title, "body": a.body, "summary": a.summary, "crops": _pack(a.crops),
        "topics": _pack(a.topics), "months": _pack([f"{m:02d}" for m in a.months]),
        "keywords": list(a.keywords), "sources": list(a.sources), "questions": list(a.questions), "origin": a.origin[:200],
    }


async def upsert(articles: Sequence[ArticleData], progress: Callable[[int, int], None] | None = None) -> ImportCounts:
    created = updated = unchanged = 0
    for start in range(0, len(articles), BATCH):
        batch = articles[start : start + BATCH]
        async with in_transaction():
            existing = {a.ref: a for a in await Article.filter(ref__in=[b.ref for b in batch])}
            new = []
            for item in batch:
                values = _values(item)
                row = existing.get(item.ref)
                if row is None:
                    new.append(Article(ref=item.ref, **values))
                elif any(getattr(row, k) != v for k, v in values.items() if k != "origin"):
                    for key, value in values.items():
                        setattr(row, key, value)
                    await row.save()  # bumps updated_at: running servers re-index it
                    updated += 1
                else:
                    unchanged += 1
            if new:
                await Article.bulk_create(new)
                created += len(new)
        if progress is not None:
            progress(min(start + BATCH, len(articles)), len(articles))
    return ImportCounts(created, updated, unchanged)
