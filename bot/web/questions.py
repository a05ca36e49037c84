"""问答收件箱: questions the bot could not answer and villagers' feedback; reply, close, save as article, gaps."""

from __future__ import annotations

import asyncio
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from bot import outbox, sandbox
from bot.extend import MenuEntry, add_menu
from bot.keys import CONFIG, OFFICER, SEARCH, SENDERS
from bot.models import Message, Subscriber, pack_set
from bot.phones import mask_phones_in
from bot.questions.models import Question
from bot.sms import MAX_CHARS
from bot.textnorm import clean_text, keyword_form
from bot.web import auth
from bot.web.auth import error, json_body, requires
from bot.web.console import AUDIT_DETAIL
from bot.web.params import QUERY, Bool, Int, Obj, Query, Text, accepts
from bot.web.view import phone_for, render, see_other
from content.fold import fold
from content.models import Article
from content.safety import explain, find_forbidden
from content.search import UNKNOWN_WEIGHT, Searcher

PAGE = 50
MAX_REPLY = 1000  # characters; an SMS reply also stays under the providers' limit with the signature
RECENT_MESSAGES = 10
CANDIDATES = 5
MAX_PHRASINGS = 50  # villagers' wordings kept per article; the oldest go first
MAX_PHRASING = 200  # characters
GAP_DAYS = (7, 30, 90, 365)
GAP_QUESTIONS = 2000  # the newest this many questions of the period are grouped
GAP_EXAMPLES = 3
GAP_METHOD = ("把每个问题切成词（方言换成标准名、去掉“咋办”之类的虚词），按其中的作物名和病虫害名归类；"
              "没有病虫害名的，按作物名加最少见的那个词归类。")
STATUSES = ("open", "answered", "closed")
STATUS_NAMES = {"open": "待回复", "answered": "已回复", "closed": "已关闭"}
CHANNEL_NAMES = {"sms": "短信", "wechat": "微信"}
REASONS = {
    "no_match": "知识库里没有相关资料",
    "no_terms": "问题里没有可查的词",
    "weak": "找到的资料对不上问题的要点",
    "crop_mismatch": "有类似资料，但不是这种作物的",
    "topic_mismatch": "资料讲的是别的病虫害",
    "out_of_scope": "不是农技问题（价格、天气、贷款等）",
    "feedback": "农户的意见反馈",
    "wrong_answer": "机器人答了，农户说不对或没用",
    "vague": "只说了作物，没说什么问题",
    "subject_mismatch": "资料讲的是母猪、仔猪等特定对象，问题没说",
    "crop_unsaid": "没说是哪种作物，资料是专讲某种作物的",
    "supply": "供求：农户要卖或要买",
    "human": "农户要找农技员",
}
DELIVERY = {
    "queued": "排队中", "sending": "发送中", "sent": "已发送", "delivered": "已送达",
    "undelivered": "未送达", "failed": "发送失败",
}
# Inbox tabs: (label, filter). Feedback has its own tab so it does not crowd out the questions.
TABS: dict[str, tuple[str, dict[str, str]]] = {
    "open": ("待回复", {"status": "open"}),
    "answered": ("已回复", {"status": "answered"}),
    "closed": ("已关闭", {"status": "closed"}),
    "feedback": ("意见反馈", {"reason": "feedback"}),
}
LONG_NUMBER = re.compile(r"\+?\d[\d -]{6,}\d")
GREETING = re.compile(r"^(?:你好|您好|老师|专家|师傅|请问|问一下|问下|想问一下|想问下|麻烦问一下)[\s,，.。!！:：]*")


INBOX_QUERY = Query(tab=Text(16, choices=tuple(TABS), label="哪一栏"), offset=Int(0, 10**6, label="跳过几条"))
GAPS_QUERY = Query(days=Int(1, 365, default=30, label="最近几天"))
API_QUERY = Query(status=Text(16, choices=STATUSES, label="状态"), reason=Text(32, label="转人工的原因"),
                  limit=Int(1, 200, default=PAGE, label="每页几条"), offset=Int(0, 10**9, label="跳过几条"))
REPLY = Obj(text=Text(MAX_REPLY, label="回复内容"), save_article=Bool(label="存为文章"),
            attach_ref=Text(100, label="把农户的问法加到这篇文章（文章编号）"),
            example={"text": "柑橘红蜘蛛可用…", "save_article": False})


