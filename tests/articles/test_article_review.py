"""Articles are reviewed before they go live: an officer's save is a draft (a version with who and when)
that villagers never get; a supervisor publishes it or sends it back; the author withdraws it; any version
can be rolled back to; a county may let officers publish their own. Officer views name articles by title
and say 很相关/较相关, never a ref, a file name or a score."""

from __future__ import annotations

import asyncio
import re
from dataclasses import replace
from typing import Any
from urllib.parse import unquote_plus

import pytest

from bot.app import create_app
from bot.articles import versions
from bot.articles.models import ArticleVersion
from bot.articles.service import fields_of
from bot.keys import CONFIG, SEARCH
from bot.models import AuditEvent, ConsoleSession, Officer
from bot.questions.models import Question
from content import importer
from content.loader import BUNDLED, read_path
from content.models import Article
from tests.articles.test_console_articles import RUST, STEM_BLIGHT, ask, post
from tests.conftest import make_config
from tests.helpers import OFFICER_NAMES, OFFICER_PASSWORD, Console, say

pytestmark = pytest.mark.db
BLIGHT_QUESTION = "我家黄瓜瓜蔓开裂流胶咋办"
RUST_QUESTION = "蚕豆锈病咋治"


@pytest.fixture
async def kb(console: Console) -> Console:
    """A few bundled articles, indexed; an officer logged in."""
    await importer.upsert([a for a in read_path(BUNDLED).articles if a.ref.startswith("potato-")])
    await console.app[SEARCH].refresh()
    await console.login("officer")
    return console


def told(response: Any) -> str:
    return unquote_plus(response.headers.get("Location", ""))


async def stamp_of(console: Console, article_id: int) -> str:
    found = re.search(r'name="stamp" value="([^"]+)"', await (await console.client.get(f"/admin/articles/{article_id}")).text())
    assert found is not None
    return found.group(1)


async def answered_by(console: Console, question: str) -> int | None:
    answer = await ask(console, question)
    return answer["hits"][0]["id"] if answer["answered"] else None


async def states(article_id: int) -> list[tuple[int, str]]:
    return [(v.number, v.state) for v in await ArticleVersion.filter(article_id=article_id).order_by("number")]


async def log_in_as(console: Console, name: str) -> None:
    console.client.session.cookie_jar.clear()
    form = await (await console.client.get("/admin/login")).text()
    token = re.search(r'name="_csrf" value="([^"]+)"', form)
    assert token is not None
    response = await console.client.post("/admin/login", allow_redirects=False, data={
        "_csrf": token.group(1), "name": name, "password": OFFICER_PASSWORD})
    assert response.status == 303
    console.csrf = (await ConsoleSession.filter(officer__name=name).order_by("-id").first()).csrf_token  # type: ignore[union-attr]


