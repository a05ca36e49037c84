"""The inbox's actions and look-ups: reply to a villager, close a question, who can be reached, the
labels and the lists the console pages and the API share. Plain functions over values."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aiohttp import web
from tortoise.queryset import QuerySet

from bot import outbox, sandbox
from bot.keys import CONFIG, SEARCH, SENDERS
from bot.labels import CHANNEL_NAMES, DELIVERY_STATES
from bot.models import Message, Subscriber
from bot.phones import mask_phones_in
from bot.questions.knowledge import attach_phrasing, crops_in, save_as_article
from bot.questions.models import Answer, Question
from bot.sms import MAX_CHARS
from bot.textnorm import clean_text
from content.models import Article
from content.safety import explain, find_forbidden
from content.search import Searcher

MAX_REPLY = 1000  # characters; an SMS reply also stays under the providers' limit with the signature
RECENT_MESSAGES = 10
CANDIDATES = 5
STATUSES = ("open", "answered", "closed")
STATUS_NAMES = {"open": "待回复", "answered": "已回复", "closed": "已关闭"}
REASONS = {
    "no_match": "知识库里没有相关资料",
    "no_terms": "问题里没有可查的词",
    "weak": "找到的资料对不上问题的要点",
    "crop_mismatch": "有类似资料，但不是这种作物的",
    "topic_mismatch": "资料讲的是别的病虫害",
    "out_of_scope": "不是农技问题（价格、天气、贷款等）",
    "feedback": "农户的意见反馈",
    "wrong_answer": "机器人答了，农户说不对或没用",
    "marked_wrong": "机器人答了，农技员复核时认为答错了",
    "vague": "只说了作物，没说什么问题",
    "subject_mismatch": "资料讲的是母猪、仔猪等特定对象，问题没说",
    "crop_unsaid": "没说是哪种作物，资料是专讲某种作物的",
    "supply": "供求：农户要卖或要买",
    "human": "农户要找农技员",
}


class Refused(Exception):
    """An officer's action that cannot be done, with the reason in Chinese and an HTTP status."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Replied:
    question: Question
    message: Message
    article: Article | None
    attached: Article | None = None  # the article the villager's wording was added to

    @property
    def audit(self) -> str:
        """What the audit trail says was done."""
        q = self.question
        return (f"回复问题 {q.id}（{CHANNEL_NAMES.get(q.channel, q.channel)}，{delivery_label(self.message)}）"
                + (f"，存为文章 {self.article.ref}" if self.article else "")
                + (f"，问法加到文章 {self.attached.ref}" if self.attached else ""))


# How sure the bot was of an answer (its confidence, 0–1), in words: no raw scores in officer views.
VERY_RELEVANT = 0.85


def confidence_label(confidence: float) -> str:
    if confidence <= 0:
        return "农户从选项里选的"
    return "很相关" if confidence >= VERY_RELEVANT else "较相关"


def relevance_labels(scores: list[float]) -> list[str]:
    """Search candidates, best first: 很相关 when close to the best one's ranking score, else 较相关."""
    top = scores[0] if scores else 0.0
    return ["很相关" if top > 0 and score >= 0.8 * top else "较相关" for score in scores]


def shown_text(text: str, admin: bool) -> str:
    """A villager's words; phone numbers inside them are masked like every other phone, except for admins."""
    return text if admin else mask_phones_in(text)


def reason_label(reason: str) -> str:
    return REASONS.get(reason, reason or "未注明")


def delivery_label(message: Message | None) -> str:
    return DELIVERY_STATES.get(message.status, message.status) if message is not None else ""


async def get_question(question_id: int) -> Question:
    question = await Question.get_or_none(id=question_id).prefetch_related("subscriber", "reply_message")
    if question is None:
        raise Refused(404, "没有这个问题（可能已被删除）")
    return question


def unreachable(app: web.Application, question: Question) -> str:
    """Why a reply cannot reach the villager who asked, or "" when it can."""
    subscriber: Subscriber | None = question.subscriber
    if subscriber is None:
        return "找不到提问的农户（记录已删除），无法回复。"
    if sandbox.is_sandbox(subscriber):
        return "这是模拟手机（沙盒）里的提问，不是真实农户，回复不会发给任何人。"
    if subscriber.status == "opted_out":
        out = subscriber.opted_out_at
        when = out.astimezone(app[CONFIG].tz).strftime("%m月%d日") if out else ""
        return f"这位农户已{when}退订，按规定不能再给他发消息。"
    channel = question.channel
    if channel not in app[SENDERS]:
        return f"{CHANNEL_NAMES.get(channel, channel)}渠道没有开通，无法回复。"
    if getattr(app[SENDERS][channel], "provider", "") == "wechat" and not subscriber.wechat_followed:
        return "这位农户已取消关注公众号，无法回复。"
    try:
        outbox.address_for(subscriber, channel)
    except outbox.NoAddress:
        return f"这位农户没有{'手机号' if channel == 'sms' else '微信'}，无法回复。"
    return ""


def _reply_text(raw: object) -> str:
    if not isinstance(raw, str):
        raise Refused(400, "回复内容必须是文字")
    text = clean_text(raw, MAX_CHARS)
    if not text:
        raise Refused(400, "请先写好回复内容。")
    if len(text) > MAX_REPLY:
        raise Refused(400, f"回复太长（{len(text)} 字），最多 {MAX_REPLY} 字，请精简后再发。")
    return text