def setup(app: web.Application) -> None:
    add_menu(app, MenuEntry("/admin/questions", "问答收件箱", order=30))
    app.router.add_get("/admin/questions", inbox_page)
    app.router.add_get("/admin/questions/gaps", gaps_page)
    app.router.add_get("/admin/questions/{id:\\d+}", question_page)
    app.router.add_post("/admin/questions/{id:\\d+}/reply", reply_form)
    app.router.add_post("/admin/questions/{id:\\d+}/close", close_form)
    app.router.add_get("/api/v1/questions", questions_api)
    app.router.add_get("/api/v1/questions/gaps", gaps_api)
    app.router.add_get("/api/v1/questions/{id:\\d+}", question_api)
    app.router.add_post("/api/v1/questions/{id:\\d+}/reply", reply_api)
    app.router.add_post("/api/v1/questions/{id:\\d+}/close", close_api)


# --- what the pages and the API share --------------------------------------------------------------


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


def _is_admin(request: web.Request) -> bool:
    return request[OFFICER].role == "admin"


def shown_text(request: web.Request, text: str) -> str:
    """A villager's words; phone numbers inside them are masked like every other phone."""
    return text if _is_admin(request) else mask_phones_in(text)


def reason_label(reason: str) -> str:
    return REASONS.get(reason, reason or "未注明")


def delivery_label(message: Message | None) -> str:
    return DELIVERY.get(message.status, message.status) if message is not None else ""


async def _question(question_id: int) -> Question:
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


async def reply_to(request: web.Request, question_id: int, raw_text: object, save_article: bool,
                   attach_ref: str | None = None) -> Replied:
    """Send the officer's answer to the villager on the channel they asked on, record it, and (if asked)
    keep it as a knowledge-base article and/or add the villager's wording to the article `attach_ref`.
    Raises Refused; an unreachable villager leaves the question open."""
    app, officer = request.app, request[OFFICER]
    text = _reply_text(raw_text)
    question = await _question(question_id)
    if question.status != "open":
        who = f"已由{question.answered_by}" if question.answered_by else "已经"
        raise Refused(409, f"这个问题{who}{'回复' if question.status == 'answered' else '关闭'}，不能再回复。")
    if found := find_forbidden(text, crops_in(app[SEARCH], question.text)):
        raise Refused(400, f"回复里提到{explain(found[0])}，不能推荐给农户。请改掉后再发送。")
    if why := unreachable(app, question):
        raise Refused(409, why + "问题仍为待回复；不需要处理的话可以关闭。")
    if attach_ref is not None and question.reason == "feedback":
        raise Refused(400, "意见反馈不是提问，不能加到文章的问法里。")
    target = await _attach_target(attach_ref) if attach_ref is not None else None
    now = datetime.now(UTC)
    # Claim it first: two officers answering at once must not both text the villager.
    if not await Question.filter(id=question.id, status="open").update(
            status="answered", answer=text, answered_by=officer.name, answered_at=now):
        raise Refused(409, "这个问题刚被同事处理了，请刷新页面查看。")
    sent = await outbox.send_text(app, question.subscriber, text, channel=question.channel,
                                  handler="console.reply", backoff=0.5)
    if sent.status == "failed":
        await Question.filter(id=question.id).update(
            status="open", answered_by=None, answered_at=None, reply_message_id=sent.id)
        raise Refused(502, f"发送失败（{sent.error or sent.error_code or '服务商没有说明原因'}）。"
                           "问题仍为待回复，可以稍后再试。")
    await Question.filter(id=question.id).update(reply_message_id=sent.id)
    article = await save_as_article(app[SEARCH], question, text, officer.name) if save_article else None
    if article is not None:
        await Question.filter(id=question.id).update(article_ref=article.ref)
    attached = await attach_phrasing(target.ref, question.text) if target is not None else None
    if article is not None or attached is not None:
        await app[SEARCH].refresh()  # the next villager asking this gets the answer at once
    request[AUDIT_DETAIL] = (f"回复问题 {question.id}（{CHANNEL_NAMES.get(question.channel, question.channel)}，"
                             f"{delivery_label(sent)}）" + (f"，存为文章 {article.ref}" if article else "")
                             + (f"，问法加到文章 {attached.ref}" if attached else ""))
    return Replied(await _question(question.id), sent, article, attached)


