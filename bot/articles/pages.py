"""The knowledge base in the console: list, search as villagers do (问问看), write and edit articles with
live preview."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bot.articles.service import (
    TOPICS,
    Fields,
    checked_preview,
    create_article,
    draft_of,
    fields_of,
    find,
    listed,
    made_searchable,
    update_article,
    validate,
)
from bot.compose import ask
from bot.keys import CONFIG, OFFICER, SEARCH
from bot.web import auth
from bot.web.console import AUDIT_DETAIL
from bot.web.fields import Int, Text
from bot.web.params import QUERY, Query, accepts
from bot.web.view import render, see_other
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
LIST_QUERY = Query(q=Text(200, label="标题、编号或关键词"), mode=Text(8, choices=("title", "ask"), label="查找方式"),
                   crop=Text(20, label="作物"), topic=Text(10, label="类别"), page=Int(1, 10_000, label="第几页"))


def add_routes(app: web.Application) -> None:
    app.router.add_get("/admin/articles", list_page)
    app.router.add_post("/admin/articles", create_form)
    app.router.add_get("/admin/articles/new", new_page)
    app.router.add_get("/admin/articles/{id:\\d+}", edit_page)
    app.router.add_post("/admin/articles/{id:\\d+}", save_form)
    app.router.add_post("/admin/articles/{id:\\d+}/delete", delete_form)


def _form_draft(form: Mapping[str, Any], getall: Any) -> dict[str, Any]:
    months = [m for m in getall("months", []) if str(m).isdecimal()]
    return {"title": str(form.get("title", "")), "summary": str(form.get("summary", "")),
            "body": str(form.get("body", "")), "crops": [str(c) for c in getall("crops", [])],
            "topics": [str(t) for t in getall("topics", [])], "months": [int(m) for m in months],
            "keywords": str(form.get("keywords", "")), "sources": str(form.get("sources", "")),
            "questions": str(form.get("questions", ""))}


def _edit(request: web.Request, draft: dict[str, Any], article: Article | None, *,
          errors: list[str] | None = None, stamp: str = "", status: int = 200) -> web.Response:
    config = request.app[CONFIG]
    return render(request, "articles/edit.html", {
        "article": article, "draft": draft, "errors": errors or [], "stamp": stamp,
        "crop_names": vocabulary().crops, "topic_names": TOPICS, "limits": {
            "title": TITLE_MAX, "summary": SUMMARY_MAX, "body": BODY_MAX},
        "preview": checked_preview(config, draft["title"], draft["summary"], draft["body"], draft["crops"]),
    }, status=status)


@auth.page("officer")
@accepts(query=LIST_QUERY)
async def list_page(request: web.Request) -> web.Response:
    asked_for = request[QUERY]
    q = (asked_for["q"] or "").strip()
    mode = "ask" if asked_for["mode"] == "ask" else "title"
    crop = asked_for["crop"] if asked_for["crop"] in vocabulary().crops else ""  # an unknown one: all crops
    topic = asked_for["topic"] if asked_for["topic"] in TOPICS else ""
    page = asked_for["page"] or 1
    asked, reason, rows, total = None, "", [], 0
    if mode == "ask" and q:
        asked, result = ask(request.app[SEARCH], request.app[CONFIG], q, "sms", limit=10)
        reason = REASONS.get(result.reason, result.reason)
    else:
        total, found = await find(q, crop, topic, (page - 1) * PAGE_SIZE, PAGE_SIZE)
        rows = [{**listed(r), "changed": r["updated_at"]} for r in found]
    return render(request, "articles/list.html", {
        "q": q, "mode": mode, "crop": crop, "topic": topic, "page": page, "rows": rows, "total": total,
        "pages": max(1, -(-total // PAGE_SIZE)), "asked": asked, "reason": reason,
        "crop_names": vocabulary().crops, "topic_names": TOPICS,
    })


@auth.page("officer")
async def new_page(request: web.Request) -> web.Response:
    return _edit(request, draft_of(Fields("", "", "", (), (), (), (), ())), None)


async def _article_page(request: web.Request) -> Article:
    article = await Article.get_or_none(id=int(request.match_info["id"]))
    if article is None:
        raise web.HTTPNotFound(reason="没有这篇文章，可能已被删除。")
    return article


@auth.page("officer")
async def edit_page(request: web.Request) -> web.Response:
    article = await _article_page(request)
    return _edit(request, draft_of(fields_of(article)), article, stamp=article.updated_at.isoformat())


@auth.page("officer")
async def create_form(request: web.Request) -> web.Response:
    form = await request.post()
    draft = _form_draft(form, form.getall)
    fields, errors = validate(draft)
    if fields is None:
        return _edit(request, draft, None, errors=errors, status=400)
    article = await create_article(fields, request[OFFICER], request.app[CONFIG])
    request[AUDIT_DETAIL] = await made_searchable(request.app[SEARCH], article, "created")
    return see_other(f"/admin/articles/{article.id}", ok="已保存。农户现在发问题就能查到这篇文章。")


@auth.page("officer")
async def save_form(request: web.Request) -> web.Response:
    article = await _article_page(request)
    form = await request.post()
    draft = _form_draft(form, form.getall)
    stamp = article.updated_at.isoformat()
    fields, errors = validate(draft)
    if fields is None:
        return _edit(request, draft, article, errors=errors, stamp=str(form.get("stamp", "")), status=400)
    if str(form.get("stamp", "")) != stamp:
        when = article.updated_at.astimezone(request.app[CONFIG].tz).strftime("%H:%M:%S")
        return _edit(request, draft, article, stamp=stamp, status=409, errors=[
            f"您编辑期间，这篇文章已被别人改过（{when}）。下面仍是您填写的内容，还没有保存；"
            "请在新窗口打开这篇文章对照一下，确认无误后再点保存（会覆盖对方的修改）。"])
    article = await update_article(article, fields)
    request[AUDIT_DETAIL] = await made_searchable(request.app[SEARCH], article, "edited")
    return see_other(f"/admin/articles/{article.id}", ok="已保存。农户现在发问题就按新内容回答。")


@auth.page("supervisor")
async def delete_form(request: web.Request) -> web.Response:
    article = await _article_page(request)
    await article.delete()
    request[AUDIT_DETAIL] = await made_searchable(request.app[SEARCH], article, "deleted")
    return see_other("/admin/articles", ok=f"已删除《{article.title}》，机器人不会再用它回答。")


