"""The knowledge base's JSON API: what the bot answers (/api/v1/search), list, read, create, change and
preview articles (/api/v1/articles); versions, review and rollback (/api/v1/articles/{id}/versions)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from bot.articles import versions
from bot.articles.models import ArticleVersion
from bot.articles.pages import PAGE_SIZE
from bot.articles.service import (
    KEYWORD_LEN,
    KEYWORDS_MAX,
    LIST_SPLIT,
    QUESTION_LEN,
    QUESTIONS_MAX,
    SOURCE_LEN,
    SOURCES_MAX,
    TOPICS,
    article_json,
    checked_preview,
    draft_of,
    fields_of,
    find,
    items,
    listed,
    made_searchable,
    relevance,
    validate,
)
from bot.compose import ask
from bot.keys import CONFIG, OFFICER, SEARCH
from bot.web.auth import error, json_body, requires
from bot.web.console import AUDIT_DETAIL
from bot.web.fields import Bool, Int, List, Obj, Scalar, Text
from bot.web.params import BODY, QUERY, Query, accepts
from content.loader import BODY_MAX, SUMMARY_MAX, TITLE_MAX
from content.models import Article
from content.vocab import vocabulary

ARTICLE_FIELDS = {
    "title": Text(TITLE_MAX, label="标题"), "summary": Text(SUMMARY_MAX, label="摘要（短信答复）"),
    "body": Text(BODY_MAX, label="正文"), "crops": List(Text(20), max_items=50, text_items=True, label="作物"),
    "topics": List(Text(10), max_items=len(TOPICS), text_items=True, label="类别"),
    "months": List(Scalar(2), max_items=12, text_items=True, label="月份（1-12）"),
    "keywords": List(Text(KEYWORD_LEN), max_items=KEYWORDS_MAX, text_items=True, label="关键词"),
    "sources": List(Text(SOURCE_LEN), max_items=SOURCES_MAX, text_items=True, label="来源"),
    "questions": List(Text(QUESTION_LEN), max_items=QUESTIONS_MAX, text_items=True, label="农户问法"),
    "draft": Bool(label="只存草稿（审核员也可先不发布）")}
ARTICLE = Obj(ARTICLE_FIELDS, example={
    "title": "柑橘红蜘蛛怎么防治", "summary": "…", "body": "…", "crops": ["柑橘"], "topics": ["虫害"],
    "months": [4, 5], "keywords": ["红蜘蛛"], "sources": ["县农技推广中心"]})
PREVIEW = Obj(title=Text(200, label="标题"), summary=Text(SUMMARY_MAX, label="摘要"), body=Text(BODY_MAX, label="正文"),
              crops=ARTICLE_FIELDS["crops"])
SEARCH_QUERY = Query(q=Text(1000, required=True, label="问题"), limit=Int(1, 50, default=5, label="列出几篇"),
                     channel=Text(8, choices=("sms", "wechat"), label="渠道"))
API_LIST_QUERY = Query(q=Text(200, label="标题、编号或关键词"), crop=Text(20, label="作物"),
                       topic=Text(10, label="类别"), limit=Int(1, 200, default=PAGE_SIZE, label="每页几篇"),
                       offset=Int(0, 10**9, label="跳过几篇"),
                       status=Text(12, choices=("published", "draft", "withdrawn"), label="状态"))
ACT = Obj(version=Int(1, 999_999, required=True, label="第几版"), note=Text(200, label="说明（退回的理由）"),
          example={"version": 3})


def add_routes(app: web.Application) -> None:
    app.router.add_get("/api/v1/search", search_api)
    app.router.add_get("/api/v1/articles", list_api)
    app.router.add_post("/api/v1/articles", create_api)
    app.router.add_post("/api/v1/articles/preview", preview_api)
    app.router.add_get("/api/v1/articles/{id:\\d+}", get_api)
    app.router.add_put("/api/v1/articles/{id:\\d+}", update_api)
    app.router.add_get("/api/v1/articles/{id:\\d+}/versions", versions_api)
    for action in versions.ACTIONS:
        app.router.add_post(f"/api/v1/articles/{{id:\\d+}}/{action}", version_api)


@requires("officer")
@accepts(query=SEARCH_QUERY)
async def search_api(request: web.Request) -> web.Response:
    """What the bot answers to a villager's question, and the ranked articles (as `nongbot ask --json`).

    Query: q=QUESTION (required), limit=1-50 (ranked hits, default 5), channel=sms|wechat (default sms).
    Answer: {"answer": str, "answered": bool, "hits": [{"id", "ref", "title", "score", "relevance"}, …]}
    (relevance: 很相关 or 较相关, what the console shows instead of the score)."""
    asked = request[QUERY]
    q, limit, channel = asked["q"].strip(), asked["limit"], asked["channel"] or "sms"
    if not q:
        return error(400, "q（问题）：必须填写")
    answer, _ = ask(request.app[SEARCH], request.app[CONFIG], q, channel, limit)
    top = max((h["score"] for h in answer["hits"]), default=0.0)
    for hit in answer["hits"]:
        hit["relevance"] = relevance(hit["score"], top, answer["answered"])
    return web.json_response(answer)


@requires("officer")
@accepts(query=API_LIST_QUERY)
async def list_api(request: web.Request) -> web.Response:
    """Articles, most recently changed first (without their bodies).

    Query: q=TEXT (part of the title, ref or a keyword), crop=NAME, topic=NAME, limit=1-200 (default 50),
    offset=N, status=published|draft|withdrawn. Answer: {"total": N, "articles": [...]}."""
    asked = request[QUERY]
    limit, offset = asked["limit"], asked["offset"] or 0
    crop, topic = (asked["crop"] or "").strip(), (asked["topic"] or "").strip()
    if crop and vocabulary().crop(crop) is None:
        return error(400, f"crop: unknown crop {crop!r}")
    if topic and topic not in TOPICS:
        return error(400, f"topic: expected one of {', '.join(TOPICS)}")
    total, rows = await find(asked["q"] or "", vocabulary().crop(crop) or "", topic, offset, limit,
                             asked["status"] or "")
    return web.json_response({"total": total, "articles": [listed(r) for r in rows]})


@requires("officer")
async def get_api(request: web.Request) -> web.Response:
    """One article with its body and sources, as villagers get it (status published) or its latest text
    (draft, withdrawn); "pending": the draft waiting for a supervisor, if any."""
    article = await Article.get_or_none(id=int(request.match_info["id"]))
    if article is None:
        return error(404, "没有这篇文章")
    return web.json_response(await _with_pending(article))


def version_json(v: ArticleVersion) -> dict[str, Any]:
    return {"number": v.number, "state": v.state, "state_name": versions.STATE_NAMES.get(v.state, v.state),
            "title": v.title, "author": v.author_name, "note": v.note, "created_at": v.created_at.isoformat(),
            "decided_by": v.decided_by, "decided_at": v.decided_at.isoformat() if v.decided_at else None}


async def _with_pending(article: Article) -> dict[str, Any]:
    waiting = await versions.pending(article)
    return {**article_json(article), "pending": version_json(waiting) if waiting else None}


def _publishing(request: web.Request, body: dict[str, Any]) -> bool:
    return not body.get("draft") and versions.can_publish(request[OFFICER], request.app[CONFIG])


@requires("officer")
@accepts(body=ARTICLE)
async def create_api(request: web.Request) -> web.Response:
    """Create an article (201): published, and searchable as soon as this answers, when a supervisor (or
    any officer with console.self_publish) sends it without "draft": true; else a draft (status "draft")
    that villagers never get until a supervisor publishes it.

    Body: {"title", "body", "sources": [..] (required), "summary", "crops": [..], "topics": [..],
    "months": [1-12], "keywords": [..], "draft": bool}. Banned or restricted pesticides are refused (400)."""
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    fields, errors = validate(body)
    if fields is None:
        return error(400, "；".join(errors))
    publish = _publishing(request, body)
    article, version = await versions.save(None, fields, request[OFFICER], request.app[CONFIG], publish=publish)
    request[AUDIT_DETAIL] = await made_searchable(request.app[SEARCH], versions.saved(version, new=True))
    return web.json_response(await _with_pending(article), status=201)


@requires("officer")
@accepts(body=ARTICLE)
async def update_api(request: web.Request) -> web.Response:
    """Change an article; fields left out keep their value (of the pending draft, if any). Published (and
    searchable as changed when this answers) as for creating; else kept as the pending draft ("pending").

    Body: any of the fields of POST /api/v1/articles. Same checks as creating."""
    article = await Article.get_or_none(id=int(request.match_info["id"]))
    if article is None:
        return error(404, "没有这篇文章")
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    waiting = await versions.pending(article)
    current = draft_of(versions.fields_of_version(waiting) if waiting else fields_of(article))
    fields, errors = validate({**current, **{k: v for k, v in body.items() if k in current}})
    if fields is None:
        return error(400, "；".join(errors))
    publish = _publishing(request, body)
    article, version = await versions.save(article, fields, request[OFFICER], request.app[CONFIG], publish=publish)
    request[AUDIT_DETAIL] = await made_searchable(request.app[SEARCH], versions.saved(version, new=False))
    return web.json_response(await _with_pending(article))


@requires("officer")
async def versions_api(request: web.Request) -> web.Response:
    """Every saved version of an article, newest first: number, state (draft, published, replaced,
    withdrawn, rejected), title, author, note, when, who decided."""
    article = await Article.get_or_none(id=int(request.match_info["id"]))
    if article is None:
        return error(404, "没有这篇文章")
    return web.json_response({"versions": [version_json(v) for v in await versions.history(article)]})


@requires("officer")
@accepts(body=ACT)
async def version_api(request: web.Request) -> web.Response:
    """POST …/publish (supervisors, or officers with console.self_publish) a pending draft; …/withdraw your
    own draft (or, as a supervisor, send one back with "note": why); …/rollback: bring an older version back
    as a new one (published by those who may publish, else a draft).

    Body: {"version": N, "note": "…"}. Answer: the article, as GET gives it; 409 when refused."""
    article = await Article.get_or_none(id=int(request.match_info["id"]))
    body = request[BODY]
    asked: dict[str, Any] = body if isinstance(body, dict) else {}
    version = await ArticleVersion.get_or_none(article_id=article.id, number=asked["version"]) \
        if article is not None else None
    if article is None or version is None:
        return error(404, "没有这篇文章或这一版")
    try:
        article, done, _ = await versions.act(request.path.rsplit("/", 1)[1], version, request[OFFICER],
                                              request.app[CONFIG], note=str(asked.get("note") or ""))
    except versions.Refused as refused:
        return error(refused.status, str(refused))
    request[AUDIT_DETAIL] = await made_searchable(request.app[SEARCH], done)
    return web.json_response(await _with_pending(article))


@requires("officer")
@accepts(body=PREVIEW)
async def preview_api(request: web.Request) -> web.Response:
    """How an article would reach villagers: SMS pages with signature and segment counts, and WeChat text.

    Body: {"title", "summary", "body", "crops": [..] (optional, for the pesticide check)}.
    Answer: {"sms": {"pages": [{"text", "segments", "chars"}], "segments": N, "cost_yuan": X, …},
    "wechat": str, "forbidden": [messages]}."""
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    texts = {k: body.get(k) or "" for k in ("title", "summary", "body")}
    if not all(isinstance(v, str) for v in texts.values()):
        return error(400, "title, summary and body must be strings")
    if len(texts["body"]) > BODY_MAX or len(texts["summary"]) > SUMMARY_MAX or len(texts["title"]) > 200:
        return error(400, f"正文最多 {BODY_MAX} 个字，摘要最多 {SUMMARY_MAX} 个字")
    crops = items(body.get("crops"), LIST_SPLIT) or []
    return web.json_response(
        checked_preview(request.app[CONFIG], texts["title"], texts["summary"], texts["body"], crops))
