"""What an officer's reply adds to the knowledge base: a new article from the answer, or the villager's
wording as an extra phrasing of an existing article (searched like its keywords)."""

from __future__ import annotations

import re
import unicodedata

from tortoise.transactions import in_transaction

from bot.models import pack_set
from bot.questions.models import Question
from bot.textnorm import keyword_form
from content.fold import fold
from content.models import DRAFT, PUBLISHED, Article
from content.search import Searcher

MAX_PHRASINGS = 50  # villagers' wordings kept per article; the oldest go first
MAX_PHRASING = 200  # characters
LONG_NUMBER = re.compile(r"\+?\d[\d -]{6,}\d")
GREETING = re.compile(r"^(?:你好|您好|老师|专家|师傅|请问|问一下|问下|想问一下|想问下|麻烦问一下)[\s,，.。!！:：]*")


def article_title(question: str) -> str:
    """'你好，橘子树上有白粉病咋整？？' -> '橘子树上有白粉病咋整': a title the officer then polishes."""
    text = unicodedata.normalize("NFKC", question)
    text = LONG_NUMBER.sub("", text)  # a phone number has no place in an article
    text = re.sub(r"\s+", " ", text).strip()
    while (stripped := GREETING.sub("", text, count=1)) != text:
        text = stripped
    text = text.strip(" ?？!！.。~～,，、")
    if len(text) > 60:
        text = re.split(r"[。!！?？;；]", text, maxsplit=1)[0][:60]
    return text or "农户提问"


async def _free_ref(base: str) -> str:
    ref, n = base, 1
    while await Article.exists(ref=ref):
        n += 1
        ref = f"{base}-{n}"
    return ref


def crops_in(searcher: Searcher, text: str) -> list[str]:
    """The crops a villager's text names, in any local name (苞谷 → 玉米)."""
    return [c for w in searcher.tokenizer.words(text) if (c := searcher.tokenizer.vocab.crop(w))]


async def save_as_article(searcher: Searcher, question: Question, text: str, officer_name: str, *,
                          published: bool = True) -> Article:
    """The reply as an article: live at once when `published`, else a draft for a supervisor (bot/articles)."""
    words = searcher.tokenizer.words(question.text)
    return await Article.create(
        status=PUBLISHED if published else DRAFT,
        ref=await _free_ref(f"console-q{question.id}"), title=article_title(question.text),
        crops=pack_set(crops_in(searcher, question.text)), keywords=sorted(searcher.tokenizer.entities(words)),
        summary="", body=text,
        sources=[f"农技员 {officer_name} 答复"], origin=f"console:{officer_name}"[:200],
    )


def phrasing_of(text: str) -> str:
    """A villager's question as a phrasing: phone numbers out, spaces tidied, at most MAX_PHRASING characters."""
    text = LONG_NUMBER.sub("", unicodedata.normalize("NFKC", text))
    return re.sub(r"\s+", " ", text).strip()[:MAX_PHRASING]


def _same(phrasing: str) -> str:
    return keyword_form(fold(phrasing))


async def attach_phrasing(ref: str, wording: str) -> Article | None:
    """Add a villager's wording to the article's phrasings (searched like its keywords): once per wording,
    the newest MAX_PHRASINGS kept. Saving changes updated_at, so every running index rebuilds. Returns
    the article, or None when it no longer exists or the wording has nothing searchable."""
    phrasing = phrasing_of(wording)
    if sum(ch.isalnum() for ch in phrasing) < 2:  # nothing a search could use
        return None
    async with in_transaction():
        article = await Article.filter(ref=ref).select_for_update().first()
        if article is None:
            return None
        kept = [p for p in (article.phrasings or []) if isinstance(p, str) and _same(p) != _same(phrasing)]
        article.phrasings = [*kept, phrasing][-MAX_PHRASINGS:]
        await article.save(update_fields=["phrasings", "updated_at"])
    return article
