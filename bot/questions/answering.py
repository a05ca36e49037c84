"""Answering a villager: search → decide → record the answer, or hand the text to an officer's inbox;
更多 and numbered choices carry on with the article last sent; a rating of the last answer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from bot import inbox
from bot.compose import compose, hands_off, render_article
from bot.config import Config
from bot.models import Message, Subscriber
from bot.questions import answers
from bot.questions.models import Question
from bot.textnorm import keyword_form
from content.search import Searcher

MAX_TEXT = 1000  # characters of a villager's text kept in the inbox
NOTHING_MORE = "没有可以接着看的内容。直接发问题就行，如“洋芋叶子有黑斑”。"
READ_ALL = "这篇已经看完了。还有问题直接发过来。"
WITHDRAWN = "这篇资料已经下架了，请直接发问题。"
THANKS = "谢谢您告诉我们！有别的问题随时发过来。"
PASSED_ON = "收到，这个回答没帮上您，已转给农技员，他们看过后会尽快回复您。"
ALREADY = "已经转给农技员了，他们看过后会尽快回复您。"


@dataclass(frozen=True)
class Asker:
    """Who wrote, on which inbound message and channel: what answers and hand-offs are recorded against."""

    subscriber: Subscriber | None
    inbound: Message | None
    channel: str


_INSERT_QUESTION = ("INSERT INTO question (subscriber_id, message_id, channel, text, status, reason, best_ref, "
                    "best_score, article_ref, given_answer, created_at) VALUES (?, ?, ?, ?, 'open', ?, ?, ?, '', '', ?)")


async def to_inbox(asker: Asker, text: str, reason: str, *, best_ref: str = "", best_score: float = 0.0) -> None:
    """Put a villager's text in the officers' inbox (问答收件箱) with the reason it is there (one statement,
    written with the reply when a handler answers a text: `bot.inbox.write`)."""
    await inbox.write(_INSERT_QUESTION, [
        asker.subscriber.id if asker.subscriber else None, asker.inbound.id if asker.inbound else None,
        asker.channel, text[:MAX_TEXT], reason, best_ref, float(best_score), datetime.now(UTC)])


async def answer(searcher: Searcher, config: Config, asker: Asker, text: str) -> str:
    """Search the knowledge base; log an answer given from an article, hand weak matches to an officer.
    Returns the reply."""
    await searcher.understand(text)  # the optional meaning model embeds it in a thread, off the event loop
    composed = compose(searcher, text, asker.channel, config)
    await _save_dialog(asker.subscriber, composed.dialog)
    result = composed.result
    if result is not None and result.answered and result.best is not None:
        best = result.best
        await answers.log(asker.subscriber, asker.inbound, asker.channel, text, best.ref, best.title,
                          result.confidence)
    if result is not None and not result.answered and result.reason != "vague" and hands_off(text):
        near = result.best
        await to_inbox(asker, text, result.reason, best_ref=near.ref if near else "",
                       best_score=near.score if near else 0.0)
    return composed.text


async def more(searcher: Searcher, config: Config, subscriber: Subscriber | None, channel: str) -> str:
    """The next part of the article last sent."""
    dialog = _reading(subscriber)
    if "article" not in dialog or dialog["article"] not in searcher.entries:
        return NOTHING_MORE
    shown = render_article(searcher, dialog["article"], channel, config, dialog.get("page", 0) + 1,
                           dialog.get("choices", []))
    if not shown.text:
        return READ_ALL
    await _save_dialog(subscriber, shown.dialog)
    return shown.text


def picks_choice(subscriber: Subscriber | None, text: str) -> bool:
    """The text is the number of one of the articles offered last."""
    form = keyword_form(text)
    return form.isdigit() and 0 < int(form) <= len(_reading(subscriber).get("choices", []))


async def open_choice(searcher: Searcher, config: Config, asker: Asker, text: str) -> str:
    """Open the numbered article the villager picked (picks_choice said it is one)."""
    chosen = _reading(asker.subscriber)["choices"][int(keyword_form(text)) - 1]
    if chosen not in searcher.entries:
        return WITHDRAWN
    shown = render_article(searcher, chosen, asker.channel, config, 0, [])
    await _save_dialog(asker.subscriber, shown.dialog)
    entry = searcher.entries[chosen]
    # The villager chose it, so "不对" after it is about this article too.
    await answers.log(asker.subscriber, asker.inbound, asker.channel, text, entry.ref, entry.title, 0.0)
    return shown.text


async def rate_last(asker: Asker, rating: str) -> str | None:
    """Keep the villager's rating of the last answer; 不对 and 没用 hand the question, with the answer that
    was given, to an officer. Returns the reply, or None when there is no answer to rate."""
    answer_row = await answers.last_answer(asker.subscriber)
    if answer_row is None:
        return None
    before = await answers.rate(answer_row, rating)
    if rating == "useful":
        return THANKS
    if before in ("wrong", "useless"):
        return ALREADY  # said twice: the officers already have it
    sent = await answers.sent_text(answer_row)
    given = f"《{answer_row.title}》" + (f"\n{sent}" if sent else "")
    asked = answer_row.message_id or (asker.inbound.id if asker.inbound else None)
    await Question.create(
        subscriber=asker.subscriber, message_id=asked, channel=asker.channel, text=answer_row.question,
        reason="wrong_answer", best_ref=answer_row.article_ref, best_score=answer_row.score, given_answer=given,
    )
    return PASSED_ON


async def _save_dialog(subscriber: Subscriber | None, dialog: dict[str, Any]) -> None:
    if subscriber is not None and subscriber.dialog != dialog:
        await inbox.save_dialog(subscriber, dialog)


def _reading(subscriber: Subscriber | None) -> dict[str, Any]:
    dialog: dict[str, Any] = subscriber.dialog if subscriber is not None else {}
    return dialog if dialog.get("flow") == "article" else {}
