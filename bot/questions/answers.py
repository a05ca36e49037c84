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

from bot.models import Message, Subscriber
from bot.questions.models import RATINGS, Answer

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
