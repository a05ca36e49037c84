"""问答收件箱 in the console: the inbox tabs, one question with its reply form, the content gaps, the review
of the bot's answers (回答复核: mark one wrong and it is a question in the inbox) and the CSV export."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from bot import sandbox
from bot.keys import CONFIG, OFFICER, SEARCH
from bot.labels import CHANNEL_NAMES
from bot.models import Subscriber
from bot.questions import answers, service
from bot.questions.gaps import GAP_DAYS, GAP_METHOD, gaps
from bot.questions.knowledge import MAX_PHRASINGS
from bot.questions.models import Answer, Question
from bot.questions.service import MAX_REPLY, STATUS_NAMES, Refused, shown_text
from bot.web import auth, console, export
from bot.web.console import AUDIT_DETAIL
from bot.web.fields import MAX_ID, Int, Text
from bot.web.params import QUERY, Query, accepts
from bot.web.view import phone_for, render, see_other
from content.models import Article

PAGE = 50
# Inbox tabs: (label, filter). Feedback has its own tab so it does not crowd out the questions.
TABS: dict[str, tuple[str, dict[str, str]]] = {
    "open": ("待回复", {"status": "open"}),
    "answered": ("已回复", {"status": "answered"}),
    "closed": ("已关闭", {"status": "closed"}),
    "feedback": ("意见反馈", {"reason": "feedback"}),
}
INBOX_QUERY = Query(tab=Text(16, choices=tuple(TABS), label="哪一栏"), offset=Int(0, 10**6, label="跳过几条"))
GAPS_QUERY = Query(days=Int(1, 365, default=30, label="最近几天"))
EXPORT_QUERY = Query(tab=Text(16, choices=tuple(TABS), label="哪一栏"))
REVIEW_QUERY = Query(rating=Text(16, choices=tuple(answers.REVIEW_FILTERS), label="农户的评价"),
                     before=Int(1, MAX_ID, label="从这条回答往前"))
REVIEW_FILTERS = {"": "全部回答", "bad": "农户说不对或没用", "useful": "农户说有用", "unrated": "没有评价"}
EXPORT_HEADER = ["时间", "农户", "手机号", "乡镇", "渠道", "内容", "原因", "最接近的文章", "状态", "处理人", "回复内容"]


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/questions", inbox_page)
    app.router.add_get("/admin/questions/gaps", gaps_page)
    app.router.add_get("/admin/questions/{id:\\d+}", question_page)
    app.router.add_post("/admin/questions/{id:\\d+}/reply", reply_form)
    app.router.add_post("/admin/questions/{id:\\d+}/close", close_form)
    app.router.add_get("/admin/questions/export.csv", export_csv)
    app.router.add_get("/admin/answers", review_page)
    app.router.add_post("/admin/answers/{id:\\d+}/wrong", mark_wrong_form)


def is_admin(request: web.Request) -> bool:
    return bool(request[OFFICER].role == "admin")


def tab_query(tab: str) -> Any:
    flt = TABS[tab][1]
    query = service.filtered(flt.get("status", ""), flt.get("reason", ""))
    return query.exclude(reason="feedback") if tab == "open" else query


async def titles(refs: set[str]) -> dict[str, dict[str, Any]]:
    """Articles by ref (id and title): officers read titles, never refs."""
    found = await Article.filter(ref__in=sorted(refs)).values("id", "ref", "title") if refs else []
    return {a["ref"]: a for a in found}


@auth.page("officer")
@accepts(query=INBOX_QUERY)
async def inbox_page(request: web.Request) -> web.Response:
    tab, offset = request[QUERY]["tab"] or "open", request[QUERY]["offset"] or 0
    rows = await tab_query(tab).order_by("-id").offset(offset).limit(PAGE).prefetch_related(
        "subscriber", "reply_message")
    counts = {
        "open": await Question.filter(status="open").exclude(reason="feedback").count(),
        "feedback": await Question.filter(status="open", reason="feedback").count(),
    }
    articles = await titles({q.best_ref for q in rows if q.best_ref} | {q.article_ref for q in rows if q.article_ref})
    admin = is_admin(request)
    items = [{"q": q, "phone": phone_for(request, q.subscriber.phone if q.subscriber else None),
              "township": q.subscriber.township if q.subscriber else "", "text": shown_text(q.text, admin),
              "sandbox": sandbox.is_sandbox(q.subscriber),
              "reason": service.reason_label(q.reason), "best": articles.get(q.best_ref),
              "delivery": service.delivery_label(q.reply_message)} for q in rows]
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
    return [{"ref": ref, "title": titles[ref], "given": q.reason in answers.WRONG_REASONS and ref == q.best_ref}
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
    q = await service.get_question(question_id)
    config = request.app[CONFIG]
    sub: Subscriber | None = q.subscriber
    admin = is_admin(request)
    found = service.candidates(request.app[SEARCH], q)
    wrong = q.reason in answers.WRONG_REASONS
    default = q.best_ref if not wrong else ""  # never offer the wrong article by default
    return render(request, "questions/detail.html", {
        "q": q, "sub": sub, "phone": phone_for(request, sub.phone if sub else None),
        "sandbox": sandbox.is_sandbox(sub),
        "text": shown_text(q.text, admin), "reason": service.reason_label(q.reason),
        "channel": CHANNEL_NAMES.get(q.channel, q.channel), "statuses": STATUS_NAMES,
        "messages": await service.recent_messages(q, admin), "candidates": found,
        "attach": attach, "attach_choices": await attach_choices(q, found),
        "attach_selected": default if attach.selected is None else attach.selected,
        "max_phrasings": MAX_PHRASINGS,
        "delivery": service.delivery_label(q.reply_message), "reply_message": q.reply_message,
        "unreachable": service.unreachable(request.app, q) if q.status == "open" else "",
        "draft": text or (q.answer or "" if q.status == "open" else ""),
        "signature": config.sms.signature, "max_segments": config.sms.max_segments, "max_reply": MAX_REPLY,
        "article": await Article.get_or_none(ref=q.article_ref) if q.article_ref else None,
        "best": (await titles({q.best_ref})).get(q.best_ref) if q.best_ref else None, "wrong": wrong,
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
        done = await service.reply_to(request.app, request[OFFICER].name, question_id, text,
                                      save_article=form.get("save_article") == "1", attach_ref=attach.ref,
                                      publish_article=auth.may_publish_articles(
                                          request[OFFICER], request.app[CONFIG].console.self_publish))
    except Refused as refused:
        if refused.status == 404:
            raise web.HTTPNotFound(reason=refused.message) from None
        # The page again, with the officer's text and choices kept: nothing typed is lost.
        try:
            return await _detail(request, question_id, text=text if isinstance(text, str) else "",
                                 err=refused.message, status=refused.status, attach=attach)
        except Refused as gone:  # the text was refused first, but the question is not there either
            raise web.HTTPNotFound(reason=gone.message) from None
    request[AUDIT_DETAIL] = done.audit
    sent = f"已回复农户（{CHANNEL_NAMES.get(done.message.channel, '')}，{service.delivery_label(done.message)}）"
    if done.attached is not None:
        sent += f"，农户的问法已加到文章《{done.attached.title}》"
    if done.article is not None:
        kept = "文章" if done.article.status == "published" else "文章草稿（审核员发布后农户才能查到）"
        return see_other(f"/admin/articles/{done.article.id}", ok=sent + f"，并已存为{kept}，可在这里修改完善。")
    return see_other("/admin/questions", ok=sent)


@auth.page("officer")
async def close_form(request: web.Request) -> web.Response:
    question_id = int(request.match_info["id"])
    try:
        await service.close(request[OFFICER].name, question_id)
    except Refused as refused:
        if refused.status == 404:
            raise web.HTTPNotFound(reason=refused.message) from None
        return see_other(f"/admin/questions/{question_id}", err=refused.message)
    request[AUDIT_DETAIL] = f"关闭问题 {question_id}"
    return see_other("/admin/questions", ok=f"已关闭问题 {question_id}，不会回复农户。")


@auth.page("officer")
@accepts(query=GAPS_QUERY)
async def gaps_page(request: web.Request) -> web.Response:
    days = request[QUERY]["days"]
    groups = await gaps(request.app[SEARCH], days, admin=is_admin(request))
    return render(request, "questions/gaps.html", {
        "days": days, "choices": GAP_DAYS, "groups": groups, "method": GAP_METHOD,
        "total": sum(g["count"] for g in groups),
    })


@auth.page("officer")
@accepts(query=EXPORT_QUERY)
async def export_csv(request: web.Request) -> web.StreamResponse:
    """The inbox tab as a CSV table (phones and phones inside texts masked but for admins)."""
    tab = request[QUERY]["tab"] or "open"
    admin = is_admin(request)
    await console.record(request, "questions_export", officer=request[OFFICER],
                         detail=f"tab {tab}, phones {'full' if admin else 'masked'}")
    tz = request.app[CONFIG].tz

    async def batches() -> AsyncIterator[list[list[object]]]:
        last = MAX_ID  # ids run up to it; MAX_ID + 1 would not fit PostgreSQL's integer
        while True:
            rows = await (tab_query(tab).filter(sandbox.not_from_sandbox(), id__lte=last).order_by("-id").limit(500)
                          .prefetch_related("subscriber"))
            articles = await titles({q.best_ref for q in rows if q.best_ref})
            yield [[q.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M"),
                    q.subscriber.name if q.subscriber else "", phone_for(request, q.subscriber.phone if q.subscriber else None),
                    q.subscriber.township if q.subscriber else "", CHANNEL_NAMES.get(q.channel, q.channel),
                    shown_text(q.text, admin), service.reason_label(q.reason),
                    articles[q.best_ref]["title"] if q.best_ref in articles else "",
                    STATUS_NAMES.get(q.status, q.status), q.answered_by or "", shown_text(q.answer or "", admin)]
                   for q in rows]
            if len(rows) < 500:
                return
            last = rows[-1].id - 1

    return await export.stream(request, f"questions-{tab}", EXPORT_HEADER, batches())


# --- 回答复核: the answers the bot gave, for an officer to check -------------------------------------


@auth.page("officer")
@accepts(query=REVIEW_QUERY)
async def review_page(request: web.Request) -> web.Response:
    rating, before = request[QUERY]["rating"] or "", request[QUERY]["before"]
    query = answers.reviewed(rating)
    if before:
        query = query.filter(id__lt=before)
    rows: list[Answer] = await query.order_by("-id").limit(PAGE).prefetch_related("subscriber")
    admin = is_admin(request)
    articles = await titles({a.article_ref for a in rows})
    inbox = await answers.inbox_questions(rows)
    items = [{"a": a, "phone": phone_for(request, a.subscriber.phone if a.subscriber else None),
              "name": a.subscriber.name if a.subscriber else "", "question": shown_text(a.question, admin),
              "article": articles.get(a.article_ref), "relevance": service.confidence_label(a.score),
              "rating": answers.RATING_NAMES.get(a.rating, a.rating), "inbox": inbox.get(a.id),
              "sandbox": sandbox.is_sandbox(a.subscriber)} for a in rows]
    return render(request, "questions/review.html", {
        "items": items, "rating": rating, "filters": REVIEW_FILTERS,
        "older": rows[-1].id if len(rows) == PAGE else 0, "statuses": STATUS_NAMES,
    })


@auth.page("officer")
async def mark_wrong_form(request: web.Request) -> web.Response:
    answer_id = int(request.match_info["id"])
    try:
        q = await answers.mark_wrong(answer_id, request[OFFICER].name)
    except answers.Flagged as flagged:
        if flagged.status == 404:
            raise web.HTTPNotFound(reason=str(flagged)) from None
        # A page, not a redirect: a refusal is no act for the audit log.
        return render(request, "questions/flagged.html", {"reason": str(flagged), "question_id": flagged.question_id},
                      status=409)
    request[AUDIT_DETAIL] = f"回答 {answer_id} 标为答错，转为问题 {q.id}"
    return see_other(f"/admin/questions/{q.id}", ok="已标为答错，问题已转到问答收件箱：请在下面回复农户正确的做法。")