async def test_draft_review_publish_edit_and_rollback(kb: Console) -> None:
    created = await post(kb, "/admin/articles", STEM_BLIGHT)
    article = await Article.get(title=STEM_BLIGHT["title"])
    assert "草稿" in told(created) and article.status == "draft"
    page = await (await kb.client.get(f"/admin/articles/{article.id}")).text()
    assert "提交审核" in page and "发布第 1 版" not in page and "撤回我的草稿" in page
    assert await answered_by(kb, BLIGHT_QUESTION) is None

    # the officer improves the draft before review: one pending draft, the older one replaced
    again = await post(kb, f"/admin/articles/{article.id}", {**STEM_BLIGHT, "title": "黄瓜蔓枯病怎么防治",
                                                              "stamp": await stamp_of(kb, article.id)})
    assert again.status == 303
    assert await states(article.id) == [(1, "replaced"), (2, "draft")]
    assert (await Article.get(id=article.id)).title == "黄瓜蔓枯病怎么防治"  # the row holds its latest draft
    assert await answered_by(kb, BLIGHT_QUESTION) is None
    refused = await kb.post_form(f"/admin/articles/{article.id}/publish", {"version": "2"})
    assert refused.status == 403 and (await Article.get(id=article.id)).status == "draft"

    await kb.login("supervisor")
    home = await (await kb.client.get("/admin/")).text()
    assert "待审核的文章" in home and "/admin/articles?state=pending" in home
    assert (await (await kb.api("GET", "/api/v1/stats")).json())["articles_waiting"] == 1
    listed = await (await kb.client.get("/admin/articles", params={"state": "pending"})).text()
    assert "有 1 篇文章的草稿待审核" in listed and "黄瓜蔓枯病怎么防治" in listed and "共 1 篇" in listed
    page = await (await kb.client.get(f"/admin/articles/{article.id}")).text()
    assert "第 2 版草稿待审核" in page and "发布第 2 版" in page and "退回" in page
    published = await kb.post_form(f"/admin/articles/{article.id}/publish", {"version": "2"})
    assert published.status == 303 and "已发布第 2 版" in told(published)
    assert await answered_by(kb, BLIGHT_QUESTION) == article.id
    twice = await kb.post_form(f"/admin/articles/{article.id}/publish", {"version": "2"})
    assert twice.status == 409 and "不是待审核的草稿" in await twice.text()

    # an officer's edit of a published article waits: villagers keep the published text meanwhile
    await kb.login("officer")
    edit = await post(kb, f"/admin/articles/{article.id}", {**RUST, "stamp": await stamp_of(kb, article.id)})
    assert edit.status == 303 and "草稿" in told(edit)
    assert await answered_by(kb, BLIGHT_QUESTION) == article.id and await answered_by(kb, RUST_QUESTION) is None
    assert (await Article.get(id=article.id)).title == "黄瓜蔓枯病怎么防治"
    page = await (await kb.client.get(f"/admin/articles/{article.id}")).text()
    assert 'value="蚕豆锈病的防治"' in page and "农户现在收到的仍是已发布的内容" in page  # the form holds the draft

    await kb.login("supervisor")
    assert (await kb.post_form(f"/admin/articles/{article.id}/publish", {"version": "3"})).status == 303
    assert await answered_by(kb, RUST_QUESTION) == article.id and await answered_by(kb, BLIGHT_QUESTION) is None

    # roll back to version 2: a new version 4, published at once by the supervisor
    back = await kb.post_form(f"/admin/articles/{article.id}/rollback", {"version": "2"})
    assert back.status == 303 and "现为第 4 版" in told(back)
    assert await states(article.id) == [(1, "replaced"), (2, "published"), (3, "published"), (4, "published")]
    assert (await ArticleVersion.get(article_id=article.id, number=4)).note == "恢复第 2 版"
    assert await answered_by(kb, BLIGHT_QUESTION) == article.id and await answered_by(kb, RUST_QUESTION) is None
    page = await (await kb.client.get(f"/admin/articles/{article.id}")).text()
    assert page.count("恢复这一版") == 3 and "农户现在收到的就是这一版" in page
    assert OFFICER_NAMES["officer"] in page and "恢复第 2 版" in page

    audit = await (await kb.client.get("/admin/audit", params={"kind": "articles"})).text()
    assert "发布了文章《" in audit and "回滚了文章《" in audit
    details = [e.detail for e in await AuditEvent.filter(action__contains="/admin/articles").order_by("id")]
    assert details[0] == f"新文章第 1 版《{STEM_BLIGHT['title']}》，草稿待审核"
    assert "把第 2 版恢复为第 4 版《黄瓜蔓枯病怎么防治》（已发布）" in details


async def test_officers_withdraw_their_own_drafts_and_supervisors_send_drafts_back(
        kb: Console, officer_password_hash: str) -> None:
    await Officer.create(name="农技员小李", role="officer", password_hash=officer_password_hash)
    await post(kb, "/admin/articles", STEM_BLIGHT)
    article = await Article.get(title=STEM_BLIGHT["title"])

    await log_in_as(kb, "农技员小李")  # not theirs: neither the button nor the act
    page = await (await kb.client.get(f"/admin/articles/{article.id}")).text()
    assert "撤回我的草稿" not in page and "退回" not in page
    theirs = await kb.post_form(f"/admin/articles/{article.id}/withdraw", {"version": "1"})
    assert theirs.status == 403 and "只能撤回自己写的草稿" in await theirs.text()

    await kb.login("officer")
    withdrawn = await kb.post_form(f"/admin/articles/{article.id}/withdraw", {"version": "1"})
    assert withdrawn.status == 303 and "已撤回第 1 版草稿" in told(withdrawn)
    assert (await Article.get(id=article.id)).status == "withdrawn" and await states(article.id) == [(1, "withdrawn")]
    assert await answered_by(kb, BLIGHT_QUESTION) is None
    unpublished = await (await kb.client.get("/admin/articles", params={"state": "unpublished"})).text()
    assert STEM_BLIGHT["title"] in unpublished and "未发布" in unpublished

    # written again, then sent back by a supervisor with the reason
    await post(kb, f"/admin/articles/{article.id}", {**STEM_BLIGHT, "stamp": await stamp_of(kb, article.id)})
    assert (await Article.get(id=article.id)).status == "draft"
    await kb.login("supervisor")
    sent_back = await kb.post_form(f"/admin/articles/{article.id}/withdraw", {"version": "2", "note": "用药间隔没写"})
    assert sent_back.status == 303 and "已退回第 2 版" in told(sent_back)
    version = await ArticleVersion.get(article_id=article.id, number=2)
    assert (version.state, version.note, version.decided_by) == ("rejected", "用药间隔没写", OFFICER_NAMES["supervisor"])
    page = await (await kb.client.get(f"/admin/articles/{article.id}")).text()
    assert "已退回" in page and "用药间隔没写" in page
    assert await answered_by(kb, BLIGHT_QUESTION) is None