async def close(request: web.Request, question_id: int) -> Question:
    question = await _question(question_id)
    if question.status != "open":
        raise Refused(409, f"这个问题{STATUS_NAMES.get(question.status, '不是待回复')}，不用关闭。")
    # answered_by/at record who handled it and when, also for a close.
    if not await Question.filter(id=question.id, status="open").update(
            status="closed", answered_by=request[OFFICER].name, answered_at=datetime.now(UTC)):
        raise Refused(409, "这个问题刚被同事处理了，请刷新页面查看。")
    request[AUDIT_DETAIL] = f"关闭问题 {question.id}"
    return await _question(question.id)


# --- saving an answer as an article ----------------------------------------------------------------


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


async def save_as_article(searcher: Searcher, question: Question, text: str, officer_name: str) -> Article:
    words = searcher.tokenizer.words(question.text)
    return await Article.create(
        ref=await _free_ref(f"console-q{question.id}"), title=article_title(question.text),
        crops=pack_set(crops_in(searcher, question.text)), keywords=sorted(searcher.tokenizer.entities(words)),
        summary="", body=text,
        sources=[f"农技员 {officer_name} 答复"], origin=f"console:{officer_name}"[:200],
    )


# --- villagers' wordings attached to an article -----------------------------------------------------


async def _attach_target(raw: object) -> Article:
    if not isinstance(raw, str) or not raw.strip():
        raise Refused(400, "请选择要加上这个问法的文章。")
    article = await Article.get_or_none(ref=raw.strip()[:100])
    if article is None:
        raise Refused(400, f"没有编号为“{raw.strip()[:100]}”的文章，请从列表里选。")
    return article


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


# --- content gaps -----------------------------------------------------------------------------------


@dataclass
class Gap:
    key: tuple[str, ...]
    questions: list[Question] = field(default_factory=list)  # newest first

    @property
    def label(self) -> str:
        return " · ".join(self.key) if self.key else "其他（没有可归类的词）"


def topic_key(searcher: Searcher, text: str) -> tuple[str, ...]:
    """The crops and pests/diseases a question names (standard names); without a pest or disease,
    its crops plus its rarest other word (a word no article uses counts as the rarest)."""
    tk = searcher.tokenizer
    words = tk.words(text)
    crops = sorted({c for w in words if (c := tk.vocab.crop(w))})
    pests = sorted(tk.entities(words))
    if pests:
        return (*crops, *pests)
    rest = [w for w in words if tk.vocab.crop(w) is None and len(w) >= 2 and not w.isdigit()]
    if not rest:
        return tuple(crops)
    idf, unknown = searcher.index.idf, UNKNOWN_WEIGHT * searcher.index.max_idf
    return (*crops, max(rest, key=lambda w: (idf.get(w, unknown), len(w))))


def group_gaps(searcher: Searcher, questions: list[Question]) -> list[Gap]:
    """Blocking (tokenises every question): run it in a thread."""
    groups: dict[tuple[str, ...], Gap] = {}
    for q in questions:
        key = topic_key(searcher, q.text)
        groups.setdefault(key, Gap(key)).questions.append(q)
    return sorted(groups.values(), key=lambda g: (-len(g.questions), -g.questions[0].id))


async def gaps(request: web.Request, days: int) -> list[dict[str, Any]]:
    """Unanswered questions of the last `days` days grouped by topic, biggest group first. Feedback,
    closed questions (spam), those already saved as articles and the simulator's are left out."""
    since = datetime.now(UTC) - timedelta(days=days)
    rows = await (Question.filter(sandbox.not_from_sandbox(), created_at__gte=since, article_ref="")
                  .exclude(reason="feedback")
                  .exclude(status="closed").order_by("-id").limit(GAP_QUESTIONS))
    searcher: Searcher = request.app[SEARCH]
    groups = await asyncio.to_thread(group_gaps, searcher, rows)
    out = []
    for g in groups:
        result = searcher.search(g.questions[0].text, limit=1)
        best = result.best
        title = "".join(g.key) if g.key else article_title(g.questions[0].text)
        out.append({
            "key": list(g.key), "label": g.label, "count": len(g.questions),
            "open": sum(q.status == "open" for q in g.questions),
            "examples": [{"id": q.id, "text": shown_text(request, q.text)} for q in g.questions[:GAP_EXAMPLES]],
            "question_ids": [q.id for q in g.questions],
            "best": {"id": best.id, "ref": best.ref, "title": best.title, "score": best.score,
                     "answers_now": result.answered} if best else None,
            "write_url": "/admin/articles/new?" + urlencode({"title": title}),
        })
    return out


