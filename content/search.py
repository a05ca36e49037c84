"""Answer-or-abstain search over the articles: rank, then decide whether the top one really answers."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from content.index import Doc, Index
from tortoise import connections

from content.models import Article
from content.tokenizer import Tokenizer

log = logging.getLogger("nongbot.search")

# Below this share of the question's content words (idf-weighted) found in the top article, we do not
# guess. A question that names a crop the article is about needs less of the rest to match.
MIN_COVERAGE = 0.4
MIN_COVERAGE_WITH_CROP = 0.0
UNKNOWN_WEIGHT = 1.5


@dataclass(frozen=True)
class Entry:
    id: int
    ref: str
    title: str
    crops: tuple[str, ...]
    keywords: tuple[str, ...]
    summary: str
    body: str
    stamp: str = ""  # changes whenever the article changes
    phrasings: tuple[str, ...] = ()  # villagers' wordings officers attached; searched like keywords


@dataclass(frozen=True)
class Hit:
    id: int
    ref: str
    title: str
    score: float


@dataclass(frozen=True)
class Result:
    hits: tuple[Hit, ...]
    answered: bool
    reason: str  # "" when answered; else no_terms|no_match|weak|crop_mismatch|topic_mismatch|out_of_scope
    coverage: float = 0.0

    @property
    def best(self) -> Hit | None:
        return self.hits[0] if self.hits else None


class Searcher:
    """Holds the tokenizer, the index and the entries it was built from; swap-in rebuilds."""

    def __init__(self, tokenizer: Tokenizer) -> None:
        self.tokenizer = tokenizer
        self.entries: dict[int, Entry] = {}
        self.index = Index([])
        self._terms: dict[int, dict[str, list[str]]] = {}  # hash of the text -> field terms
        self._lock = asyncio.Lock()
        self.version = ""
        self._positions: dict[int, int] = {}
        self._about: dict[int, frozenset[str]] = {}

    def build(self, entries: Iterable[Entry]) -> None:
        """(Re)build from entries; only new or changed ones are tokenised again. Blocking: use a thread."""
        ordered = sorted(entries, key=lambda e: e.ref)
        cache: dict[int, dict[str, list[str]]] = {}
        docs = []
        for e in ordered:
            key = hash((e.title, e.keywords, e.phrasings, e.summary, e.body))
            fields = self._terms.get(key) or self._field_terms(e)
            cache[key] = fields
            docs.append(Doc(e.id, fields))
        index = Index(docs)
        self._terms, self.entries, self.index = cache, {e.id: e for e in ordered}, index
        self._positions = {e.id: i for i, e in enumerate(ordered)}
        # What an article is about (not merely mentions): its title and keywords.
        self._about = {e.id: frozenset(t for f in ("title", "keywords") for t in docs[i].fields[f])
                       for i, e in enumerate(ordered)}

    def _field_terms(self, e: Entry) -> dict[str, list[str]]:
        tk = self.tokenizer
        return {
            "title": tk.terms(e.title),
            "keywords": tk.terms(" ".join((*e.keywords, *e.phrasings))),
            "summary": tk.terms(e.summary),
            "body": tk.terms(e.body),
        }

    def rank(self, text: str, limit: int = 10) -> tuple[list[str], list[tuple[int, float]]]:
        """The question's words and the best articles for it, (article id, score) best first."""
        tk = self.tokenizer
        words = tk.words(text)
        terms = tk.terms(text)
        if not terms:
            return words, []
        ranked = self.index.search(terms, limit=limit)
        asked_crops = {c for w in words if (c := tk.vocab.crop(w))}
        if asked_crops:
            # An article about the crop asked about beats a slightly better-scoring one about another.
            # General articles (no crops: frost, drought, safe spraying) are not pushed down.
            ranked.sort(key=lambda hit: bool(self.entries[hit[0]].crops)
                        and not asked_crops & set(self.entries[hit[0]].crops))
        return words, ranked

    def search(self, text: str, limit: int = 5) -> Result:
        tk = self.tokenizer
        words, ranked = self.rank(text, limit=max(limit, 10))
        if not words:
            return Result((), False, "no_terms")
        if not ranked:
            return Result((), False, "no_match")
        asked_crops = {c for w in words if (c := tk.vocab.crop(w))}
        hits = tuple(Hit(i, self.entries[i].ref, self.entries[i].title, round(s, 4)) for i, s in ranked[:limit])
        top = self.entries[ranked[0][0]]
        have = self.index.doc_terms[self._positions[top.id]]
        if asked_crops and top.crops and not asked_crops & set(top.crops):
            return Result(hits, False, "crop_mismatch")
        if any(not self._found(w, self._about[top.id]) for w in tk.entities(words)):
            return Result(hits, False, "topic_mismatch")  # 晚疫病 asked, the article is about 早疫病
        folded = "".join(words) + text
        if any(w in folded for w in tk.out_of_scope):
            return Result(hits, False, "out_of_scope")  # a price, weather, money or job question
        content = [w for w in words if tk.vocab.crop(w) is None and not w.isdigit()]
        if not content or (not asked_crops and max(map(len, content)) < 2):
            return Result(hits, False, "weak")  # a crop name alone, or nothing but filler
        # A word no article uses at all (鳄鱼, 医保) weighs more than the rarest known word.
        weights = {w: self.index.idf.get(w, UNKNOWN_WEIGHT * self.index.max_idf) for w in content}
        total = sum(weights[w] for w in content)
        matched = sum(weights[w] for w in content if self._found(w, have))
        coverage = matched / total
        needed = MIN_COVERAGE_WITH_CROP if asked_crops else MIN_COVERAGE
        if coverage < needed:
            return Result(hits, False, "weak", round(coverage, 3))
        return Result(hits, True, "", round(coverage, 3))

    @staticmethod
    def _found(word: str, have: frozenset[str]) -> bool:
        """The article has the word, or most of its character pairs (other cuts, typos)."""
        if word in have:
            return True
        pairs = [word[i : i + 2] for i in range(len(word) - 1)]
        return bool(pairs) and sum(p in have for p in pairs) * 2 >= len(pairs) + (len(pairs) > 2)

    def _position(self, key: int) -> int:
        return self._positions[key]

    async def refresh(self) -> bool:
        """Rebuild from the database when articles changed since the last build. True if rebuilt."""
        async with self._lock:
            # A cheap check first; the full load only when something was added, edited or deleted.
            conn = connections.get("default")
            stats = await conn.execute_query_dict(
                "SELECT COUNT(*) AS n, MAX(updated_at) AS changed, SUM(id) AS ids FROM article"
            )
            version = "{n}:{changed}:{ids}".format(**stats[0])
            if version == self.version:
                return False
            rows = await Article.all().order_by("ref").values(
                "id", "ref", "title", "crops", "keywords", "phrasings", "summary", "body", "updated_at"
            )
            entries = [entry_from_row(r) for r in rows]
            await asyncio.to_thread(self.build, entries)
            self.version = version
            log.info("search index rebuilt", extra={"articles": len(entries)})
            return True


def entry_from_row(row: dict) -> Entry:  # type: ignore[type-arg]
    stamp = row["updated_at"].isoformat() if isinstance(row["updated_at"], datetime) else str(row["updated_at"])
    return Entry(
        id=row["id"], ref=row["ref"], title=row["title"],
        crops=tuple(c for c in row["crops"].split(",") if c), keywords=tuple(row["keywords"] or ()),
        summary=row["summary"], body=row["body"], stamp=stamp, phrasings=tuple(row.get("phrasings") or ()),
    )