async def _attach_target(raw: object) -> Article:
    """The article chosen in the list (by its ref) or typed in (its title, or its ref on the API)."""
    if not isinstance(raw, str) or not raw.strip():
        raise Refused(400, "请选择要加上这个问法的文章。")
    wanted = raw.strip()[:100]
    article = await Article.get_or_none(ref=wanted) or await Article.filter(title=wanted).first()
    if article is None:
        raise Refused(400, f"没有标题为“{wanted}”的文章，请从列表里选，或照文章标题填写。")
    return article


async def reply_to(app: web.Application, officer_name: str, question_id: int, raw_text: object, *,
                   save_article: bool = False, attach_ref: str | None = None, publish_article: bool = True) -> Replied:
    """Send the officer's answer to the villager on the channel they asked on, record it, and (if asked)
    keep it as a knowledge-base article and/or add the villager's wording to the article `attach_ref`.
    Raises Refused; an unreachable villager leaves the question open."""
    text = _reply_text(raw_text)
    question = await get_question(question_id)
    if question.status != "open":
        who = f"已由{question.answered_by}" if question.answered_by else "已经"
        raise Refused(409, f"这个问题{who}{'回复' if question.status == 'answered' else '关闭'}，不能再回复。")
    if found := find_forbidden(text, crops_in(app[SEARCH], question.text)):
        raise Refused(400, f"回复里提到{explain(found[0])}，不能推荐给农户。请改掉后再发送。")
    if (why := unreachable(app, question)) or question.subscriber is None:
        raise Refused(409, why + "问题仍为待回复；不需要处理的话可以关闭。")
    if attach_ref is not None and question.reason == "feedback":
        raise Refused(400, "意见反馈不是提问，不能加到文章的问法里。")
    target = await _attach_target(attach_ref) if attach_ref is not None else None
    now = datetime.now(UTC)
    # Claim it first: two officers answering at once must not both text the villager.
    if not await Question.filter(id=question.id, status="open").update(
            status="answered", answer=text, answered_by=officer_name, answered_at=now):
        raise Refused(409, "这个问题刚被同事处理了，请刷新页面查看。")
    sent = await outbox.send_text(app, question.subscriber, text, channel=question.channel,
                                  handler="console.reply", backoff=0.5)
    if sent.status == "failed":
        await Question.filter(id=question.id).update(
            status="open", answered_by=None, answered_at=None, reply_message_id=sent.id)
        raise Refused(502, f"发送失败（{sent.error or sent.error_code or '服务商没有说明原因'}）。"
                           "问题仍为待回复，可以稍后再试。")
    await Question.filter(id=question.id).update(reply_message_id=sent.id)
    searcher: Searcher = app[SEARCH]
    article = await save_as_article(searcher, question, text, officer_name, published=publish_article) \
        if save_article else None
    if article is not None:
        await Question.filter(id=question.id).update(article_ref=article.ref)
    attached = await attach_phrasing(target.ref, question.text) if target is not None else None
    if article is not None or attached is not None:
        await searcher.refresh()  # the next villager asking this gets the answer at once
    return Replied(await get_question(question.id), sent, article, attached)


async def close(officer_name: str, question_id: int) -> Question:
    """Close a question without replying (spam, nothing to answer)."""
    question = await get_question(question_id)
    if question.status != "open":
        raise Refused(409, f"这个问题{STATUS_NAMES.get(question.status, '不是待回复')}，不用关闭。")
    # answered_by/at record who handled it and when, also for a close.
    if not await Question.filter(id=question.id, status="open").update(
            status="closed", answered_by=officer_name, answered_at=datetime.now(UTC)):
        raise Refused(409, "这个问题刚被同事处理了，请刷新页面查看。")
    return await get_question(question.id)


def filtered(status: str, reason: str) -> QuerySet[Question]:
    query = Question.all()
    if status:
        query = query.filter(status=status)
    if reason:
        query = query.filter(reason=reason)
    return query


async def recent_messages(q: Question, admin: bool) -> list[dict[str, Any]]:
    """The villager's last messages around the question, oldest first (read like a chat)."""
    if q.subscriber is None:
        return []
    rows = await Message.filter(subscriber_id=q.subscriber.id).order_by("-id").limit(RECENT_MESSAGES)
    rows.reverse()
    return [{"id": m.id, "direction": m.direction, "channel": m.channel, "at": m.created_at,
             "body": shown_text(m.body, admin), "status": m.status, "status_label": DELIVERY_STATES.get(m.status, ""),
             "asked": m.id == q.message_id} for m in rows]


def candidates(searcher: Searcher, q: Question) -> list[dict[str, Any]]:
    """The articles the search ranks best for the question, with how relevant each is in words."""
    result = searcher.search(q.text, limit=CANDIDATES)
    labels = relevance_labels([h.score for h in result.hits])
    return [{"id": h.id, "ref": h.ref, "title": h.title, "score": h.score, "relevance": label}
            for h, label in zip(result.hits, labels, strict=True)]


async def open_questions(subscriber_id: int) -> list[Question]:
    """A villager's questions still waiting for an officer, newest first."""
    return await Question.filter(subscriber_id=subscriber_id, status="open").order_by("-id")


async def audit_names(kind: str, ids: list[int]) -> dict[int, str]:
    """What the audit log calls the questions and answers acted on: the villager's words (AUDIT_NAMES)."""
    def short(text: str) -> str:
        return f"「{text[:20]}{'…' if len(text) > 20 else ''}」"

    if kind == "questions":
        return {q.id: short(q.text) for q in await Question.filter(id__in=ids)}
    if kind == "answers":
        return {a.id: short(a.question) for a in await Answer.filter(id__in=ids)}
    return {}
