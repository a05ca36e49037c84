"""The inbox's JSON API (/api/v1/questions): list, one question, reply, close, content gaps."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot import sandbox
from bot.keys import CONFIG, OFFICER, SEARCH
from bot.models import Subscriber
from bot.questions import answers, service
from bot.questions.gaps import GAP_METHOD, gaps
from bot.questions.models import Question
from bot.questions.pages import GAPS_QUERY, PAGE, REVIEW_QUERY, is_admin
from bot.questions.service import MAX_REPLY, STATUSES, Refused, shown_text
from bot.web.auth import error, json_body, may_publish_articles, requires
from bot.web.console import AUDIT_DETAIL
from bot.web.fields import Bool, Int, Obj, Text
from bot.web.params import QUERY, Query, accepts
from bot.web.view import phone_for

API_QUERY = Query(status=Text(16, choices=STATUSES, label="状态"), reason=Text(32, label="转人工的原因"),
                  limit=Int(1, 200, default=PAGE, label="每页几条"), offset=Int(0, 10**9, label="跳过几条"))
REPLY = Obj(text=Text(MAX_REPLY, label="回复内容"), save_article=Bool(label="存为文章"),
            attach_ref=Text(100, label="把农户的问法加到这篇文章（文章编号）"),
            example={"text": "柑橘红蜘蛛可用…", "save_article": False})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/questions", questions_api)
    app.router.add_get("/api/v1/questions/gaps", gaps_api)
    app.router.add_get("/api/v1/questions/{id:\\d+}", question_api)
    app.router.add_post("/api/v1/questions/{id:\\d+}/reply", reply_api)
    app.router.add_post("/api/v1/questions/{id:\\d+}/close", close_api)
    app.router.add_get("/api/v1/answers", answers_api)
    app.router.add_post("/api/v1/answers/{id:\\d+}/wrong", wrong_api)


def question_json(request: web.Request, q: Question) -> dict[str, Any]:
    sub: Subscriber | None = q.subscriber
    return {
        "id": q.id, "created_at": q.created_at.isoformat(), "status": q.status, "reason": q.reason,
        "reason_label": service.reason_label(q.reason), "channel": q.channel,
        "text": shown_text(q.text, is_admin(request)),
        "subscriber_id": sub.id if sub else None, "phone": phone_for(request, sub.phone if sub else None),
        "sandbox": sandbox.is_sandbox(sub),  # asked in the console's 模拟手机, not by a villager
        "township": sub.township if sub else "", "best_ref": q.best_ref, "best_score": q.best_score,
        "given_answer": q.given_answer, "answer": q.answer, "answered_by": q.answered_by,
        "answered_at": q.answered_at.isoformat() if q.answered_at else None, "article_ref": q.article_ref,
        "reply_message_id": q.reply_message.id if q.reply_message else None,
        "delivery": q.reply_message.status if q.reply_message else None,
    }


@requires("officer")
@accepts(query=API_QUERY)
async def questions_api(request: web.Request) -> web.Response:
    """Questions handed to officers and villagers' feedback, newest first.

    Query: status=open|answered|closed, reason=no_match|weak|crop_mismatch|topic_mismatch|out_of_scope|feedback…,
    limit (1-200, default 50), offset."""
    asked = request[QUERY]
    status, reason, limit, offset = asked["status"] or "", asked["reason"] or "", asked["limit"], asked["offset"] or 0
    query = service.filtered(status, reason)
    rows = await query.order_by("-id").offset(offset).limit(limit).prefetch_related("subscriber", "reply_message")
    return web.json_response({"questions": [question_json(request, q) for q in rows],
                              "total": await service.filtered(status, reason).count(), "limit": limit,
                              "offset": offset})


@requires("officer")
async def question_api(request: web.Request) -> web.Response:
    """One question with the villager's recent messages and the best candidate articles."""
    try:
        q = await service.get_question(int(request.match_info["id"]))
    except Refused as refused:
        return error(refused.status, refused.message)
    messages = await service.recent_messages(q, is_admin(request))
    for m in messages:
        m["at"] = m["at"].isoformat()
    return web.json_response({**question_json(request, q), "messages": messages,
                              "candidates": service.candidates(request.app[SEARCH], q),
                              "unreachable": service.unreachable(request.app, q) if q.status == "open" else ""})


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
        done = await service.reply_to(request.app, request[OFFICER].name, int(request.match_info["id"]),
                                      body.get("text"), save_article=save, attach_ref=attach,
                                      publish_article=may_publish_articles(
                                          request[OFFICER], request.app[CONFIG].console.self_publish))
    except Refused as refused:
        return error(refused.status, refused.message)
    request[AUDIT_DETAIL] = done.audit
    return web.json_response({"id": done.question.id, "status": done.question.status,
                              "message_id": done.message.id, "delivery": done.message.status,
                              "article_id": done.article.id if done.article else None,
                              "attached_ref": done.attached.ref if done.attached else None})


@requires("officer")
async def close_api(request: web.Request) -> web.Response:
    """Close a question without replying (spam, nothing to answer)."""
    try:
        q = await service.close(request[OFFICER].name, int(request.match_info["id"]))
    except Refused as refused:
        return error(refused.status, refused.message)
    request[AUDIT_DETAIL] = f"关闭问题 {q.id}"
    return web.json_response(question_json(request, q))


@requires("officer")
@accepts(query=GAPS_QUERY)
async def gaps_api(request: web.Request) -> web.Response:
    """Content gaps: unanswered questions of the last days grouped by crop and pest/disease, biggest first.

    Query: days (1-365, default 30)."""
    days = request[QUERY]["days"]
    return web.json_response({"days": days, "method": GAP_METHOD,
                              "groups": await gaps(request.app[SEARCH], days, admin=is_admin(request))})


@requires("officer")
@accepts(query=REVIEW_QUERY)
async def answers_api(request: web.Request) -> web.Response:
    """Answers the bot gave from an article, newest first (50 a page), with the villager's rating and the
    inbox question each became (if any).

    Query: rating=bad|useful|unrated, before=ID (the next page)."""
    rating, before = request[QUERY]["rating"] or "", request[QUERY]["before"]
    query = answers.reviewed(rating)
    rows = await (query.filter(id__lt=before) if before else query).order_by("-id").limit(PAGE).prefetch_related(
        "subscriber")
    inbox = await answers.inbox_questions(rows)
    admin = is_admin(request)
    return web.json_response({"answers": [
        {"id": a.id, "created_at": a.created_at.isoformat(), "channel": a.channel,
         "subscriber_id": a.subscriber_id, "phone": phone_for(request, a.subscriber.phone if a.subscriber else None),
         "question": shown_text(a.question, admin), "article_ref": a.article_ref, "title": a.title,
         "relevance": service.confidence_label(a.score), "rating": a.rating, "flagged_by": a.flagged_by or None,
         "question_id": inbox[a.id].id if a.id in inbox else None} for a in rows]})


@requires("officer")
async def wrong_api(request: web.Request) -> web.Response:
    """Mark an answer wrong: its question goes to the inbox with the answer given (reason marked_wrong).
    409 (with question_id) when it is there already. Answers the new question."""
    try:
        q = await answers.mark_wrong(int(request.match_info["id"]), request[OFFICER].name)
    except answers.Flagged as flagged:
        return web.json_response({"error": str(flagged), "question_id": flagged.question_id}, status=flagged.status)
    request[AUDIT_DETAIL] = f"回答 {request.match_info['id']} 标为答错，转为问题 {q.id}"
    q = await service.get_question(q.id)
    return web.json_response(question_json(request, q), status=201)