# --- JSON shapes ------------------------------------------------------------------------------------


def question_json(request: web.Request, q: Question) -> dict[str, Any]:
    sub: Subscriber | None = q.subscriber
    return {
        "id": q.id, "created_at": q.created_at.isoformat(), "status": q.status, "reason": q.reason,
        "reason_label": reason_label(q.reason), "channel": q.channel, "text": shown_text(request, q.text),
        "subscriber_id": sub.id if sub else None, "phone": phone_for(request, sub.phone if sub else None),
        "sandbox": sandbox.is_sandbox(sub),  # asked in the console's 模拟手机, not by a villager
        "township": sub.township if sub else "", "best_ref": q.best_ref, "best_score": q.best_score,
        "given_answer": q.given_answer, "answer": q.answer, "answered_by": q.answered_by,
        "answered_at": q.answered_at.isoformat() if q.answered_at else None, "article_ref": q.article_ref,
        "reply_message_id": q.reply_message.id if q.reply_message else None,
        "delivery": q.reply_message.status if q.reply_message else None,
    }


async def recent_messages(request: web.Request, q: Question) -> list[dict[str, Any]]:
    if q.subscriber is None:
        return []
    rows = await Message.filter(subscriber_id=q.subscriber.id).order_by("-id").limit(RECENT_MESSAGES)
    rows.reverse()  # read top to bottom like a chat
    return [{"id": m.id, "direction": m.direction, "channel": m.channel, "at": m.created_at,
             "body": shown_text(request, m.body), "status": m.status, "status_label": DELIVERY.get(m.status, ""),
             "asked": m.id == q.message_id} for m in rows]  # type: ignore[attr-defined]


def candidates(request: web.Request, q: Question) -> list[dict[str, Any]]:
    result = request.app[SEARCH].search(q.text, limit=CANDIDATES)
    return [{"id": h.id, "ref": h.ref, "title": h.title, "score": h.score} for h in result.hits]


def _filtered(status: str, reason: str) -> QuerySet[Question]:
    query = Question.all()
    if status:
        query = query.filter(status=status)
    if reason:
        query = query.filter(reason=reason)
    return query


# --- pages ------------------------------------------------------------------------------------------


@auth.page("officer")
@accepts(query=INBOX_QUERY)
async def inbox_page(request: web.Request) -> web.Response:
    tab, offset = request[QUERY]["tab"] or "open", request[QUERY]["offset"] or 0
    flt = TABS[tab][1]
    query = _filtered(flt.get("status", ""), flt.get("reason", ""))
    if tab == "open":
        query = query.exclude(reason="feedback")
    rows = await query.order_by("-id").offset(offset).limit(PAGE).prefetch_related("subscriber", "reply_message")
    counts = {
        "open": await Question.filter(status="open").exclude(reason="feedback").count(),
        "feedback": await Question.filter(status="open", reason="feedback").count(),
    }
    refs = {q.best_ref for q in rows if q.best_ref} | {q.article_ref for q in rows if q.article_ref}
    found = await Article.filter(ref__in=list(refs)).values("id", "ref", "title") if refs else []
    articles = {a["ref"]: a for a in found}
    items = [{"q": q, "phone": phone_for(request, q.subscriber.phone if q.subscriber else None),
              "township": q.subscriber.township if q.subscriber else "", "text": shown_text(request, q.text),
              "sandbox": sandbox.is_sandbox(q.subscriber),
              "reason": reason_label(q.reason), "best": articles.get(q.best_ref),
              "delivery": delivery_label(q.reply_message)} for q in rows]
    return render(request, "questions/inbox.html", {
        "tab": tab, "tabs": [(k, v[0]) for k, v in TABS.items()], "counts": counts, "items": items,
        "channels": CHANNEL_NAMES, "statuses": STATUS_NAMES,
        "older": offset + PAGE if len(rows) == PAGE else 0, "newer": max(offset - PAGE, 0) if offset else -1,
    })