async def test_an_imported_article_keeps_its_text_as_version_one(kb: Console) -> None:
    article = await Article.get(ref="potato-late-blight")
    question = "洋芋叶子发黑长白毛咋办"
    assert await answered_by(kb, question) == article.id
    edit = await post(kb, f"/admin/articles/{article.id}", {**STEM_BLIGHT, "stamp": await stamp_of(kb, article.id)})
    assert edit.status == 303
    assert await states(article.id) == [(1, "published"), (2, "draft")]
    assert (await ArticleVersion.get(article_id=article.id, number=1)).note == "原来的内容"
    assert await answered_by(kb, question) == article.id  # unchanged for villagers
    listed = await (await kb.client.get("/admin/articles")).text()
    assert "有修改待审核" in listed

    await kb.login("supervisor")
    assert (await kb.post_form(f"/admin/articles/{article.id}/publish", {"version": "2"})).status == 303
    assert await answered_by(kb, question) != article.id
    assert (await kb.post_form(f"/admin/articles/{article.id}/rollback", {"version": "1"})).status == 303
    assert await answered_by(kb, question) == article.id
    assert (await Article.get(id=article.id)).title == "马铃薯晚疫病（洋芋瘟）"


async def test_a_county_may_let_officers_publish_their_own(aiohttp_client: Any, db_url: str,
                                                           officer_password_hash: str) -> None:
    config = make_config(db_url, console={"self_publish": True})
    kb = Console(await aiohttp_client(create_app(config, role="web")), {
        "officer": await Officer.create(name=OFFICER_NAMES["officer"], role="officer",
                                        password_hash=officer_password_hash)})
    await kb.login("officer")
    page = await (await kb.client.get("/admin/articles/new")).text()
    assert ">发布</button>" in page and "存为草稿" in page
    created = await post(kb, "/admin/articles", {**STEM_BLIGHT, "action": "publish"})
    assert created.status == 303 and "已发布" in told(created)
    article = await Article.get(title=STEM_BLIGHT["title"])
    assert article.status == "published" and await answered_by(kb, BLIGHT_QUESTION) == article.id
    draft = await post(kb, f"/admin/articles/{article.id}", {**RUST, "action": "draft",
                                                              "stamp": await stamp_of(kb, article.id)})
    assert draft.status == 303 and await answered_by(kb, RUST_QUESTION) is None
    assert (await kb.post_form(f"/admin/articles/{article.id}/publish", {"version": "2"})).status == 303
    assert await answered_by(kb, RUST_QUESTION) == article.id


async def test_the_api_drafts_publishes_lists_versions_and_rolls_back(kb: Console) -> None:
    officer, supervisor = await kb.token("officer"), await kb.token("supervisor")
    data = {**{k: STEM_BLIGHT[k] for k in ("title", "summary", "body")}, "crops": ["黄瓜"], "sources": ["县农技中心"],
            "keywords": ["蔓枯病"]}
    created = await kb.client.post("/api/v1/articles", json=data, headers=officer)
    assert created.status == 201
    article = await created.json()
    assert article["status"] == "draft" and article["pending"]["number"] == 1
    assert article["pending"]["author"] == OFFICER_NAMES["officer"]
    drafts = await (await kb.client.get("/api/v1/articles", params={"status": "draft"}, headers=officer)).json()
    assert [a["id"] for a in drafts["articles"]] == [article["id"]]
    url = f"/api/v1/articles/{article['id']}"
    assert (await kb.client.post(f"{url}/publish", json={"version": 1}, headers=officer)).status == 403
    published = await kb.client.post(f"{url}/publish", json={"version": 1}, headers=supervisor)
    assert published.status == 200 and (await published.json())["status"] == "published"
    assert await answered_by(kb, BLIGHT_QUESTION) == article["id"]

    changed = await kb.client.put(url, json={"title": "黄瓜蔓枯病咋个治"}, headers=officer)
    body = await changed.json()
    assert body["title"] == STEM_BLIGHT["title"] and body["pending"]["title"] == "黄瓜蔓枯病咋个治"
    again = await kb.client.put(url, json={"summary": "新摘要。"}, headers=officer)  # builds on the draft
    assert (await again.json())["pending"]["title"] == "黄瓜蔓枯病咋个治"
    history = await (await kb.client.get(f"{url}/versions", headers=officer)).json()
    assert [(v["number"], v["state"]) for v in history["versions"]] == [(3, "draft"), (2, "replaced"), (1, "published")]
    assert history["versions"][0]["state_name"] == "待审核"

    direct = await kb.client.put(url, json={"title": "黄瓜蔓枯病的防治办法"}, headers=supervisor)
    assert (await direct.json())["title"] == "黄瓜蔓枯病的防治办法"  # a supervisor's edit is live at once
    rolled = await kb.client.post(f"{url}/rollback", json={"version": 1}, headers=supervisor)
    assert rolled.status == 200 and (await rolled.json())["title"] == STEM_BLIGHT["title"]
    gone = await kb.client.post(f"{url}/publish", json={"version": 999}, headers=supervisor)
    assert gone.status == 404
    withdrawn = await kb.client.post(f"{url}/withdraw", json={"version": 3}, headers=officer)
    assert withdrawn.status == 409  # replaced by the supervisor's version: nothing pending any more


