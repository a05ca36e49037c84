"""The last fallback: answer a question from the knowledge base, page with 更多, open numbered choices,
and hand what we cannot answer to an extension officer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bot import answers
from bot.config import Config
from bot.keys import SEARCH
from bot.messages import InboundMessage, Reply
from bot.questions.models import Question
from bot.routing import Context, Router
from bot.sms import ucs2_capacity
from bot.textnorm import keyword_form
from content.render import choices_text, sms_page, wechat_text
from content.search import Result, Searcher

router = Router("search")

MORE_WORDS = ("更多", "more", "继续", "下一页", "接着说", "还有呢")
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


def render_article(searcher: Searcher, article_id: int, channel: str, config: Config, page: int,
                   choices: list[int]) -> Composed:
    """The article's page for the channel. Numbered choices are kept only when they were shown."""
    entry = searcher.entries[article_id]
    shown_choices: list[int] = []
    if channel == "sms":
        tail = RATE_HINT if page == 0 else ""
        shown = sms_page(entry.summary, entry.body, page, sms_budget(config) - len(tail))
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
    shown = [i for k, i in enumerate(near, 1) if f"\n{k}. " in text]  # only what survived fitting
    return Composed(text, result, {"flow": "article", "choices": shown})


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


async def _save_dialog(ctx: Context, dialog: dict[str, Any]) -> None:
    if ctx.subscriber is not None and ctx.subscriber.dialog != dialog:
        ctx.subscriber.dialog = dialog
        await ctx.subscriber.save(update_fields=["dialog", "updated_at"])


def _reading(msg: InboundMessage, ctx: Context) -> dict[str, Any]:
    dialog = ctx.subscriber.dialog if ctx.subscriber is not None else {}
    return dialog if dialog.get("flow") == "article" else {}


@router.keyword(*MORE_WORDS)
async def more(msg: InboundMessage, ctx: Context) -> Reply:
    """更多 / 继续 / MORE: the next part of the article just sent"""
    dialog = _reading(msg, ctx)
    searcher = ctx.app[SEARCH]
    if "article" not in dialog or dialog["article"] not in searcher.entries:
        return Reply("没有可以接着看的内容。直接发问题就行，如“洋芋叶子有黑斑”。")
    shown = render_article(searcher, dialog["article"], msg.channel, ctx.config, dialog.get("page", 0) + 1,
                           dialog.get("choices", []))
    if not shown.text:
        return Reply("这篇已经看完了。还有问题直接发过来。")
    await _save_dialog(ctx, shown.dialog)
    return Reply(shown.text)


def _picks_choice(msg: InboundMessage, ctx: Context) -> bool:
    form = keyword_form(msg.text)
    return form.isdigit() and 0 < int(form) <= len(_reading(msg, ctx).get("choices", []))


@router.when(_picks_choice)
async def open_choice(msg: InboundMessage, ctx: Context) -> Reply:
    """1 / 2 / 3 …: open one of the numbered articles offered last"""
    dialog = _reading(msg, ctx)
    chosen = dialog["choices"][int(keyword_form(msg.text)) - 1]
    searcher = ctx.app[SEARCH]
    if chosen not in searcher.entries:
        return Reply("这篇资料已经下架了，请直接发问题。")
    shown = render_article(searcher, chosen, msg.channel, ctx.config, 0, [])
    await _save_dialog(ctx, shown.dialog)
    entry = searcher.entries[chosen]
    # The villager chose it, so "不对" after it is about this article too.
    await answers.record(ctx.subscriber, ctx.inbound, msg.channel, msg.text, entry.ref, entry.title, 0.0)
    return Reply(shown.text)


async def answer_question(msg: InboundMessage, ctx: Context) -> Reply:
    """(any other text): search the knowledge base; hand weak matches to an officer"""
    composed = compose(ctx.app[SEARCH], msg.text, msg.channel, ctx.config)
    await _save_dialog(ctx, composed.dialog)
    result = composed.result
    if result is not None and result.answered and result.best is not None:
        best = result.best
        await answers.record(ctx.subscriber, ctx.inbound, msg.channel, msg.text, best.ref, best.title,
                             result.confidence)
    if result is not None and not result.answered and result.reason != "vague" and hands_off(msg.text):
        best = result.best
        await Question.create(
            subscriber=ctx.subscriber, message=ctx.inbound, channel=msg.channel, text=msg.text[:1000],
            reason=result.reason, best_ref=best.ref if best else "", best_score=best.score if best else 0.0,
        )
    return Reply(composed.text)
