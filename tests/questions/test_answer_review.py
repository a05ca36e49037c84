"""回答复核: the answers the bot gave, with the article used and the villager's rating; an officer marks one
wrong and it becomes an inbox question with the answer shown, answered from there, audited. And the
inbox without English refs or raw scores, its CSV export."""

from __future__ import annotations

import asyncio
import csv
import io
import re

import pytest

from bot.keys import SEARCH
from bot.models import AuditEvent, Message
from bot.questions.models import Answer, Question
from content import importer
from content.loader import BUNDLED, read_path
from tests.helpers import OFFICER_NAMES, PHONE, Console, say

pytestmark = pytest.mark.db

BUNDLE = [a for a in read_path(BUNDLED).articles if a.ref.split("-")[0] in ("citrus", "potato", "disaster")]
ASKED = "洋芋晚疫病咋治"


def visible(html: str) -> str:
    """The page's text as read (option values, links and attributes left out)."""
    return re.sub(r"<[^>]+>", "", html)


@pytest.fixture
async def kb(console: Console) -> Console:
    await importer.upsert(BUNDLE)
    await console.app[SEARCH].refresh()
    return console


async def _answered(kb: Console, text: str = ASKED, address: str = PHONE) -> Answer:
    outcome = await say(kb.app, text, address=address)
    answer = await Answer.get_or_none(message_id=outcome.message_id)
    assert answer is not None, "the bot should have answered this from an article"
    return answer


async def test_review_lists_answers_with_title_relevance_and_rating(kb: Console) -> None:
    answer = await _answered(kb)
    await _answered(kb, "柑橘溃疡病怎么防", address="+8613900139001")
    await say(kb.app, "有用", address="+8613900139001")
    await kb.login("officer")
    page = await (await kb.client.get("/admin/answers")).text()
    assert ASKED in page and answer.title in page and ("很相关" in page or "较相关" in page)
    assert "有用" in page and "没有评价" in page and page.count(">标为答错</button>") == 2
    assert answer.article_ref not in visible(page)  # titles, never refs
    assert "+86138****8000" in page and PHONE not in page
    useful = await (await kb.client.get("/admin/answers?rating=useful")).text()
    assert "柑橘溃疡病怎么防" in useful and ASKED not in useful


async def test_mark_wrong_puts_it_in_the_inbox_once_and_it_is_answered_there(kb: Console) -> None:
    answer = await _answered(kb)
    await kb.login("officer")
    first, second = await asyncio.gather(kb.post_form(f"/admin/answers/{answer.id}/wrong"),
                                         kb.post_form(f"/admin/answers/{answer.id}/wrong"))
    done, refused = (first, second) if first.status == 303 else (second, first)
    assert done.status == 303 and refused.status == 409 and "收件箱" in await refused.text()
    q = await Question.get(reason="marked_wrong")
    assert done.headers["Location"].startswith(f"/admin/questions/{q.id}?ok=")
    assert q.text == ASKED and q.status == "open" and q.best_ref == answer.article_ref
    assert q.given_answer.startswith(f"《{answer.title}》") and q.message_id == answer.message_id
    detail = await (await kb.client.get(f"/admin/questions/{q.id}")).text()
    assert "机器人当时的回答" in detail and "农技员复核时认为这个回答答错了" in detail and answer.title in detail
    assert answer.article_ref not in visible(detail) and "得分" not in detail
    inbox = await (await kb.client.get("/admin/questions")).text()
    assert ASKED in inbox and "农技员复核时认为答错了" in inbox
    review = await (await kb.client.get("/admin/answers")).text()
    assert f"/admin/questions/{q.id}" in review and "已转收件箱" in review
    # answered from the inbox: the villager gets the officer's words
    reply = await kb.post_form(f"/admin/questions/{q.id}/reply", {"text": "用烯酰吗啉兑水喷，7天一次，连喷2次。"})
    assert reply.status == 303 and (await Question.get(id=q.id)).status == "answered"
    assert await Message.filter(handler="console.reply", body__contains="烯酰吗啉").exists()
    audit = await AuditEvent.filter(action__contains="/wrong")
    assert len(audit) == 1 and audit[0].officer_name == OFFICER_NAMES["officer"]
    await kb.login("supervisor")
    log = await (await kb.client.get("/admin/audit")).text()
    assert f"{OFFICER_NAMES['officer']} 把机器人的回答「{ASKED}」标为答错" in log
    assert f"{OFFICER_NAMES['officer']} 回复了问题「{ASKED}」" in log


async def test_an_answer_the_villager_called_wrong_is_already_in_the_inbox(kb: Console) -> None:
    answer = await _answered(kb)
    await say(kb.app, "不对")
    await kb.login("officer")
    api = await kb.api("POST", f"/api/v1/answers/{answer.id}/wrong")
    body = await api.json()
    assert api.status == 409 and "农户已经说过不对" in body["error"]
    assert body["question_id"] == (await Question.get(reason="wrong_answer")).id
    listed = await (await kb.api("GET", "/api/v1/answers?rating=bad")).json()
    assert [a["id"] for a in listed["answers"]] == [answer.id] and listed["answers"][0]["question_id"]
    assert (await kb.api("POST", "/api/v1/answers/99999/wrong")).status == 404


async def test_inbox_export_is_masked_csv(kb: Console) -> None:
    await say(kb.app, "养鳄鱼要办啥证，打13700137000", address=PHONE)
    await say(kb.app, "=cmd|' /C calc'!A0 怎么治", address="+8613900139002")
    await kb.login("officer")
    response = await kb.client.get("/admin/questions/export.csv?tab=open")
    raw = await response.read()
    assert response.status == 200 and raw.startswith("\ufeff".encode())
    rows = list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))
    assert rows[0][0] == "时间" and len(rows) == 3
    texts = [r[5] for r in rows[1:]]
    assert any("137****7000" in t for t in texts) and not any("13700137000" in t for t in texts)
    assert any(t.startswith("'=cmd") for t in texts)
    assert await AuditEvent.filter(action="questions_export").exists()