async def test_officer_views_show_titles_and_relevance_not_refs_files_or_scores(kb: Console) -> None:
    article = await Article.get(ref="potato-late-blight")
    listed = await (await kb.client.get("/admin/articles")).text()
    edit = await (await kb.client.get(f"/admin/articles/{article.id}")).text()
    asked = await (await kb.client.get("/admin/articles", params={"q": "洋芋叶子发黑长白毛咋办", "mode": "ask"})).text()
    for page in (listed, edit, asked):
        assert "potato-late-blight" not in page and ".md" not in page and "编号" not in page
    assert "从文件导入" in listed and "从文件导入" in edit
    assert "很相关" in asked and "得分" not in asked
    result = await ask(kb, "洋芋叶子发黑长白毛咋办")
    scores = [str(h["score"]) for h in result["hits"]]
    assert scores and not any(f">{s}<" in asked for s in scores)


async def test_a_reply_the_inbox_keeps_as_an_article_waits_for_review(kb: Console) -> None:
    """An officer answering a villager may keep the reply as an article: a draft, like any they write."""
    await importer.upsert([a for a in read_path(BUNDLED).articles if a.ref.startswith("citrus-")])
    await kb.app[SEARCH].refresh()
    outcome = await say(kb.app, "你好，橘子树上有白粉病咋整？？", address="+8613900139011")
    question = await Question.get(message_id=outcome.message_id)
    text = "柑橘白粉病：发病初期剪除病梢，喷25%三唑酮可湿性粉剂1500倍液，隔10天再喷一次。"
    replied = await kb.post_form(f"/admin/questions/{question.id}/reply", {"text": text, "save_article": "1"})
    assert replied.status == 303 and "文章草稿" in told(replied)
    article = await Article.get(origin=f"console:{OFFICER_NAMES['officer']}")
    assert article.status == "draft" and await answered_by(kb, "柑橘白粉病咋治") != article.id
    assert "有 1 篇文章的草稿待审核" in await (await kb.client.get("/admin/articles")).text()

    await kb.login("supervisor")
    page = await (await kb.client.get(f"/admin/articles/{article.id}")).text()
    assert "第 1 版草稿待审核" in page and f"{OFFICER_NAMES['officer']} " in page
    assert (await kb.post_form(f"/admin/articles/{article.id}/publish", {"version": "1"})).status == 303
    assert await answered_by(kb, "柑橘白粉病咋治") == article.id


async def test_saves_at_the_same_moment_each_keep_a_version(kb: Console) -> None:
    article = await Article.get(ref="potato-late-blight")
    fields = fields_of(article)
    await asyncio.gather(*(versions.save(article, replace(fields, title=f"晚疫病第{i}稿"), kb.officers["officer"],
                                         kb.app[CONFIG], publish=False) for i in range(4)))
    saved = await ArticleVersion.filter(article_id=article.id).order_by("number")
    assert [v.number for v in saved] == [1, 2, 3, 4, 5] and saved[0].state == "published"
    assert [v.state for v in saved[1:]].count("draft") == 1 and saved[-1].state == "draft"
    assert (await Article.get(id=article.id)).title == "马铃薯晚疫病（洋芋瘟）"  # villagers: unchanged
