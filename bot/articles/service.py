"""The knowledge base's services: check an article as typed, store it (new or edited), find articles,
and show how one would reach villagers (SMS pages and WeChat text)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from bot.compose import sms_budget
from bot.config import Config
from bot.models import Officer
from bot.sms import segments
from content import importer
from content.loader import BODY_MAX, SUMMARY_MAX, TITLE_MAX, ArticleData
from content.models import PUBLISHED, Article
from content.render import sms_page, wechat_text
from content.safety import Finding, explain, find_forbidden
from content.search import Searcher
from content.vocab import vocabulary

TOPICS = ("病害", "虫害", "栽培", "施肥", "养殖", "防疫", "储藏", "安全用药", "灾害", "采收", "务工", "加工", "经营", "农机")
# TITLE_MAX, SUMMARY_MAX, BODY_MAX: content/loader.py, the same for files, the console and the API.
KEYWORDS_MAX, KEYWORD_LEN, SOURCES_MAX, SOURCE_LEN = 30, 20, 10, 300
QUESTIONS_MAX, QUESTION_LEN = 6, 30  # docs/articles-guide.md: 3–6 ways villagers ask it
MAX_SMS_PAGES = 50  # a preview stops here: a body this long is refused on save anyway
LIST_SPLIT = re.compile(r"[,，;；、\n]")


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
    questions: tuple[str, ...] = ()  # how villagers would ask it, one per line; searched like keywords


def items(value: Any, split: re.Pattern[str]) -> list[str] | None:
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

    lists = {name: items(raw.get(name), re.compile(r"\n") if name in ("sources", "questions") else LIST_SPLIT)
             for name in ("crops", "topics", "months", "keywords", "sources", "questions")}
    if any(v is None for v in lists.values()):
        errors.append("作物、类别、月份、关键词、来源和农户问法要写成文字列表")
    crops, topics, month_words, keywords, sources, questions = (lists[n] or [] for n in lists)
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
    if len(questions) > QUESTIONS_MAX or any(len(q) > QUESTION_LEN for q in questions):
        errors.append(f"农户问法最多 {QUESTIONS_MAX} 句，每句不超过 {QUESTION_LEN} 个字")
    if not sources:
        errors.append("请至少填写一条来源（书名、标准号或推广部门的资料），每行一条：事实要有出处")
    elif len(sources) > SOURCES_MAX or any(len(s) > SOURCE_LEN for s in sources):
        errors.append(f"来源最多 {SOURCES_MAX} 条，每条不超过 {SOURCE_LEN} 个字")
    fields = Fields(
        title, summary, body, tuple(dict.fromkeys(vocab.crop(c) or c for c in crops)),
        tuple(dict.fromkeys(topics)), tuple(sorted(months)),
        tuple(dict.fromkeys(keywords)), tuple(dict.fromkeys(sources)), tuple(dict.fromkeys(questions)))
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
                       sources=fields.sources, questions=fields.questions, origin=origin)


async def create_article(fields: Fields, officer: Officer, config: Config, *, status: str = PUBLISHED) -> Article:
    """A new article with a generated ref officer-<date>-<n>; never overwrites another one."""
    prefix = f"officer-{datetime.now(config.tz):%Y%m%d}-"
    taken = [str(r) for r in await Article.filter(ref__startswith=prefix).values_list("ref", flat=True)]
    n = max((int(r[len(prefix):]) for r in taken if r[len(prefix):].isdigit()), default=0)
    while True:  # two officers saving at the same moment: the unique ref decides, the loser takes the next
        n += 1
        data = _data(fields, f"{prefix}{n}", f"console:{officer.name}")
        values: dict[str, Any] = importer._values(data)  # the columns exactly as an import stores them
        try:
            return await Article.create(ref=data.ref, status=status, **values)
        except IntegrityError:
            if not await Article.exists(ref=data.ref):
                raise  # something else than the ref being taken


async def update_article(article: Article, fields: Fields, status: str | None = None) -> Article:
    """Store `fields` as the article's text (and its status, when given); bumps updated_at on any change,
    so every running search index rebuilds."""
    await importer.upsert([_data(fields, article.ref, article.origin)])
    if status is not None and status != article.status:
        await Article.filter(id=article.id).update(status=status, updated_at=datetime.now(UTC))
    return await Article.get(id=article.id)


def fields_of(article: Article) -> Fields:
    return Fields(article.title, article.summary, article.body, tuple(_unpack(article.crops)),
                  tuple(_unpack(article.topics)), tuple(int(m) for m in _unpack(article.months)),
                  tuple(article.keywords or ()), tuple(article.sources or ()), tuple(article.questions or ()))


def preview(config: Config, title: str, summary: str, body: str) -> dict[str, Any]:
    """The article as the bot would send it: SMS pages (with signature) and the first WeChat text."""
    signature, budget = config.sms.signature, sms_budget(config)
    title, summary, body = title.strip(), summary.strip(), body.strip()
    pages: list[dict[str, Any]] = []
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
    bare = Fields(title, summary, body, known, (), (), (), ())
    shown["forbidden"] = [forbidden_message(f) for f in forbidden_in(bare)]
    return shown


async def find(q: str, crop: str, topic: str, offset: int, limit: int,
               status: str = "") -> tuple[int, list[dict[str, Any]]]:
    """Articles whose title, ref or a keyword contains q, newest change first; of one status if given."""
    query = Article.filter(status=status) if status else Article.all()
    if crop:
        query = query.filter(crops__contains=f",{crop},")
    if topic:
        query = query.filter(topics__contains=f",{topic},")
    rows = await query.order_by("-updated_at", "-id").values(
        "id", "ref", "title", "summary", "crops", "topics", "months", "keywords", "origin", "status", "updated_at")
    if needle := q.strip().lower():
        rows = [r for r in rows if needle in r["title"].lower() or needle in r["ref"].lower()
                or any(needle in str(k).lower() for k in r["keywords"] or ())]
    return len(rows), rows[offset : offset + limit]


def listed(row: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": row["id"], "ref": row["ref"], "title": row["title"], "summary": row["summary"],
            "crops": _unpack(row["crops"]), "topics": _unpack(row["topics"]),
            "months": [int(m) for m in _unpack(row["months"])], "keywords": list(row["keywords"] or ()),
            "origin": row["origin"], "status": row["status"], "updated_at": row["updated_at"].isoformat()}


def article_json(a: Article) -> dict[str, Any]:
    f = fields_of(a)
    return {"id": a.id, "ref": a.ref, "title": a.title, "summary": a.summary, "body": a.body,
            "crops": list(f.crops), "topics": list(f.topics), "months": list(f.months),
            "keywords": list(f.keywords), "sources": list(f.sources), "questions": list(f.questions),
            "origin": a.origin, "status": a.status,
            "created_at": a.created_at.isoformat(), "updated_at": a.updated_at.isoformat()}


async def made_searchable(searcher: Searcher, what: str) -> str:
    """Make a change searchable at once (or a withdrawn text unsearchable); returns `what`, for the audit trail."""
    await searcher.refresh()
    return what


def draft_of(fields: Fields) -> dict[str, Any]:
    """Form values: lists for the check boxes, text for the rest."""
    return {"title": fields.title, "summary": fields.summary, "body": fields.body,
            "crops": list(fields.crops), "topics": list(fields.topics), "months": list(fields.months),
            "keywords": "、".join(fields.keywords), "sources": "\n".join(fields.sources),
            "questions": "\n".join(fields.questions)}


def origin_label(origin: str) -> str:
    """Where an article came from, as officers read it: who wrote it, never a file name."""
    if origin.startswith("console:"):
        return f"{origin.split(':', 1)[1]} 在后台写的"
    return "从文件导入" if origin else "来源不明"


def relevance(score: float, top: float, answered: bool) -> str:
    """A hit's match as officers read it, instead of the raw score: the bot's own answer and hits nearly
    as strong are 很相关, the rest 较相关."""
    return "很相关" if answered and top > 0 and score >= 0.8 * top else "较相关"
