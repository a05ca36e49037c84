"""Review before an article goes live: every save keeps a version (who, when); an officer's save is a draft
until a supervisor publishes it (or the county lets officers publish their own: console.self_publish);
an officer withdraws their own draft, a supervisor sends one back; any older version can be brought back.

The article row is what villagers get. A never-published article's row holds its latest draft with
status DRAFT (WITHDRAWN once nothing is pending), which search leaves out (content/search.py)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError

from bot.articles.models import DRAFT, PUBLISHED, REJECTED, REPLACED, WITHDRAWN, ArticleVersion
from bot.articles.service import Fields, create_article, fields_of, forbidden_in, forbidden_message, update_article
from bot.config import Config
from bot.models import Officer
from bot.web.auth import RANK, may_publish_articles
from content import models as content

STATE_NAMES = {DRAFT: "待审核", PUBLISHED: "已发布", REPLACED: "被新稿替换", WITHDRAWN: "已撤回", REJECTED: "已退回"}
STATUS_NAMES = {content.PUBLISHED: "已发布", content.DRAFT: "草稿待审核", content.WITHDRAWN: "未发布"}


class Refused(Exception):
    """What cannot be done to a version, said in plain Chinese (409: no longer possible)."""

    status = 409


class NotAllowed(Refused):
    """Not this officer's to do (403)."""

    status = 403


def can_publish(officer: Officer, config: Config) -> bool:
    return may_publish_articles(officer, config.console.self_publish)


def _content(fields: Fields) -> dict[str, Any]:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(fields).items() if k != "title"}


def fields_of_version(version: ArticleVersion) -> Fields:
    c = version.content
    return Fields(version.title, str(c.get("summary", "")), str(c.get("body", "")), tuple(c.get("crops", ())),
                  tuple(c.get("topics", ())), tuple(int(m) for m in c.get("months", ())),
                  tuple(c.get("keywords", ())), tuple(c.get("sources", ())), tuple(c.get("questions", ())))


async def history(article: content.Article) -> list[ArticleVersion]:
    """Newest first."""
    await _adopt(article)
    return await ArticleVersion.filter(article_id=article.id).order_by("-number")


async def pending(article: content.Article) -> ArticleVersion | None:
    await _adopt(article)
    return await ArticleVersion.filter(article_id=article.id, state=DRAFT).order_by("-number").first()


async def waiting_ids() -> set[int]:
    """Articles with a draft waiting for a supervisor: new ones, edits of published ones, and a draft the
    inbox kept (no version yet)."""
    drafted = await ArticleVersion.filter(state=DRAFT).values("article_id")
    kept = await content.Article.filter(status=content.DRAFT).values("id")
    return {int(r["article_id"]) for r in drafted} | {int(r["id"]) for r in kept}


async def _adopt(article: content.Article) -> int:
    """An article saved without a version (an import; a reply the inbox kept as an article) gets its text as
    version 1, so it can be reviewed and brought back. Returns the newest version's number."""
    last = await ArticleVersion.filter(article_id=article.id).order_by("-number").first()
    if last is not None:
        return last.number
    state = {content.PUBLISHED: PUBLISHED, content.DRAFT: DRAFT}.get(article.status, WITHDRAWN)
    author = article.origin.split(":", 1)[1] if article.origin.startswith("console:") else ""
    officer = await Officer.get_or_none(name=author) if author else None
    await ArticleVersion.get_or_create(article_id=article.id, number=1, defaults={
        "title": article.title, "content": _content(fields_of(article)), "state": state, "author": officer,
        "author_name": author[:50], "note": "原来的内容" if state == PUBLISHED else "",
        "decided_at": article.updated_at if state == PUBLISHED else None})
    return 1


async def _next_number(article: content.Article) -> int:
    return await _adopt(article) + 1


async def save(article: content.Article | None, fields: Fields, officer: Officer, config: Config, *,
               publish: bool, note: str = "") -> tuple[content.Article, ArticleVersion]:
    """Keep `fields` as a new version of the article (a new article when None): published at once when
    `publish` (the caller checked can_publish), else a draft that replaces the one pending."""
    now = datetime.now(UTC)
    if article is None:
        status = content.PUBLISHED if publish else content.DRAFT
        article = await create_article(fields, officer, config, status=status)
        number = 1
    else:
        number = await _next_number(article)
    while True:  # two saves of one article at the same moment: the unique number decides, the loser takes the next
        try:
            version = await ArticleVersion.create(
                article_id=article.id, number=number, title=fields.title, content=_content(fields),
                state=PUBLISHED if publish else DRAFT, author=officer, author_name=officer.name,
                note=note[:200], decided_by=officer.name if publish else "", decided_at=now if publish else None)
            break
        except IntegrityError:
            if not await ArticleVersion.exists(article_id=article.id, number=number):
                raise  # something else than the number being taken
            number = await _next_number(article)
    # One draft waits at a time: the newest. Older ones (however many saves raced) are replaced.
    await ArticleVersion.filter(article_id=article.id, state=DRAFT, number__lt=number).update(state=REPLACED)
    if publish or article.status != content.PUBLISHED:  # the row is the live text, or the latest draft
        article = await update_article(article, fields, content.PUBLISHED if publish else content.DRAFT)
    return article, version