async def attach_choices(q: Question, found: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Articles offered for the villager's wording: the question's best_ref (for a wrong answer, the article
    that was given, marked so), then the search's candidates."""
    refs = list(dict.fromkeys([*([q.best_ref] if q.best_ref else []), *(c["ref"] for c in found)]))
    rows = await Article.filter(ref__in=refs).values("ref", "title") if refs else []
    titles = {r["ref"]: r["title"] for r in rows}
    return [{"ref": ref, "title": titles[ref], "given": q.reason == "wrong_answer" and ref == q.best_ref}
            for ref in refs if ref in titles]


@dataclass(frozen=True)
class AttachForm:
    """What the officer chose for 「把这位农户的问法加到文章」, kept when the page is shown again."""

    checked: bool = False
    selected: str | None = None  # None: the default (best_ref, except for a wrong answer)
    other: str = ""  # a ref typed by hand; wins over the list

    @property
    def ref(self) -> str | None:
        """The article chosen, "" when ticked without one, None when not ticked."""
        if not self.checked:
            return None
        return self.other.strip() or (self.selected or "").strip()


async def _detail(request: web.Request, question_id: int, *, text: str = "", err: str = "",
                  status: int = 200, attach: AttachForm = AttachForm()) -> web.Response:
    q = await _question(question_id)
    config = request.app[CONFIG]
    sub: Subscriber | None = q.subscriber
    found = candidates(request, q)
    default = q.best_ref if q.reason != "wrong_answer" else ""  # never offer the wrong article by default
    return render(request, "questions/detail.html", {
        "q": q, "sub": sub, "phone": phone_for(request, sub.phone if sub else None),
        "sandbox": sandbox.is_sandbox(sub),
        "text": shown_text(request, q.text), "reason": reason_label(q.reason),
        "channel": CHANNEL_NAMES.get(q.channel, q.channel), "statuses": STATUS_NAMES,
        "messages": await recent_messages(request, q), "candidates": found,
        "attach": attach, "attach_choices": await attach_choices(q, found),
        "attach_selected": default if attach.selected is None else attach.selected,
        "max_phrasings": MAX_PHRASINGS,
        "delivery": delivery_label(q.reply_message), "reply_message": q.reply_message,
        "unreachable": unreachable(request.app, q) if q.status == "open" else "",
        "draft": text or (q.answer or "" if q.status == "open" else ""),
        "signature": config.sms.signature, "max_segments": config.sms.max_segments, "max_reply": MAX_REPLY,
        "article": await Article.get_or_none(ref=q.article_ref) if q.article_ref else None,
        **({"flash_error": err} if err else {}),
    }, status=status)


@auth.page("officer")
async def question_page(request: web.Request) -> web.Response:
    try:
        return await _detail(request, int(request.match_info["id"]))
    except Refused as refused:
        raise web.HTTPNotFound(reason=refused.message) from None


@auth.page("officer")
async def reply_form(request: web.Request) -> web.Response:
    question_id = int(request.match_info["id"])
    form = await request.post()
    text = form.get("text", "")
    selected, other = form.get("attach_ref", ""), form.get("attach_other", "")
    attach = AttachForm(checked=form.get("attach") == "1", selected=selected if isinstance(selected, str) else "",
                        other=other if isinstance(other, str) else "")
    try:
        done = await reply_to(request, question_id, text, form.get("save_article") == "1", attach.ref)
    except Refused as refused:
        if refused.status == 404:
            raise web.HTTPNotFound(reason=refused.message) from None
        # The page again, with the officer's text and choices kept: nothing typed is lost.
        try:
            return await _detail(request, question_id, text=text if isinstance(text, str) else "",
                                 err=refused.message, status=refused.status, attach=attach)
        except Refused as gone:  # the text was refused first, but the question is not there either
            raise web.HTTPNotFound(reason=gone.message) from None
    sent = f"已回复农户（{CHANNEL_NAMES.get(done.message.channel, '')}，{delivery_label(done.message)}）"
    if done.attached is not None:
        sent += f"，农户的问法已加到文章《{done.attached.title}》"
    if done.article is not None:
        return see_other(f"/admin/articles/{done.article.id}", ok=sent + "，并已存为文章，可在这里修改完善。")
    return see_other("/admin/questions", ok=sent)


@auth.page("officer")
async def close_form(request: web.Request) -> web.Response:
    question_id = int(request.match_info["id"])
    try:
        await close(request, question_id)
    except Refused as refused:
        if refused.status == 404:
            raise web.HTTPNotFound(reason=refused.message) from None
        return see_other(f"/admin/questions/{question_id}", err=refused.message)
    return see_other("/admin/questions", ok=f"已关闭问题 {question_id}，不会回复农户。")


@auth.page("officer")
@accepts(query=GAPS_QUERY)
async def gaps_page(request: web.Request) -> web.Response:
    days = request[QUERY]["days"]
    groups = await gaps(request, days)
    return render(request, "questions/gaps.html", {
        "days": days, "choices": GAP_DAYS, "groups": groups, "method": GAP_METHOD,
        "total": sum(g["count"] for g in groups),
    })


# --- API --------------------------------------------------------------------------------------------


@requires("officer")
@accepts(query=API_QUERY)
async def questions_api(request: web.Request) -> web.Response:
    """Questions handed to officers and villagers' feedback, newest first.

    Query: status=open|answered|closed, reason=no_match|weak|crop_mismatch|topic_mismatch|out_of_scope|feedback…,
    limit (1-200, default 50), offset."""
    asked = request[QUERY]
    status, reason, limit, offset = asked["status"] or "", asked["reason"] or "", asked["limit"], asked["offset"] or 0
    query = _filtered(status, reason)
    rows = await query.order_by("-id").offset(offset).limit(limit).prefetch_related("subscriber", "reply_message")
    return web.json_response({"questions": [question_json(request, q) for q in rows],
                              "total": await _filtered(status, reason).count(), "limit": limit, "offset": offset})


@requires("officer")
async def question_api(request: web.Request) -> web.Response:
    """One question with the villager's recent messages and the best candidate articles."""
    try:
        q = await _question(int(request.match_info["id"]))
    except Refused as refused:
        return error(refused.status, refused.message)
    messages = await recent_messages(request, q)
    for m in messages:
        m["at"] = m["at"].isoformat()
    return web.json_response({**question_json(request, q), "messages": messages,
                              "candidates": candidates(request, q),
                              "unreachable": unreachable(request.app, q) if q.status == "open" else ""})


@requires("officer")
@accepts(body=REPLY)
async def reply_api(request: web.Request) -> web.Response:
    """Reply to the villager on the channel they asked on; optionally save the reply as an article, and/or
    add the villager's wording to an existing article as an extra phrasing (searched like its keywords).

    Body: {"text": "...", "save_article": false, "attach_ref": "<article ref>" (optional)}. Answers
    {"id", "status", "message_id", "delivery", "article_id", "attached_ref"}. 400 for an unknown
    attach_ref (nothing is sent); 409 when the question is not open or the villager cannot be reached
    (it stays open)."""
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    save = body.get("save_article", False)
    if not isinstance(save, bool):
        return error(400, "save_article must be true or false")
    attach = body.get("attach_ref")
    if attach is not None and not isinstance(attach, str):
        return error(400, "attach_ref must be an article ref (text)")
    try:
        done = await reply_to(request, int(request.match_info["id"]), body.get("text"), save, attach)
    except Refused as refused:
        return error(refused.status, refused.message)
    return web.json_response({"id": done.question.id, "status": done.question.status,
                              "message_id": done.message.id, "delivery": done.message.status,
                              "article_id": done.article.id if done.article else None,
                              "attached_ref": done.attached.ref if done.attached else None})


@requires("officer")
async def close_api(request: web.Request) -> web.Response:
    """Close a question without replying (spam, nothing to answer)."""
    try:
        q = await close(request, int(request.match_info["id"]))
    except Refused as refused:
        return error(refused.status, refused.message)
    return web.json_response(question_json(request, q))


@requires("officer")
@accepts(query=GAPS_QUERY)
async def gaps_api(request: web.Request) -> web.Response:
    """Content gaps: unanswered questions of the last days grouped by crop and pest/disease, biggest first.

    Query: days (1-365, default 30)."""
    days = request[QUERY]["days"]
    return web.json_response({"days": days, "method": GAP_METHOD, "groups": await gaps(request, days)})
