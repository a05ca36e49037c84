"""The knowledge base in the console: list, search as villagers do (问问看), write and edit articles with
live preview; review drafts (publish, send back, withdraw) and bring back older versions."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bot.articles import versions
from bot.articles.models import DRAFT, PUBLISHED, ArticleVersion
from bot.articles.service import (
    TOPICS,
    Fields,
    checked_preview,
    draft_of,
    fields_of,
    find,
    listed,
    made_searchable,
    origin_label,
    relevance,
    validate,
)
from bot.compose import ask
from bot.keys import CONFIG, OFFICER, SEARCH
from bot.web import auth
from bot.web.console import AUDIT_DETAIL
from bot.web.fields import Int, Obj, Text
from bot.web.params import QUERY, Query, accepts
from bot.web.view import render, see_other
from content import models as content
from content.loader import BODY_MAX, SUMMARY_MAX, TITLE_MAX
from content.models import Article
from content.vocab import vocabulary

PAGE_SIZE = 50
REASONS = {
    "": "能直接回答",
    "no_terms": "问题里没有能查的词，机器人请农户换个说法",
    "no_match": "知识库里没有相关文章，转给农技员",
    "weak": "相关程度太低，机器人不猜，转给农技员",
    "crop_mismatch": "有相近内容，但不是问的这种作物，转给农技员",
    "topic_mismatch": "问的病虫害和最接近的文章说的不是一回事，转给农技员",
    "out_of_scope": "属于价格、天气、补贴、务工等问题，知识库不回答",
}
STATES = {"pending": "待审核", "published": "已发布", "unpublished": "未发布"}
LIST_QUERY = Query(q=Text(200, label="标题、编号或关键词"), mode=Text(8, choices=("title", "ask"), label="查找方式"),
                   crop=Text(20, label="作物"), topic=Text(10, label="类别"), page=Int(1, 10_000, label="第几页"),
                   state=Text(12, choices=tuple(STATES), label="状态"))
NEW_QUERY = Query(title=Text(200, label="标题"))
VERSION_FORM = Obj(version=Int(1, 999_999, required=True, label="第几版"))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/articles", list_page)
    app.router.add_post("/admin/articles", create_form)
    app.router.add_get("/admin/articles/new", new_page)
    app.router.add_get("/admin/articles/{id:\\d+}", edit_page)
    app.router.add_post("/admin/articles/{id:\\d+}", save_form)
    app.router.add_post("/admin/articles/{id:\\d+}/delete", delete_form)
    for action in versions.ACTIONS:  # the version in the form: the audit trail keeps 40 characters of the route
        app.router.add_post(f"/admin/articles/{{id:\\d+}}/{action}", version_form)


def _form_draft(form: Mapping[str, Any], getall: Any) -> dict[str, Any]:
    months = [m for m in getall("months", []) if str(m).isdecimal()]
    return {"title": str(form.get("title", "")), "summary": str(form.get("summary", "")),
            "body": str(form.get("body", "")), "crops": [str(c) for c in getall("crops", [])],
            "topics": [str(t) for t in getall("topics", [])], "months": [int(m) for m in months],
            "keywords": str(form.get("keywords", "")), "sources": str(form.get("sources", "")),
            "questions": str(form.get("questions", ""))}


async def _edit(request: web.Request, draft: dict[str, Any], article: Article | None, *,
                errors: list[str] | None = None, stamp: str = "", status: int = 200) -> web.Response:
    config = request.app[CONFIG]
    shown: list[ArticleVersion] = await versions.history(article) if article is not None else []
    waiting = next((v for v in shown if v.state == DRAFT), None)
    live = next((v.number for v in shown if v.state == PUBLISHED), 0) \
        if article is not None and article.status == content.PUBLISHED else 0  # the text villagers get now
    return render(request, "articles/edit.html", {
        "article": article, "draft": draft, "errors": errors or [], "stamp": stamp,
        "crop_names": vocabulary().crops, "topic_names": TOPICS, "limits": {
            "title": TITLE_MAX, "summary": SUMMARY_MAX, "body": BODY_MAX},
        "preview": checked_preview(config, draft["title"], draft["summary"], draft["body"], draft["crops"]),
        "may_publish": versions.can_publish(request[OFFICER], config), "versions": shown, "waiting": waiting,
        "live": live,
        "state_names": versions.STATE_NAMES, "status_names": versions.STATUS_NAMES,
        "origin": origin_label(article.origin) if article is not None else "",
        "shown_fields": {v.id: draft_of(versions.fields_of_version(v)) for v in shown},
    }, status=status)


async def _stamp(article: Article) -> str:
    """What the editor started from: the article's last change and its newest version."""
    last = await ArticleVersion.filter(article_id=article.id).order_by("-number").first()
    return f"{article.updated_at.isoformat()}|{last.number if last else 0}"


