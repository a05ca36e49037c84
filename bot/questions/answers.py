"""The answer log: one row per question the bot answered from an article, and the villager's rating of it.

`record` is called when an article is sent as the answer; `last_answer` finds the answer a reply such as
"不对" or "有用" is about; `rate` keeps that rating. The console charts and review pages read the same rows.

Which answer a rating is about (the rule `last_answer` applies):
  the villager's newest Answer, if it was made within `within` (24 h by default), and every message
  they sent after it was handled by the rating handler (`rating.*`) or was "更多" (`search.more`,
  still reading the same answer). Any other handled message in between (a price query, 帮助, a question
  handed to an officer …) means the conversation moved on: there is no last answer, so "不对" is left
  to the other handlers. The message being processed right now (status "processing") is not counted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from tortoise.queryset import QuerySet

from bot import inbox
from bot.models import Message, Subscriber
from bot.questions.models import RATINGS, Answer, Question

# Handlers whose messages do not end the conversation about an answer (prefixes of Message.handler).
STILL_ON_IT = ("rating.", "search.more")
MAX_QUESTION = 1000


async def record(subscriber: Subscriber | None, inbound: Message | None, channel: str, question: str,
                 article_ref: str, title: str, score: float) -> Answer:
    """Log that `question` (the villager's text, from the `inbound` message) was answered with the article
    `article_ref`, shown under `title`, at ranking score `score`."""
    return await Answer.create(
        subscriber=subscriber, message=inbound, channel=channel, question=question[:MAX_QUESTION],
        article_ref=article_ref[:100], title=title[:200], score=float(score),
    )


_INSERT = ("INSERT INTO answer (subscriber_id, message_id, channel, question, article_ref, title, score, rating, "
           "flagged_by, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, '', '', ?)")


async def log(subscriber: Subscriber | None, inbound: Message | None, channel: str, question: str,
              article_ref: str, title: str, score: float) -> None:
    """`record` without the row back, as one statement written with the reply when a handler answers a
    text (`bot.inbox.write`): the answer log costs the inbound path neither the ORM nor a round trip."""
    await inbox.write(_INSERT, [
        subscriber.id if subscriber else None, inbound.id if inbound else None, channel, question[:MAX_QUESTION],
        article_ref[:100], title[:200], float(score), datetime.now(UTC)])


async def last_answer(subscriber: Subscriber | None, within: timedelta = timedelta(hours=24)) -> Answer | None:
    """The answer this villager's next words can be about, or None (see the module's rule)."""
    if subscriber is None:
        return None
    since = datetime.now(UTC) - within
    answer = await Answer.filter(subscriber_id=subscriber.id, created_at__gte=since).order_by("-id").first()
    if answer is None:
        return None
    later = Message.filter(subscriber_id=subscriber.id, direction="in", created_at__gt=answer.created_at)
    if answer.message_id is not None:
        later = later.exclude(id=answer.message_id)
    later = later.exclude(status="processing")
    for prefix in STILL_ON_IT:
        later = later.exclude(handler__startswith=prefix)
    return None if await later.exists() else answer


async def rate(answer: Answer, rating: str) -> str:
    """Keep the villager's rating ('useful', 'wrong' or 'useless'); returns the rating it had before."""
    if rating not in RATINGS:
        raise ValueError(f"rating must be one of {', '.join(RATINGS)}, not {rating!r}")
    before = answer.rating
    answer.rating, answer.rated_at = rating, datetime.now(UTC)
    await answer.save(update_fields=["rating", "rated_at"])
    return before


async def sent_text(answer: Answer) -> str:
    """What the villager received for the answered question (the first reply to it), or ""."""
    if answer.message_id is None:
        return ""
    reply = await (Message.filter(reply_to_id=answer.message_id, direction="out")
                   .order_by("id").first())
    return reply.body if reply is not None else ""


# --- review: officers read the answers given and mark the wrong ones ---------------------------------

REVIEW_FILTERS = {"bad": ("wrong", "useless"), "useful": ("useful",), "unrated": ("",)}
RATING_NAMES = {"useful": "有用", "wrong": "不对", "useless": "没用", "": "没有评价"}
WRONG_REASONS = ("wrong_answer", "marked_wrong")  # the inbox questions an answer became


class Flagged(Exception):
    """Why an answer cannot be marked wrong (in Chinese), and the inbox question it already is, if any."""

    def __init__(self, message: str, question_id: int | None = None, status: int = 409) -> None:
        super().__init__(message)
        self.question_id = question_id
        self.status = status


def reviewed(rating: str = "") -> QuerySet[Answer]:
    """Answers the bot gave, newest first by id, those rated so when `rating` is a key of REVIEW_FILTERS."""
    query = Answer.all()
    if rating:
        query = query.filter(rating__in=list(REVIEW_FILTERS[rating]))
    return query


async def inbox_questions(answers: list[Answer]) -> dict[int, Question]:
    """The inbox question each answer became (a villager's 不对, or an officer's review), by answer id."""
    by_message = {a.message_id: a.id for a in answers if a.message_id is not None}
    if not by_message:
        return {}
    rows = await Question.filter(message_id__in=list(by_message), reason__in=list(WRONG_REASONS)).order_by("id")
    return {by_message[q.message_id]: q for q in rows if q.message_id is not None}


async def mark_wrong(answer_id: int, officer_name: str) -> Question:
    """An officer says the bot answered this wrong: the question goes to the inbox (reason marked_wrong)
    with the answer it got, to be answered there. Once per answer, whoever clicks first."""
    answer = await Answer.get_or_none(id=answer_id)
    if answer is None:
        raise Flagged("没有这条回答记录（可能已被删除）。", status=404)
    existing = (await inbox_questions([answer])).get(answer.id)
    if existing is not None:
        who = "农户已经说过不对" if existing.reason == "wrong_answer" else f"{answer.flagged_by or '同事'}已经标为答错"
        raise Flagged(f"{who}，这个问题已在问答收件箱。", existing.id)
    if not await Answer.filter(id=answer.id, flagged_by="").update(flagged_by=officer_name[:50],
                                                                    flagged_at=datetime.now(UTC)):
        raise Flagged("这条回答刚被同事标为答错了，请刷新页面查看。")
    sent = await sent_text(answer)
    return await Question.create(
        subscriber_id=answer.subscriber_id, message_id=answer.message_id, channel=answer.channel,
        text=answer.question, reason="marked_wrong", best_ref=answer.article_ref, best_score=answer.score,
        given_answer=f"《{answer.title}》" + (f"\n{sent}" if sent else ""),
    )