async def publish(version: ArticleVersion, officer: Officer) -> content.Article:
    """A supervisor publishes a pending draft: villagers get it from now on."""
    if version.state != DRAFT:
        raise Refused(f"第 {version.number} 版{STATE_NAMES.get(version.state, '')}，不是待审核的草稿，不能发布。")
    fields = fields_of_version(version)
    if found := forbidden_in(fields):  # checked when saved; the lists of banned products may have grown
        raise Refused(forbidden_message(found[0]))
    article = await content.Article.get(id=version.article_id)
    await _decide(version, PUBLISHED, officer)
    return await update_article(article, fields, content.PUBLISHED)


async def withdraw(version: ArticleVersion, officer: Officer, *, note: str = "") -> content.Article:
    """The author takes their draft back (WITHDRAWN), or a supervisor sends it back (REJECTED, with a
    note). A never-published article is then WITHDRAWN: kept, never searched, editable again."""
    if version.state != DRAFT:
        raise Refused(f"第 {version.number} 版{STATE_NAMES.get(version.state, '')}，不是待审核的草稿。")
    own = version.author_id == officer.id
    if not own and RANK[officer.role] < RANK["supervisor"]:
        raise NotAllowed("只能撤回自己写的草稿；别人的草稿请审核员处理。")
    version.note = note.strip()[:200] or version.note
    await _decide(version, WITHDRAWN if own else REJECTED, officer)
    article = await content.Article.get(id=version.article_id)
    if article.status == content.DRAFT:
        article.status = content.WITHDRAWN
        await article.save(update_fields=["status", "updated_at"])
    return article


async def _decide(version: ArticleVersion, state: str, officer: Officer) -> None:
    changed = await ArticleVersion.filter(id=version.id, state=DRAFT).update(
        state=state, decided_by=officer.name, decided_at=datetime.now(UTC), note=version.note)
    if not changed:  # decided by someone else a moment ago
        raise Refused(f"第 {version.number} 版刚被别人处理过，请刷新页面。")
    version.state = state


async def restore(version: ArticleVersion, officer: Officer, config: Config) -> tuple[content.Article, ArticleVersion]:
    """Bring an older version back as a new one: published at once by those who may publish, else a draft."""
    article = await content.Article.get(id=version.article_id)
    fields = fields_of_version(version)
    if found := forbidden_in(fields):
        raise Refused(forbidden_message(found[0]))
    return await save(article, fields, officer, config, publish=can_publish(officer, config),
                      note=f"恢复第 {version.number} 版")


ACTIONS = ("publish", "withdraw", "rollback")  # the last segment of the routes acting on one version


async def act(action: str, version: ArticleVersion, officer: Officer, config: Config,
              note: str = "") -> tuple[content.Article, str, str]:
    """Do `action` to the version: the article after it, what the audit trail says, what the officer is told.
    Refused when it is not theirs to do or no longer possible."""
    n = version.number
    if action == "publish":
        if not can_publish(officer, config):
            raise NotAllowed("发布文章需要审核员权限，请找审核员。")
        article = await publish(version, officer)
        return article, f"发布了第 {n} 版《{version.title}》", f"已发布第 {n} 版。农户现在发问题就按这一版回答。"
    if action == "withdraw":
        article = await withdraw(version, officer, note=note)
        what = "撤回" if version.state == WITHDRAWN else "退回"
        return (article, f"{what}了第 {n} 版草稿《{version.title}》" + (f"：{version.note}" if what == "退回" else ""),
                f"已{what}第 {n} 版草稿，农户收到的内容不变。")
    article, made = await restore(version, officer, config)
    live = made.state == PUBLISHED
    return (article, f"把第 {n} 版恢复为第 {made.number} 版《{made.title}》（{'已发布' if live else '草稿待审核'}）",
            f"已恢复第 {n} 版的内容（现为第 {made.number} 版）。"
            + ("农户现在收到的是这一版。" if live else "这是草稿，审核员发布后生效。"))


def saved(version: ArticleVersion, new: bool) -> str:
    """What the audit trail says about a save."""
    state = "已发布" if version.state == PUBLISHED else "草稿待审核"
    return f"{'新文章' if new else ''}第 {version.number} 版《{version.title}》，{state}"