@auth.page("officer")
@accepts(query=LIST_QUERY)
async def list_page(request: web.Request) -> web.Response:
    asked_for = request[QUERY]
    q = (asked_for["q"] or "").strip()
    mode = "ask" if asked_for["mode"] == "ask" else "title"
    crop = asked_for["crop"] if asked_for["crop"] in vocabulary().crops else ""  # an unknown one: all crops
    topic = asked_for["topic"] if asked_for["topic"] in TOPICS else ""
    state = asked_for["state"] or ""
    page = asked_for["page"] or 1
    asked, reason, rows, total, hits = None, "", [], 0, []
    waiting = await versions.waiting_ids()
    if mode == "ask" and q:
        asked, result = ask(request.app[SEARCH], request.app[CONFIG], q, "sms", limit=10)
        reason = REASONS.get(result.reason, result.reason)
        top = max((h["score"] for h in asked["hits"]), default=0.0)
        hits = [{**h, "relevance": relevance(h["score"], top, asked["answered"])} for h in asked["hits"]]
    else:
        status = {"published": content.PUBLISHED, "unpublished": content.WITHDRAWN}.get(state, "")
        total, found = await find(q, crop, topic, 0 if state == "pending" else (page - 1) * PAGE_SIZE,
                                  10**9 if state == "pending" else PAGE_SIZE, status)
        if state == "pending":  # drafts of new articles and pending edits of published ones
            found = [r for r in found if r["id"] in waiting]
            total, found = len(found), found[(page - 1) * PAGE_SIZE : page * PAGE_SIZE]
        rows = [{**listed(r), "changed": r["updated_at"], "origin": origin_label(r["origin"]),
                 "waiting": r["id"] in waiting} for r in found]
    return render(request, "articles/list.html", {
        "q": q, "mode": mode, "crop": crop, "topic": topic, "state": state, "states": STATES, "page": page,
        "rows": rows, "total": total, "pages": max(1, -(-total // PAGE_SIZE)), "asked": asked, "hits": hits,
        "reason": reason, "crop_names": vocabulary().crops, "topic_names": TOPICS, "waiting_count": len(waiting),
        "status_names": versions.STATUS_NAMES,
    })


@auth.page("officer")
@accepts(query=NEW_QUERY)
async def new_page(request: web.Request) -> web.Response:
    title = (request[QUERY]["title"] or "").strip()[:TITLE_MAX]  # from the inbox: 写一篇回答这类问题的文章
    return await _edit(request, draft_of(Fields(title, "", "", (), (), (), (), ())), None)


async def _article_page(request: web.Request) -> Article:
    article = await Article.get_or_none(id=int(request.match_info["id"]))
    if article is None:
        raise web.HTTPNotFound(reason="没有这篇文章，可能已被删除。")
    return article


@auth.page("officer")
async def edit_page(request: web.Request) -> web.Response:
    article = await _article_page(request)
    waiting = await versions.pending(article)
    fields = versions.fields_of_version(waiting) if waiting is not None else fields_of(article)
    return await _edit(request, draft_of(fields), article, stamp=await _stamp(article))


def _publishing(request: web.Request, form: Mapping[str, Any]) -> bool:
    """The 发布 button, for those who may publish; everything else saves a draft."""
    return form.get("action") == "publish" and versions.can_publish(request[OFFICER], request.app[CONFIG])


def _saved(article: Article, published: bool) -> web.Response:
    if published:
        return see_other(f"/admin/articles/{article.id}", ok="已发布。农户现在发问题就按这篇文章回答。")
    return see_other(f"/admin/articles/{article.id}",
                     ok="已存为草稿，等审核员发布后农户才能查到；审核前您还可以接着改，或撤回。")


@auth.page("officer")
async def create_form(request: web.Request) -> web.Response:
    form = await request.post()
    draft = _form_draft(form, form.getall)
    fields, errors = validate(draft)
    if fields is None:
        return await _edit(request, draft, None, errors=errors, status=400)
    publish = _publishing(request, form)
    article, version = await versions.save(None, fields, request[OFFICER], request.app[CONFIG], publish=publish)
    request[AUDIT_DETAIL] = await made_searchable(request.app[SEARCH], versions.saved(version, new=True))
    return _saved(article, publish)


@auth.page("officer")
async def save_form(request: web.Request) -> web.Response:
    article = await _article_page(request)
    form = await request.post()
    draft = _form_draft(form, form.getall)
    stamp = await _stamp(article)
    fields, errors = validate(draft)
    if fields is None:
        return await _edit(request, draft, article, errors=errors, stamp=str(form.get("stamp", "")), status=400)
    if str(form.get("stamp", "")) != stamp:
        when = article.updated_at.astimezone(request.app[CONFIG].tz).strftime("%H:%M:%S")
        return await _edit(request, draft, article, stamp=stamp, status=409, errors=[
            f"您编辑期间，这篇文章已被别人改过（{when}，见下方“修改记录”）。下面仍是您填写的内容，还没有保存；"
            "请在新窗口打开这篇文章对照一下，确认无误后再点保存（会覆盖对方的修改）。"])
    publish = _publishing(request, form)
    article, version = await versions.save(article, fields, request[OFFICER], request.app[CONFIG], publish=publish)
    request[AUDIT_DETAIL] = await made_searchable(request.app[SEARCH], versions.saved(version, new=False))
    return _saved(article, publish)


@auth.page("officer")
async def version_form(request: web.Request) -> web.Response:
    """发布 / 退回 (supervisors) or 撤回 (the author) a pending draft; 恢复 (roll back to) an older version."""
    article = await _article_page(request)
    form = await request.post()
    number = str(form.get("version", ""))
    version = await ArticleVersion.get_or_none(article_id=article.id, number=int(number)) \
        if number.isdecimal() and len(number) <= 6 else None
    if version is None:
        raise web.HTTPNotFound(reason="没有这一版，可能文章已被删除。")
    try:
        article, done, ok = await versions.act(request.path.rsplit("/", 1)[1], version, request[OFFICER],
                                               request.app[CONFIG], note=str(form.get("note", "")))
    except versions.Refused as refused:  # a page, not a redirect: nothing was done, nothing is audited
        waiting = await versions.pending(article)
        shown = versions.fields_of_version(waiting) if waiting is not None else fields_of(article)
        return await _edit(request, draft_of(shown), article, errors=[str(refused)], stamp=await _stamp(article),
                           status=refused.status)
    request[AUDIT_DETAIL] = await made_searchable(request.app[SEARCH], done)
    return see_other(f"/admin/articles/{article.id}", ok=ok)


@auth.page("supervisor")
async def delete_form(request: web.Request) -> web.Response:
    article = await _article_page(request)
    await article.delete()
    request[AUDIT_DETAIL] = await made_searchable(request.app[SEARCH], f"删除了文章《{article.title}》")
    return see_other("/admin/articles", ok=f"已删除《{article.title}》，机器人不会再用它回答。")
