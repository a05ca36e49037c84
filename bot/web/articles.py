"""The knowledge base in the console: list, search as villagers do, write and edit articles with live preview."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aiohttp import web
from tortoise.exceptions import IntegrityError

from bot.config import Config
from bot.extend import MenuEntry, add_menu
from bot.keys import CONFIG, OFFICER, SEARCH
from bot.models import Officer
from bot.sms import segments
from bot.web import auth, console
from bot.web.auth import error, json_body, requires
from bot.web.params import QUERY, Int, List, Obj, Query, Scalar, Text, accepts
from bot.web.view import render, see_other
from content import importer
from content.loader import BODY_MAX, SUMMARY_MAX, TITLE_MAX, ArticleData
from content.models import Article
from content.render import sms_page, wechat_text
from content.safety import Finding, explain, find_forbidden
from content.vocab import vocabulary
from handlers.search import ask, sms_budget

TOPICS = ("病害", "虫害", "栽培", "施肥", "养殖", "防疫", "储藏", "安全用药", "灾害", "采收", "务工")
# TITLE_MAX, SUMMARY_MAX, BODY_MAX: content/loader.py, the same for files, the console and the API.
KEYWORDS_MAX, KEYWORD_LEN, SOURCES_MAX, SOURCE_LEN = 30, 20, 10, 300
PAGE_SIZE = 50
MAX_SMS_PAGES = 50  # a preview stops here: a body this long is refused on save anyway
LIST_SPLIT = re.compile(r"[,，;；、\n]")
REASONS = {
    "": "能直接回答",
    "no_terms": "问题里没有能查的词，机器人请农户换个说法",
    "no_match": "知识库里没有相关文章，转给农技员",
    "weak": "相关程度太低，机器人不猜，转给农技员",
    "crop_mismatch": "有相近内容，但不是问的这种作物，转给农技员",
    "topic_mismatch": "问的病虫害和最接近的文章说的不是一回事，转给农技员",
    "out_of_scope": "属于价格、天气、补贴、务工等问题，知识库不回答",
}


ARTICLE_FIELDS = dict(
    title=Text(TITLE_MAX, label="标题"), summary=Text(SUMMARY_MAX, label="摘要（短信答复）"),
    body=Text(BODY_MAX, label="正文"), crops=List(Text(20), max_items=50, text_items=True, label="作物"),
    topics=List(Text(10), max_items=len(TOPICS), text_items=True, label="类别"),
    months=List(Scalar(2), max_items=12, text_items=True, label="月份（1-12）"),
    keywords=List(Text(KEYWORD_LEN), max_items=KEYWORDS_MAX, text_items=True, label="关键词"),
    sources=List(Text(SOURCE_LEN), max_items=SOURCES_MAX, text_items=True, label="来源"))
ARTICLE = Obj(ARTICLE_FIELDS, example={
    "title": "柑橘红蜘蛛怎么防治", "summary": "…", "body": "…", "crops": ["柑橘"], "topics": ["虫害"],
    "months": [4, 5], "keywords": ["红蜘蛛"], "sources": ["县农技推广中心"]})
PREVIEW = Obj(title=Text(200, label="标题"), summary=Text(SUMMARY_MAX, label="摘要"), body=Text(BODY_MAX, label="正文"),
              crops=ARTICLE_FIELDS["crops"])
LIST_QUERY = Query(q=Text(200, label="标题、编号或关键词"), mode=Text(8, choices=("title", "ask"), label="查找方式"),
                   crop=Text(20, label="作物"), topic=Text(10, label="类别"), page=Int(1, 10_000, label="第几页"))
SEARCH_QUERY = Query(q=Text(1000, required=True, label="问题"), limit=Int(1, 50, default=5, label="列出几篇"),
                     channel=Text(8, choices=("sms", "wechat"), label="渠道"))
API_LIST_QUERY = Query(q=Text(200, label="标题、编号或关键词"), crop=Text(20, label="作物"), topic=Text(10, label="类别"),
                       limit=Int(1, 200, default=PAGE_SIZE, label="每页几篇"), offset=Int(0, 10**9, label="跳过几篇"))


def setup(app: web.Application) -> None:
    add_menu(app, MenuEntry("/admin/articles", "知识库", order=10))
    app.router.add_get("/admin/articles", list_page)
    app.router.add_post("/admin/articles", create_form)
    app.router.add_get("/admin/articles/new", new_page)
    app.router.add_get("/admin/articles/{id:\\d+}", edit_page)
    app.router.add_post("/admin/articles/{id:\\d+}", save_form)
    app.router.add_post("/admin/articles/{id:\\d+}/delete", delete_form)
    app.router.add_get("/api/v1/search", search_api)
    app.router.add_get("/api/v1/articles", list_api)
    app.router.add_post("/api/v1/articles", create_api)
    app.router.add_post("/api/v1/articles/preview", preview_api)
    app.router.add_get("/api/v1/articles/{id:\\d+}", get_api)
    app.router.add_put("/api/v1/articles/{id:\\d+}", update_api)


# --- the domain: validate, check safety, store, render, ask ----------------------------------------


@dataclass(frozen=True)
class Fields:
    title: str
    summary: str
    body: str
    crops: tuple[str, ...]
    topics: tuple[str, ...]
    months: tuple[int, ...]
    keywords: tuple[str, ...]
    sources: tuple[str, ...]


def _items(value: Any, split: re.Pattern[str]) -> list[str] | None:
    """A list of strings, or one string split at `split`; None when it is neither."""
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in split.split(value) if v.strip()]
    if isinstance(value, list) and all(isinstance(v, str | int) and not isinstance(v, bool) for v in value):
        return [str(v).strip() for v in value if str(v).strip()]
    return None


def validate(raw: Mapping[str, Any]) -> tuple[Fields | None, list[str]]:
    """Check an article as typed in the form or sent to the API; every problem in plain Chinese."""
    errors: list[str] = []
    texts = {}
    for name, label in (("title", "标题"), ("summary", "摘要"), ("body", "正文")):
        value = raw.get(name) or ""
        if not isinstance(value, str):
            errors.append(f"{label}必须是文字")
            value = ""
        texts[name] = value.replace("\r\n", "\n").strip()
    title, summary, body = texts["title"], texts["summary"], texts["body"]
    if not title:
        errors.append("请填写标题")
    elif len(title) > TITLE_MAX or "\n" in title:
        errors.append(f"标题最多 {TITLE_MAX} 个字，且只能一行（现在 {len(title)} 个字）")
    if len(summary) > SUMMARY_MAX:
        errors.append(f"摘要最多 {SUMMARY_MAX} 个字（现在 {len(summary)} 个字）")
    if not body:
        errors.append("请填写正文")
    elif len(body) > BODY_MAX:
        errors.append(f"正文最多 {BODY_MAX} 个字（现在 {len(body)} 个字），请拆成几篇")

    lists = {name: _items(raw.get(name), re.compile(r"\n") if name == "sources" else LIST_SPLIT)
             for name in ("crops", "topics", "months", "keywords", "sources")}
    if any(v is None for v in lists.values()):
        errors.append("作物、类别、月份、关键词和来源要写成文字列表")
    crops, topics, month_words, keywords, sources = (lists[n] or [] for n in lists)
    vocab = vocabulary()
    if unknown := [c for c in crops if vocab.crop(c) is None]:
        errors.append(f"不认识的作物：{'、'.join(unknown)}（请从列表里选）")
    if odd := [t for t in topics if t not in TOPICS]:
        errors.append(f"不认识的类别：{'、'.join(odd)}（可选：{'、'.join(TOPICS)}）")
    months = {int(m) for m in month_words if m.isdecimal() and 1 <= int(m) <= 12}
    if odd := [m for m in month_words if not m.isdecimal() or not 1 <= int(m) <= 12]:
        errors.append(f"月份只能是 1 到 12，不能是 {'、'.join(odd)}")
    if len(keywords) > KEYWORDS_MAX or any(len(k) > KEYWORD_LEN for k in keywords):
        errors.append(f"关键词最多 {KEYWORDS_MAX} 个，每个不超过 {KEYWORD_LEN} 个字")
    if not sources:
        errors.append("请至少填写一条来源（书名、标准号或推广部门的资料），每行一条：事实要有出处")
    elif len(sources) > SOURCES_MAX or any(len(s) > SOURCE_LEN for s in sources):
        errors.append(f"来源最多 {SOURCES_MAX} 条，每条不超过 {SOURCE_LEN} 个字")
    fields = Fields(
        title, summary, body, tuple(dict.fromkeys(vocab.crop(c) or c for c in crops)),
        tuple(dict.fromkeys(topics)), tuple(sorted(months)),
        tuple(dict.fromkeys(keywords)), tuple(dict.fromkeys(sources)))
    errors += [forbidden_message(f) for f in forbidden_in(fields)]
    return (None if errors else fields), errors


def forbidden_in(fields: Fields) -> list[Finding]:
    text = "\n".join([fields.title, fields.summary, " ".join(fields.keywords), fields.body])
    return find_forbidden(text, fields.crops)


def forbidden_message(finding: Finding) -> str:
    return f"文中提到{explain(finding)}。请删掉或换成登记可用的药剂后再保存。"


def _unpack(packed: str) -> list[str]:
    return [w for w in packed.split(",") if w]


def _data(fields: Fields, ref: str, origin: str) -> ArticleData:
    return ArticleData(ref=ref, title=fields.title, body=fields.body, summary=fields.summary, crops=fields.crops,
                       topics=fields.topics, months=fields.months, keywords=fields.keywords,
                       sources=fields.sources, origin=origin)


async def create_article(fields: Fields, officer: Officer, config: Config) -> Article:
    """A new article with a generated ref officer-<date>-<n>; never overwrites another one."""
    prefix = f"officer-{datetime.now(config.tz):%Y%m%d}-"
    taken = await Article.filter(ref__startswith=prefix).values_list("ref", flat=True)
    n = max((int(r[len(prefix):]) for r in taken if r[len(prefix):].isdigit()), default=0)
    while True:  # two officers saving at the same moment: the unique ref decides, the loser takes the next
        n += 1
        data = _data(fields, f"{prefix}{n}", f"console:{officer.name}")
        try:
            return await Article.create(ref=data.ref, **importer._values(data))
        except IntegrityError:
            if not await Article.exists(ref=data.ref):
                raise  # something else than the ref being taken


async def update_article(article: Article, fields: Fields) -> Article:
    await importer.upsert([_data(fields, article.ref, article.origin)])
    return await Article.get(id=article.id)


def fields_of(article: Article) -> Fields:
    return Fields(article.title, article.summary, article.body, tuple(_unpack(article.crops)),
                  tuple(_unpack(article.topics)), tuple(int(m) for m in _unpack(article.months)),
                  tuple(article.keywords or ()), tuple(article.sources or ()))


def preview(config: Config, title: str, summary: str, body: str) -> dict[str, Any]:
    """The article as the bot would send it: SMS pages (with signature) and the first WeChat text."""
    signature, budget = config.sms.signature, sms_budget(config)
    title, summary, body = title.strip(), summary.strip(), body.strip()
    pages = []
    for number in range(MAX_SMS_PAGES):
        page = sms_page(summary, body, number, budget)
        if not page.text:
            break
        text = signature + page.text
        pages.append({"text": text, "segments": segments(text), "chars": len(text)})
        if not page.has_more:
            break
    total = sum(p["segments"] for p in pages)
    wechat = wechat_text(title, summary, body)
    return {
        "sms": {"pages": pages, "segments": total, "first_segments": pages[0]["segments"] if pages else 0,
                "cost_yuan": round(total * config.sms.cost_per_segment, 3),
                "cost_per_segment": config.sms.cost_per_segment, "max_segments": config.sms.max_segments},
        "wechat": wechat.text, "wechat_has_more": wechat.has_more,
    }


def checked_preview(config: Config, title: str, summary: str, body: str, crops: list[str]) -> dict[str, Any]:
    """The preview plus the banned and restricted pesticides the text names (for these crops)."""
    known = tuple(c for word in crops if (c := vocabulary().crop(word)))
    shown = preview(config, title, summary, body)
    shown["forbidden"] = [forbidden_message(f) for f in forbidden_in(Fields(title, summary, body, known, (), (), (), ()))]
    return shown


async def find(q: str, crop: str, topic: str, offset: int, limit: int) -> tuple[int, list[dict[str, Any]]]:
    """Articles whose title, ref or a keyword contains q, newest change first."""
    query = Article.all()
    if crop:
        query = query.filter(crops__contains=f",{crop},")
    if topic:
        query = query.filter(topics__contains=f",{topic},")
    rows = await query.order_by("-updated_at", "-id").values(
        "id", "ref", "title", "summary", "crops", "topics", "months", "keywords", "origin", "updated_at")
    if needle := q.strip().lower():
        rows = [r for r in rows if needle in r["title"].lower() or needle in r["ref"].lower()
                or any(needle in str(k).lower() for k in r["keywords"] or ())]
    return len(rows), rows[offset : offset + limit]


def listed(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "ref": row["ref"], "title": row["title"], "summary": row["summary"],
            "crops": _unpack(row["crops"]), "topics": _unpack(row["topics"]),
            "months": [int(m) for m in _unpack(row["months"])], "keywords": list(row["keywords"] or ()),
            "origin": row["origin"], "updated_at": row["updated_at"].isoformat()}


def article_json(a: Article) -> dict[str, Any]:
    f = fields_of(a)
    return {"id": a.id, "ref": a.ref, "title": a.title, "summary": a.summary, "body": a.body,
            "crops": list(f.crops), "topics": list(f.topics), "months": list(f.months),
            "keywords": list(f.keywords), "sources": list(f.sources), "origin": a.origin,
            "created_at": a.created_at.isoformat(), "updated_at": a.updated_at.isoformat()}


async def _refresh(request: web.Request, article: Article | None, what: str) -> None:
    """Make the change searchable at once and say in the audit trail what it was."""
    await request.app[SEARCH].refresh()
    if article is not None:
        request[console.AUDIT_DETAIL] = f"{what} {article.ref}: {article.title}"


# --- pages -----------------------------------------------------------------------------------------


def _draft(fields: Fields) -> dict[str, Any]:
    """Form values: lists for the check boxes, text for the rest."""
    return {"title": fields.title, "summary": fields.summary, "body": fields.body,
            "crops": list(fields.crops), "topics": list(fields.topics), "months": list(fields.months),
            "keywords": "、".join(fields.keywords), "sources": "\n".join(fields.sources)}


def _form_draft(form: Mapping[str, Any], getall: Any) -> dict[str, Any]:
    months = [m for m in getall("months", []) if str(m).isdecimal()]
    return {"title": str(form.get("title", "")), "summary": str(form.get("summary", "")),
            "body": str(form.get("body", "")), "crops": [str(c) for c in getall("crops", [])],
            "topics": [str(t) for t in getall("topics", [])], "months": [int(m) for m in months],
            "keywords": str(form.get("keywords", "")), "sources": str(form.get("sources", ""))}


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
    return _edit(request, _draft(Fields("", "", "", (), (), (), (), ())), None)


async def _article_page(request: web.Request) -> Article:
    article = await Article.get_or_none(id=int(request.match_info["id"]))
    if article is None:
        raise web.HTTPNotFound(reason="没有这篇文章，可能已被删除。")
    return article


@auth.page("officer")
async def edit_page(request: web.Request) -> web.Response:
    article = await _article_page(request)
    return _edit(request, _draft(fields_of(article)), article, stamp=article.updated_at.isoformat())


@auth.page("officer")
async def create_form(request: web.Request) -> web.Response:
    form = await request.post()
    draft = _form_draft(form, form.getall)
    fields, errors = validate(draft)
    if fields is None:
        return _edit(request, draft, None, errors=errors, status=400)
    article = await create_article(fields, request[OFFICER], request.app[CONFIG])
    await _refresh(request, article, "created")
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
    await _refresh(request, article, "edited")
    return see_other(f"/admin/articles/{article.id}", ok="已保存。农户现在发问题就按新内容回答。")


@auth.page("supervisor")
async def delete_form(request: web.Request) -> web.Response:
    article = await _article_page(request)
    await article.delete()
    await _refresh(request, article, "deleted")
    return see_other("/admin/articles", ok=f"已删除《{article.title}》，机器人不会再用它回答。")


# --- API -------------------------------------------------------------------------------------------


@requires("officer")
@accepts(query=SEARCH_QUERY)
async def search_api(request: web.Request) -> web.Response:
    """What the bot answers to a villager's question, and the ranked articles (as `nongbot ask --json`).

    Query: q=QUESTION (required), limit=1-50 (ranked hits, default 5), channel=sms|wechat (default sms).
    Answer: {"answer": str, "answered": bool, "hits": [{"id", "ref", "title", "score"}, …]}."""
    asked = request[QUERY]
    q, limit, channel = asked["q"].strip(), asked["limit"], asked["channel"] or "sms"
    if not q:
        return error(400, "q（问题）：必须填写")
    answer, _ = ask(request.app[SEARCH], request.app[CONFIG], q, channel, limit)
    return web.json_response(answer)


@requires("officer")
@accepts(query=API_LIST_QUERY)
async def list_api(request: web.Request) -> web.Response:
    """Articles, most recently changed first (without their bodies).

    Query: q=TEXT (part of the title, ref or a keyword), crop=NAME, topic=NAME, limit=1-200 (default 50),
    offset=N. Answer: {"total": N, "articles": [...]}."""
    asked = request[QUERY]
    limit, offset = asked["limit"], asked["offset"] or 0
    crop, topic = (asked["crop"] or "").strip(), (asked["topic"] or "").strip()
    if crop and vocabulary().crop(crop) is None:
        return error(400, f"crop: unknown crop {crop!r}")
    if topic and topic not in TOPICS:
        return error(400, f"topic: expected one of {', '.join(TOPICS)}")
    total, rows = await find(asked["q"] or "", vocabulary().crop(crop) or "", topic, offset, limit)
    return web.json_response({"total": total, "articles": [listed(r) for r in rows]})


@requires("officer")
async def get_api(request: web.Request) -> web.Response:
    """One article with its body and sources."""
    article = await Article.get_or_none(id=int(request.match_info["id"]))
    if article is None:
        return error(404, "no such article")
    return web.json_response(article_json(article))


@requires("officer")
@accepts(body=ARTICLE)
async def create_api(request: web.Request) -> web.Response:
    """Create an article; it is searchable as soon as this answers (201).

    Body: {"title", "body", "sources": [..] (required), "summary", "crops": [..], "topics": [..],
    "months": [1-12], "keywords": [..]}. Banned or restricted pesticides are refused (400)."""
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    fields, errors = validate(body)
    if fields is None:
        return error(400, "；".join(errors))
    article = await create_article(fields, request[OFFICER], request.app[CONFIG])
    await _refresh(request, article, "created")
    return web.json_response(article_json(article), status=201)


@requires("officer")
@accepts(body=ARTICLE)
async def update_api(request: web.Request) -> web.Response:
    """Change an article; fields left out keep their value. Searchable as changed when this answers.

    Body: any of the fields of POST /api/v1/articles. Same checks as creating."""
    article = await Article.get_or_none(id=int(request.match_info["id"]))
    if article is None:
        return error(404, "no such article")
    body = await json_body(request)
    if isinstance(body, web.Response):
        return body
    current = _draft(fields_of(article))
    fields, errors = validate({**current, **{k: v for k, v in body.items() if k in current}})
    if fields is None:
        return error(400, "；".join(errors))
    article = await update_article(article, fields)
    await _refresh(request, article, "edited")
    return web.json_response(article_json(article))


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
    crops = _items(body.get("crops"), LIST_SPLIT) or []
    return web.json_response(
        checked_preview(request.app[CONFIG], texts["title"], texts["summary"], texts["body"], crops))
