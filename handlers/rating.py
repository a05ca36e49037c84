"""Feedback on the last answer: 有用 / 不对 / 没用 … (words in content/dict/rating.toml).

Only when the bot has just answered this villager from an article (`bot.questions.answers.last_answer`);
otherwise the handler returns None and "不对" goes on to the other handlers. 不对 / 没用 also hand the
question to an officer, together with the answer that was given (bot/questions/answering.py)."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from bot.messages import InboundMessage, Reply
from bot.questions.answering import Asker, rate_last
from bot.questions.models import RATINGS
from bot.routing import Context, Router
from bot.textnorm import keyword_form
from content.fold import fold

router = Router("rating")

RATING_FILE = Path(__file__).resolve().parent.parent / "content" / "dict" / "rating.toml"
MAX_FORM = 24  # characters after folding: longer texts are questions or comments, not a rating


def form_of(text: str) -> str:
    return keyword_form(fold(text))


@dataclass(frozen=True)
class RatingWords:
    words: dict[str, str]  # folded word -> rating
    filler: frozenset[str]

    def rating(self, text: str) -> str | None:
        """'useful' | 'wrong' | 'useless' when the text is only rating words of one kind (and filler)."""
        form = form_of(text)
        if not form or len(form) > MAX_FORM:
            return None
        found = self._split(form, 0, {})
        if not found:
            return None
        kinds = {self.words[w] for w in found if w in self.words}
        return kinds.pop() if len(kinds) == 1 else None

    def _split(self, form: str, start: int, memo: dict[int, list[str] | None]) -> list[str] | None:
        """The text cut into known words (longest first), or None when some part is not one."""
        if start == len(form):
            return []
        if start in memo:
            return memo[start]
        memo[start] = None
        for end in range(len(form), start, -1):
            piece = form[start:end]
            if piece in self.words or piece in self.filler:
                rest = self._split(form, end, memo)
                if rest is not None:
                    memo[start] = [piece, *rest]
                    break
        return memo[start]


@cache
def rating_words(path: Path = RATING_FILE) -> RatingWords:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    words: dict[str, str] = {}
    for kind in RATINGS:
        for word in data.get(kind, {}).get("words", []):
            if form := form_of(word):
                words[form] = kind
    filler = frozenset(f for w in data.get("filler", []) if (f := form_of(w)) and f not in words)
    return RatingWords(words, filler)


def _is_rating(msg: InboundMessage, ctx: Context) -> bool:
    return ctx.subscriber is not None and rating_words().rating(msg.text) is not None


@router.when(_is_rating)
async def rate(msg: InboundMessage, ctx: Context) -> Reply | None:
    """有用 / 不对 / 没用 … right after an answer: rate it; 不对 and 没用 go to an officer"""
    rating = rating_words().rating(msg.text)
    if rating is None:
        return None
    reply = await rate_last(Asker(ctx.subscriber, ctx.inbound, msg.channel), rating)
    return Reply(reply) if reply is not None else None  # no answer to rate: "不对" is someone else's
