"""Learning from misses: the answer log, villagers rating the last answer (有用 / 不对 / 没用), and a
wrong answer reaching the officer inbox with what the bot had said."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp import web

from bot.keys import SEARCH
from bot.models import Message, Subscriber
from bot.questions import answers
from bot.questions.models import Answer, Question
from content import importer
from content.loader import BUNDLED, read_path
from handlers.rating import RATING_FILE, form_of, rating_words
from tests.helpers import PHONE, say

BUNDLE = [a for a in read_path(BUNDLED).articles if a.ref.split("-")[0] in ("citrus", "potato", "disaster")]
ASKED = "洋芋晚疫病咋治"  # answered from potato-late-blight
OTHER = "+8613900139000"


@pytest.fixture
async def kb(app: web.Application) -> web.Application:
    await importer.upsert(BUNDLE)
    await app[SEARCH].refresh()
    return app


async def answered(app: web.Application, text: str, address: str = PHONE) -> Answer:
    """Ask through the pipeline; log the answer as handlers/search.py does when an article is sent
    (done here too, so the tests hold before and after search records answers itself)."""
    outcome = await say(app, text, address=address)
    assert outcome.handler == "search.answer_question"
    found = await Answer.get_or_none(message_id=outcome.message_id)
    if found is not None:
        return found
    result = app[SEARCH].search(text)
    assert result.answered and result.best is not None
    inbound = await Message.get(id=outcome.message_id)
    subscriber = await Subscriber.get(id=inbound.subscriber_id)  # type: ignore[attr-defined]
    return await answers.record(subscriber, inbound, "sms", text, result.best.ref, result.best.title,
                                result.best.score)


# --- the answer log ----------------------------------------------------------------------------------


@pytest.mark.db
async def test_record_and_last_answer(kb: web.Application) -> None:
    answer = await answered(kb, ASKED)
    sub = await Subscriber.get(phone=PHONE)
    assert (answer.question, answer.article_ref, answer.channel, answer.rating) == (
        ASKED, "potato-late-blight", "sms", "")
    assert answer.score > 0 and answer.rated_at is None and answer.message_id is not None  # type: ignore[attr-defined]
    last = await answers.last_answer(sub)
    assert last is not None and last.id == answer.id
    assert await answers.last_answer(None) is None
    assert await answers.last_answer(sub, within=timedelta(0)) is None


@pytest.mark.db
async def test_another_handler_in_between_ends_the_answer(kb: web.Application) -> None:
    await answered(kb, ASKED)
    sub = await Subscriber.get(phone=PHONE)
    await say(kb, "更多")  # still reading the same answer
    assert await answers.last_answer(sub) is not None
    await say(kb, "帮助")  # moved on
    assert await answers.last_answer(sub) is None
    assert (await say(kb, "有用")).handler != "rating.rate"
    assert not await Answer.filter(rating__not="").exists()


@pytest.mark.db
async def test_an_answer_older_than_a_day_is_not_rated(kb: web.Application) -> None:
    answer = await answered(kb, ASKED)
    await Answer.filter(id=answer.id).update(created_at=answer.created_at - timedelta(hours=25))
    outcome = await say(kb, "不对")
    assert outcome.handler != "rating.rate"
    assert not await Question.filter(reason="wrong_answer").exists()


# --- rating the last answer --------------------------------------------------------------------------


@pytest.mark.db
@pytest.mark.parametrize("text", ["有用", "有用，谢谢！", "很管用", "对的", "有幫助"])
async def test_useful_rating_after_an_answer(kb: web.Application, text: str) -> None:
    answer = await answered(kb, ASKED)
    outcome = await say(kb, text)
    assert outcome.handler == "rating.rate"
    assert outcome.reply is not None and "谢谢" in outcome.reply.text and "\n" not in outcome.reply.text
    answer = await Answer.get(id=answer.id)
    assert answer.rating == "useful" and answer.rated_at is not None
    assert not await Question.exists()


@pytest.mark.db
async def test_wrong_answer_goes_to_the_inbox_with_the_answer_given(kb: web.Application) -> None:
    answer = await answered(kb, ASKED)
    sent = await Message.filter(direction="out").order_by("id").first()
    assert sent is not None
    outcome = await say(kb, "不对")
    assert outcome.handler == "rating.rate" and outcome.reply is not None
    reply = outcome.reply.text
    assert "农技员" in reply and len(reply) <= 60 and "\n" not in reply  # one plain SMS
    assert (await Answer.get(id=answer.id)).rating == "wrong"
    q = await Question.get(reason="wrong_answer")
    assert (q.status, q.text, q.best_ref, q.channel) == ("open", ASKED, "potato-late-blight", "sms")
    assert q.given_answer.startswith(f"《{answer.title}》") and sent.body in q.given_answer
    assert q.message_id == answer.message_id  # type: ignore[attr-defined]  # the question that was asked
    assert q.subscriber_id == (await Subscriber.get(phone=PHONE)).id  # type: ignore[attr-defined]
    # Said again: no second inbox entry.
    again = await say(kb, "说得不对啊")
    assert again.handler == "rating.rate" and again.reply is not None and "已经转给农技员" in again.reply.text
    assert await Question.filter(reason="wrong_answer").count() == 1


@pytest.mark.db
@pytest.mark.parametrize(("text", "rating"), [("没用", "useless"), ("不管用啊", "useless"), ("答非所问", "wrong"),
                                              ("不是这个", "wrong"), ("不對", "wrong"), ("ＮＯ用", None)])
async def test_useless_and_wrong_wordings(kb: web.Application, text: str, rating: str | None) -> None:
    answer = await answered(kb, ASKED)
    outcome = await say(kb, text)
    assert (outcome.handler == "rating.rate") is (rating is not None)
    assert (await Answer.get(id=answer.id)).rating == (rating or "")
    assert await Question.filter(reason="wrong_answer").exists() is (rating is not None)


@pytest.mark.db
async def test_budui_without_an_answer_is_left_to_the_others(kb: web.Application) -> None:
    outcome = await say(kb, "不对")
    assert outcome.handler != "rating.rate" and outcome.reply is not None
    assert not await Question.filter(reason="wrong_answer").exists()
    # Someone else's answer is not this villager's.
    await answered(kb, ASKED, address=OTHER)
    assert (await say(kb, "没用")).handler != "rating.rate"
    assert (await say(kb, "有用")).handler != "rating.rate"
    assert not await Answer.filter(rating__not="").exists()


@pytest.mark.db
async def test_a_new_question_after_an_answer_is_not_a_rating(kb: web.Application) -> None:
    await answered(kb, ASKED)
    outcome = await say(kb, "柑橘不对劲叶子发黄")
    assert outcome.handler != "rating.rate"
    assert not await Question.filter(reason="wrong_answer").exists()


# --- the word list -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "rating"), [
    ("不对", "wrong"), ("不对！", "wrong"), ("这个说的不对", "wrong"), ("說的不對", "wrong"), ("答非所问", "wrong"),
    ("没用没用", "useless"), ("不管用", "useless"), ("不好用", "useless"), ("没有帮助", "useless"),
    ("有用", "useful"), ("有用，谢谢", "useful"), ("管用", "useful"), ("有帮助", "useful"), ("对的", "useful"),
    ("有用吗", None), ("有用 不对", None), ("谢谢", None), ("柑橘不对", None), ("没用过这个药", None), ("", None),
    ("不对" * 20, None),
])
def test_rating_words(text: str, rating: str | None) -> None:
    assert rating_words().rating(text) == rating


def test_rating_file_is_folded_and_unambiguous() -> None:
    import tomllib

    data = tomllib.loads(RATING_FILE.read_text("utf-8"))
    seen: dict[str, str] = {}
    for kind in ("useful", "wrong", "useless"):
        for word in data[kind]["words"]:
            assert form_of(word) == word, f"{word!r} should be written folded"
            assert seen.setdefault(word, kind) == kind, f"{word!r} is in [{seen[word]}] and [{kind}]"
    assert not set(data["filler"]) & set(seen), "a filler word is also a rating word"
