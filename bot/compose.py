"""What the bot answers to a text from the knowledge base (no side effects): the article's page for the
channel, numbered choices, or the hand-off text. Shared by answering villagers, the knowledge-base
console's 问问看, GET /api/v1/search and `nongbot ask`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot.config import Config
from bot.sms import ucs2_capacity
from bot.textnorm import keyword_form
from content.render import choices_text, sms_page, wechat_text
from content.search import Result, Searcher

MAX_CHOICES = 4
HANDOFF = "这个问题我还答不准，已转给农技员，他们会尽快回复您。"
RATE_HINT = "\n答得不对回“不对”"
WECHAT_RATE_HINT = "有用请回“有用”，答得不对请回“不对”，农技员会再看。"
SAY_MORE = "请说说遇到了什么问题，如“苞谷叶子发黄咋办”“猪拉稀咋办”，我好帮您查。"
NOT_UNDERSTOOD = "没看懂您的意思。直接发作物和问题就行，如“洋芋叶子有黑斑”；回复“帮助”查看菜单。"


def hands_off(text: str) -> bool:
    """Worth an officer's time: more than a greeting or a stray character."""
    return len(keyword_form(text)) >= 3


@dataclass(frozen=True)
class Composed:
    text: str
    result: Result | None
    dialog: dict[str, Any] = field(default_factory=dict)  # what "更多" and numbers refer to next


def sms_budget(config: Config) -> int:
    return ucs2_capacity(config.sms.max_segments) - len(config.sms.signature)


def article_budget(config: Config) -> int:
    """Characters an article's SMS page may use: the first answer and each "更多" page."""
    return ucs2_capacity(config.sms.article_segments) - len(config.sms.signature)


def render_article(searcher: Searcher, article_id: int, channel: str, config: Config, page: int,
                   choices: list[int]) -> Composed:
    """The article's page for the channel. Numbered choices are kept only when they were shown."""
    entry = searcher.entries[article_id]
    shown_choices: list[int] = []
    if channel == "sms":
        tail = RATE_HINT if page == 0 else ""
        shown = sms_page(entry.summary, entry.body, page, article_budget(config) - len(tail))
        text = shown.text + tail if shown.text else ""
    else:
        shown = wechat_text(entry.title, entry.summary, entry.body, page)
        text = shown.text
        if page == 0 and choices:
            shown_choices = [i for i in choices if i in searcher.entries]
            text += "\n\n" + choices_text([searcher.entries[i].title for i in shown_choices], "其他相关")
        if page == 0:
            text += "\n" + WECHAT_RATE_HINT
    dialog = {"flow": "article", "article": article_id, "page": page, "choices": shown_choices}
    return Composed(text, None, dialog)


def compose(searcher: Searcher, text: str, channel: str, config: Config) -> Composed:
    """What the bot answers to `text` (no side effects; `nongbot ask` uses this too)."""
    result = searcher.search(text, limit=MAX_CHOICES + 1)
    if result.answered and result.best is not None:
        others = [i for i in searcher.plausible(text, result, MAX_CHOICES) if i != result.best.id]
        shown = render_article(searcher, result.best.id, channel, config, 0, others)
        return Composed(shown.text, result, shown.dialog)
    if not hands_off(text):
        return Composed(NOT_UNDERSTOOD, result, {})
    if result.reason == "vague":
        return Composed(SAY_MORE, result, {})
    near = searcher.plausible(text, result) if result.reason != "out_of_scope" else []
    if not near:
        return Composed(HANDOFF + "回复“帮助”查看能问什么。", result, {})
    lead = "相近的资料有"
    titles = [searcher.entries[i].title for i in near]
    text = HANDOFF + "\n" + choices_text(titles, lead)
    if channel == "sms":
        text = _fit_sms(text, sms_budget(config))
    kept = [i for k, i in enumerate(near, 1) if f"\n{k}. " in text]  # only what survived fitting
    return Composed(text, result, {"flow": "article", "choices": kept})


def ask(searcher: Searcher, config: Config, question: str, channel: str = "sms",
        limit: int = 5) -> tuple[dict[str, Any], Result]:
    """What the bot answers and how it ranked: `nongbot ask --json` and GET /api/v1/search print this."""
    composed = compose(searcher, question, channel, config)
    result = searcher.search(question, limit=limit)
    hits = [{"id": h.id, "ref": h.ref, "title": h.title, "score": h.score} for h in result.hits]
    return {"answer": composed.text, "answered": result.answered, "hits": hits}, result


def _fit_sms(text: str, budget: int) -> str:
    while len(text) > budget and "\n" in text:
        lines = text.split("\n")
        text = "\n".join(lines[:-2] + lines[-1:]) if len(lines) > 3 else lines[0]
    return text[:budget]
