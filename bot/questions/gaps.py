"""Content gaps: the unanswered questions of a period grouped by crop and pest/disease, biggest group first."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from bot import sandbox
from bot.questions.knowledge import article_title
from bot.questions.models import Question
from bot.questions.service import shown_text
from content.search import UNKNOWN_WEIGHT, Searcher

GAP_DAYS = (7, 30, 90, 365)
GAP_QUESTIONS = 2000  # the newest this many questions of the period are grouped
GAP_EXAMPLES = 3
GAP_METHOD = ("把每个问题切成词（方言换成标准名、去掉“咋办”之类的虚词），按其中的作物名和病虫害名归类；"
              "没有病虫害名的，按作物名加最少见的那个词归类。")


@dataclass
class Gap:
    key: tuple[str, ...]
    questions: list[Question] = field(default_factory=list)  # newest first

    @property
    def label(self) -> str:
        return " · ".join(self.key) if self.key else "其他（没有可归类的词）"


def topic_key(searcher: Searcher, text: str) -> tuple[str, ...]:
    """The crops and pests/diseases a question names (standard names); without a pest or disease,
    its crops plus its rarest other word (a word no article uses counts as the rarest)."""
    tk = searcher.tokenizer
    words = tk.words(text)
    crops = sorted({c for w in words if (c := tk.vocab.crop(w))})
    pests = sorted(tk.entities(words))
    if pests:
        return (*crops, *pests)
    rest = [w for w in words if tk.vocab.crop(w) is None and len(w) >= 2 and not w.isdigit()]
    if not rest:
        return tuple(crops)
    idf, unknown = searcher.index.idf, UNKNOWN_WEIGHT * searcher.index.max_idf
    return (*crops, max(rest, key=lambda w: (idf.get(w, unknown), len(w))))


def group_gaps(searcher: Searcher, questions: list[Question]) -> list[Gap]:
    """Blocking (tokenises every question): run it in a thread."""
    groups: dict[tuple[str, ...], Gap] = {}
    for q in questions:
        key = topic_key(searcher, q.text)
        groups.setdefault(key, Gap(key)).questions.append(q)
    return sorted(groups.values(), key=lambda g: (-len(g.questions), -g.questions[0].id))


async def gaps(searcher: Searcher, days: int, *, admin: bool) -> list[dict[str, Any]]:
    """Unanswered questions of the last `days` days grouped by topic, biggest group first. Feedback,
    closed questions (spam), those already saved as articles and the simulator's are left out.
    Phones in the examples are masked unless the officer asking is an admin."""
    since = datetime.now(UTC) - timedelta(days=days)
    rows = await (Question.filter(sandbox.not_from_sandbox(), created_at__gte=since, article_ref="")
                  .exclude(reason="feedback")
                  .exclude(status="closed").order_by("-id").limit(GAP_QUESTIONS))
    groups = await asyncio.to_thread(group_gaps, searcher, rows)
    out = []
    for g in groups:
        result = searcher.search(g.questions[0].text, limit=1)
        best = result.best
        title = "".join(g.key) if g.key else article_title(g.questions[0].text)
        out.append({
            "key": list(g.key), "label": g.label, "count": len(g.questions),
            "open": sum(q.status == "open" for q in g.questions),
            "examples": [{"id": q.id, "text": shown_text(q.text, admin)} for q in g.questions[:GAP_EXAMPLES]],
            "question_ids": [q.id for q in g.questions],
            "best": {"id": best.id, "ref": best.ref, "title": best.title, "score": best.score,
                     "answers_now": result.answered} if best else None,
            "write_url": "/admin/articles/new?" + urlencode({"title": title}),
        })
    return out
