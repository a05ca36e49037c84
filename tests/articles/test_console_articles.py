"""The knowledge base in the console: list and search, write (a draft until a supervisor publishes it) and
edit, pesticide check, escaping, live preview, the search API, and supervisor-only delete. Review,
versions and rollback: test_article_review.py."""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import unquote_plus as unquote

import pytest

from bot.articles.models import ArticleVersion
from bot.compose import compose, sms_budget
from bot.keys import CONFIG, SEARCH
from bot.models import AuditEvent
from bot.sms import segments
from content import importer
from content.loader import BUNDLED, read_path
from content.models import Article
from content.render import sms_page, wechat_text
from tests.helpers import OFFICER_NAMES, Console

pytestmark = pytest.mark.db

# Officers write about what the bundled knowledge base leaves out: cucumber gummy stem blight.
STEM_BLIGHT = {
    "title": "黄瓜蔓枯病的防治",
    "summary": "黄瓜蔓枯病是瓜蔓节上出现油浸状斑，后开裂流出琥珀色胶，病斑上长小黑点，蔓子枯死。"
               "发病初期喷苯醚甲环唑或嘧菌酯，7到10天一次，连喷2到3次。",
    "body": "## 症状\n瓜蔓节部先出现油渍状斑，病部开裂，流出黄褐色胶状物，干后变红褐色。"
            "病斑上长出许多小黑点，病重时整条瓜蔓枯死，瓜也长不大。\n\n## 原因\n"
            "多雨潮湿、棚内湿度大、连作、整枝伤口多时容易发生。\n\n## 怎么办\n"
            "- 与非瓜类作物轮作，及时清除病蔓病叶，带出田外烧毁。\n"
            "- 发病初期喷10%苯醚甲环唑水分散粒剂或25%嘧菌酯悬浮剂，按标签用量，7到10天一次，连喷2到3次，几种药轮换。\n"
            "- 最后一次打药离采收要过安全间隔期。",
    "crops": ["黄瓜"], "topics": ["病害"], "months": ["5", "6", "7"],
    "keywords": "蔓枯病、黄瓜蔓流胶、瓜蔓开裂",
    "sources": "《中国农作物病虫害》（中国农业出版社）\nGB/T 8321《农药合理使用准则》",
}
RUST = {
    "title": "蚕豆锈病的防治",
    "summary": "蚕豆锈病是叶背先长黄白色小点，后变成锈褐色粉堆，一摸掉锈粉，叶子早落。"
             "发病初期喷三唑酮或戊唑醇，7到10天一次。",
    "body": "## 症状\n叶背出现黄白色小斑点，隆起后破裂散出锈褐色粉末，叶面对应处褪绿发黄。\n\n"
            "## 怎么办\n- 收获后清除病残体，深翻土地。\n"
            "- 发病初期喷15%三唑酮可湿性粉剂或43%戊唑醇悬浮剂，按标签用量，7到10天一次，连喷2次。",
    "crops": ["蚕豆"], "topics": ["病害"], "months": ["3", "4", "5"],
    "keywords": "锈病、蚕豆叶子锈粉、胡豆锈病",
    "sources": "《中国农作物病虫害》（中国农业出版社）",
}


def form(data: dict[str, Any]) -> list[tuple[str, str]]:
    """Form fields as a browser sends them: check boxes repeat their name."""
    return [(key, item) for key, value in data.items() for item in (value if isinstance(value, list) else [value])]


async def post(console: Console, path: str, data: dict[str, Any]) -> Any:
    return await console.client.post(path, data=[("_csrf", console.csrf), *form(data)], allow_redirects=False)


@pytest.fixture
async def kb(console: Console) -> Console:
    """The bundled knowledge base loaded and indexed, an officer logged in."""
    await importer.upsert(read_path(BUNDLED).articles)
    await console.app[SEARCH].refresh()
    await console.login("officer")
    return console


async def ask(console: Console, q: str, **params: str) -> dict[str, Any]:
    response = await console.client.get("/api/v1/search", params={"q": q, **params})
    assert response.status == 200, await response.text()
    return await response.json()  # type: ignore[no-any-return]


async def test_list_page_lists_filters_and_searches_as_villagers_do(kb: Console) -> None:
    page = await kb.client.get("/admin/articles")
    text = await page.text()
    assert page.status == 200
    assert "知识库" in text and "按农户提问方式搜索" in text and "写新文章" in text
    pages = -(-len(read_path(BUNDLED).articles) // 50)  # 50 a page
    assert f"第 1 / {pages} 页" in text and len(re.findall(r'<td><a href="/admin/articles/\d+">', text)) == 50

    potato = await (await kb.client.get("/admin/articles", params={"crop": "马铃薯"})).text()
    assert "马铃薯晚疫病（洋芋瘟）" in potato and "柑橘" not in potato.split("<tbody>")[1]
    by_keyword = await (await kb.client.get("/admin/articles", params={"q": "洋芋叶子发黑"})).text()
    assert "共 1 篇" in by_keyword and "马铃薯晚疫病（洋芋瘟）" in by_keyword
    nothing = await (await kb.client.get("/admin/articles", params={"q": "鳄鱼"})).text()
    assert "没有符合条件的文章" in nothing

    asked = await kb.client.get("/admin/articles", params={"q": "洋芋叶子发黑长白毛咋办", "mode": "ask"})
    text = await asked.text()
    assert "农户发“洋芋叶子发黑长白毛咋办”会收到" in text and "直接回答" in text
    bot = compose(kb.app[SEARCH], "洋芋叶子发黑长白毛咋办", "sms", kb.app[CONFIG])
    assert bot.text.split("\n")[0] in text  # the very text the bot sends
    assert 'href="/admin/articles/' in text and "马铃薯晚疫病" in text


async def test_created_article_is_a_draft_until_a_supervisor_publishes_it(kb: Console) -> None:
    before = await ask(kb, "黄瓜蔓枯病咋治")
    assert not before["answered"]

    response = await post(kb, "/admin/articles", {**STEM_BLIGHT, "action": "publish"})  # not theirs to publish
    assert response.status == 303, await response.text()
    article = await Article.get(title="黄瓜蔓枯病的防治")
    assert response.headers["Location"].startswith(f"/admin/articles/{article.id}?ok=")
    assert re.fullmatch(r"officer-\d{8}-1", article.ref)
    assert article.origin == f"console:{OFFICER_NAMES['officer']}"
    assert article.crops == ",黄瓜," and article.months == ",05,06,07,"
    assert article.keywords == ["蔓枯病", "黄瓜蔓流胶", "瓜蔓开裂"]
    assert article.sources == ["《中国农作物病虫害》（中国农业出版社）", "GB/T 8321《农药合理使用准则》"]
    assert article.status == "draft" and "草稿" in unquote(response.headers["Location"])
    version = await ArticleVersion.get(article_id=article.id)
    assert (version.number, version.state, version.author_name) == (1, "draft", OFFICER_NAMES["officer"])
    assert await AuditEvent.filter(action="POST /admin/articles", detail__contains="新文章第 1 版").exists()
    drafted = await ask(kb, "黄瓜蔓枯病咋治")
    assert not drafted["answered"] and article.id not in [h["id"] for h in drafted["hits"]]

    await kb.login("supervisor")
    published = await kb.post_form(f"/admin/articles/{article.id}/publish", {"version": "1"})
    assert published.status == 303 and "已发布第 1 版" in unquote(published.headers["Location"])
    after = await ask(kb, "我家黄瓜瓜蔓开裂流胶咋办")
    assert after["answered"] and after["hits"][0]["id"] == article.id
    assert after["answer"].startswith("黄瓜蔓枯病是瓜蔓节上")
    await kb.login("officer")

    second = await post(kb, "/admin/articles", {**STEM_BLIGHT, "title": "黄瓜蔓枯病（棚室）"})
    assert second.status == 303
    assert (await Article.get(title="黄瓜蔓枯病（棚室）")).ref.endswith("-2")

    page = await kb.client.get(f"/admin/articles/{article.id}")
    text = await page.text()
    assert page.status == 200 and "黄瓜蔓枯病的防治" in text and "蔓枯病、黄瓜蔓流胶、瓜蔓开裂" in text
    assert "【农技通】黄瓜蔓枯病是" in text  # the SMS preview, rendered from the start
    assert (await kb.client.get("/admin/articles/999999")).status == 404


async def test_a_supervisors_edit_changes_what_villagers_get_at_once(kb: Console) -> None:
    await kb.login("supervisor")
    await post(kb, "/admin/articles", {**STEM_BLIGHT, "action": "publish"})
    article = await Article.get(title="黄瓜蔓枯病的防治")
    assert not (await ask(kb, "蚕豆锈病咋治"))["answered"]

    edit = await kb.client.get(f"/admin/articles/{article.id}")
    stamp = re.search(r'name="stamp" value="([^"]+)"', await edit.text())
    assert stamp is not None
    response = await post(kb, f"/admin/articles/{article.id}", {**RUST, "stamp": stamp.group(1), "action": "publish"})
    assert response.status == 303, await response.text()
    changed = await Article.get(id=article.id)
    assert changed.title == "蚕豆锈病的防治" and changed.ref == article.ref and changed.origin == article.origin

    rust = await ask(kb, "蚕豆锈病咋治")
    assert rust["answered"] and rust["hits"][0]["id"] == article.id
    mildew = await ask(kb, "黄瓜蔓枯病咋治")
    assert article.id not in [h["id"] for h in mildew["hits"][:1]] and not mildew["answered"]

    # Someone saved in between: the second editor is told, and keeps what they typed.
    stale = await post(kb, f"/admin/articles/{article.id}",
                       {**RUST, "title": "蚕豆锈病（我的改法）", "stamp": stamp.group(1), "action": "publish"})
    text = await stale.text()
    assert stale.status == 409 and "已被别人改过" in text and "蚕豆锈病（我的改法）" in text
    assert (await Article.get(id=article.id)).title == "蚕豆锈病的防治"


@pytest.mark.parametrize(("word", "named"), [("甲胺磷", "甲胺磷"), ("多灭灵", "即甲胺磷")])
async def test_banned_pesticide_is_refused_and_the_input_kept(kb: Console, word: str, named: str) -> None:
    body = STEM_BLIGHT["body"] + f"\n- 虫多时每亩用{word}乳油50毫升兑水喷雾。"
    response = await post(kb, "/admin/articles", {**STEM_BLIGHT, "title": "黄瓜病虫一起治", "body": body})
    text = await response.text()
    assert response.status == 400
    assert named in text and "国家已禁用" in text and "还没有保存" in text
    assert 'value="黄瓜病虫一起治"' in text and f"虫多时每亩用{word}乳油50毫升兑水喷雾" in text
    assert 'value="黄瓜" checked' in text and 'value="6" checked' in text
    assert not await Article.filter(title="黄瓜病虫一起治").exists()


async def test_form_refuses_missing_fields_and_restricted_products(kb: Console) -> None:
    empty = await post(kb, "/admin/articles", {"title": "", "body": "", "sources": "", "summary": "只有摘要"})
    text = await empty.text()
    assert empty.status == 400 and "请填写标题" in text and "请填写正文" in text and "至少填写一条来源" in text
    assert "只有摘要" in text

    too_long = await post(kb, "/admin/articles", {**STEM_BLIGHT, "title": "长" * 61})
    assert too_long.status == 400 and "标题最多 60 个字" in await too_long.text()

    # 三唑磷 is restricted: forbidden on vegetables such as peppers, so the check needs the crop.
    pepper = {**STEM_BLIGHT, "title": "辣椒蓟马", "crops": ["辣椒"], "body": "蓟马多时喷三唑磷。"}
    refused = await post(kb, "/admin/articles", pepper)
    text = await refused.text()
    assert refused.status == 400 and "「三唑磷」是限用农药，不得用于" in text and "辣椒" in text
    assert await Article.filter(title="辣椒蓟马").count() == 0

    article = await Article.get(ref="potato-late-blight")
    edit = await post(kb, f"/admin/articles/{article.id}", {**STEM_BLIGHT, "body": "用呋喃丹拌种。", "stamp": ""})
    assert edit.status == 400 and "呋喃丹（即克百威）" in await edit.text()
    assert (await Article.get(id=article.id)).title == "马铃薯晚疫病（洋芋瘟）"


async def test_script_in_a_title_is_shown_escaped(kb: Console) -> None:
    evil = "<script>alert(1)</script>"
    response = await kb.api("POST", "/api/v1/articles", json={
        "title": evil, "body": "正文里也有 <b>标签</b>。", "sources": ["测试资料"], "keywords": ["<i>x</i>"]})
    assert response.status == 201, await response.text()
    created = await response.json()
    for path in ("/admin/articles", f"/admin/articles?q={evil}", f"/admin/articles/{created['id']}",
                 f"/admin/articles?mode=ask&q={evil}"):
        text = await (await kb.client.get(path)).text()
        assert "<script>alert" not in text, path
    list_text = await (await kb.client.get("/admin/articles")).text()
    edit_text = await (await kb.client.get(f"/admin/articles/{created['id']}")).text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in list_text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in edit_text and "&lt;b&gt;标签&lt;/b&gt;" in edit_text


async def test_preview_uses_the_bots_renderers(kb: Console) -> None:
    config = kb.app[CONFIG]
    body = STEM_BLIGHT["body"] * 3
    response = await kb.api("POST", "/api/v1/articles/preview", json={
        "title": STEM_BLIGHT["title"], "summary": STEM_BLIGHT["summary"], "body": body, "crops": ["黄瓜"]})
    assert response.status == 200, await response.text()
    shown = await response.json()

    expected, page = [], 0
    while (rendered := sms_page(STEM_BLIGHT["summary"], body, page, sms_budget(config))).text:
        expected.append(config.sms.signature + rendered.text)
        page += 1
    assert len(expected) > 2
    assert [p["text"] for p in shown["sms"]["pages"]] == expected
    assert [p["segments"] for p in shown["sms"]["pages"]] == [segments(t) for t in expected]
    assert all(s <= config.sms.max_segments for s in (p["segments"] for p in shown["sms"]["pages"]))
    assert shown["sms"]["segments"] == sum(segments(t) for t in expected)
    assert shown["sms"]["cost_yuan"] == round(shown["sms"]["segments"] * config.sms.cost_per_segment, 3)
    assert shown["wechat"] == wechat_text(STEM_BLIGHT["title"], STEM_BLIGHT["summary"], body).text
    assert shown["forbidden"] == []

    warned = await (await kb.api("POST", "/api/v1/articles/preview", json={
        "title": "t", "summary": "", "body": "用甲胺磷。"})).json()
    assert warned["forbidden"] and "甲胺磷" in warned["forbidden"][0]
    empty = await (await kb.api("POST", "/api/v1/articles/preview", json={})).json()
    assert empty["sms"] == {**empty["sms"], "pages": [], "segments": 0}
    bad = await kb.api("POST", "/api/v1/articles/preview", json={"body": ["not", "text"]})
    assert bad.status == 400 and "error" in await bad.json()


async def test_search_api_shape_and_errors(kb: Console) -> None:
    answer = await ask(kb, "洋芋叶子发黑长白毛咋办")
    assert set(answer) == {"answer", "answered", "hits"}
    assert answer["answered"] is True and isinstance(answer["answer"], str)
    assert 1 <= len(answer["hits"]) <= 5
    assert set(answer["hits"][0]) == {"id", "ref", "title", "score", "relevance"}
    assert answer["hits"][0]["relevance"] == "很相关" and {h["relevance"] for h in answer["hits"]} <= {"很相关", "较相关"}
    assert answer["hits"][0]["ref"] == "potato-late-blight"
    assert answer["answer"] == compose(kb.app[SEARCH], "洋芋叶子发黑长白毛咋办", "sms", kb.app[CONFIG]).text
    assert len((await ask(kb, "洋芋叶子发黑长白毛咋办", limit="1"))["hits"]) == 1
    assert len((await ask(kb, "洋芋", limit="50"))["hits"]) > 5
    wechat = await ask(kb, "洋芋叶子发黑长白毛咋办", channel="wechat")
    assert wechat["answer"].startswith("马铃薯晚疫病（洋芋瘟）")

    for params in ({}, {"q": ""}, {"q": "   "}, {"q": "洋芋", "limit": "0"}, {"q": "洋芋", "limit": "51"},
                   {"q": "洋芋", "limit": "five"}, {"q": "洋芋", "channel": "fax"}):
        response = await kb.client.get("/api/v1/search", params=params)
        assert response.status == 400, params
        assert "error" in await response.json()

    kb.client.session.cookie_jar.clear()
    assert (await kb.client.get("/api/v1/search", params={"q": "洋芋"})).status == 401
    bearer = await kb.client.get("/api/v1/search", params={"q": "洋芋晚疫病"}, headers=await kb.token("officer"))
    assert bearer.status == 200 and (await bearer.json())["hits"]


async def test_articles_api_create_read_update_list(kb: Console) -> None:
    headers = await kb.token("supervisor")
    data = {**STEM_BLIGHT, "crops": ["黄瓜"], "months": [5, 6], "sources": ["《中国农作物病虫害》"],
            "keywords": ["蔓枯病"]}
    created = await kb.client.post("/api/v1/articles", json=data, headers=headers)
    assert created.status == 201, await created.text()
    article = await created.json()
    assert article["ref"].startswith("officer-") and article["months"] == [5, 6]
    assert article["status"] == "published" and article["pending"] is None
    assert (await ask(kb, "黄瓜瓜蔓上流胶咋治"))["hits"][0]["id"] == article["id"]

    got = await (await kb.client.get(f"/api/v1/articles/{article['id']}", headers=headers)).json()
    assert got["body"] == STEM_BLIGHT["body"] and got["sources"] == ["《中国农作物病虫害》"]
    assert (await kb.client.get("/api/v1/articles/999999", headers=headers)).status == 404

    updated = await kb.client.put(f"/api/v1/articles/{article['id']}", json={"title": "黄瓜蔓枯病怎么治"},
                                  headers=headers)
    assert updated.status == 200
    assert (await updated.json())["title"] == "黄瓜蔓枯病怎么治"
    assert (await Article.get(id=article["id"])).body == STEM_BLIGHT["body"]  # left out: kept
    assert (await ask(kb, "黄瓜蔓枯病怎么治"))["hits"][0]["title"] == "黄瓜蔓枯病怎么治"

    refused = await kb.client.put(f"/api/v1/articles/{article['id']}", json={"body": "喷1605"}, headers=headers)
    assert refused.status == 400 and "对硫磷" in (await refused.json())["error"]
    nosource = await kb.client.post("/api/v1/articles", json={**data, "sources": []}, headers=headers)
    assert nosource.status == 400 and "来源" in (await nosource.json())["error"]
    notjson = await kb.client.post("/api/v1/articles", data="x", headers=headers)
    assert notjson.status == 400

    listed = await (await kb.client.get("/api/v1/articles", params={"crop": "黄瓜"}, headers=headers)).json()
    assert listed["articles"][0]["id"] == article["id"] and "body" not in listed["articles"][0]
    by_alias = await (await kb.client.get("/api/v1/articles", params={"crop": "洋芋", "q": "晚疫病"},
                                          headers=headers)).json()
    assert [a["ref"] for a in by_alias["articles"]] == ["potato-late-blight"]
    paged = await (await kb.client.get("/api/v1/articles", params={"limit": "10", "offset": "10"},
                                       headers=headers)).json()
    assert paged["total"] == await Article.all().count() and len(paged["articles"]) == 10
    assert (await kb.client.get("/api/v1/articles", params={"crop": "鳄鱼"}, headers=headers)).status == 400


async def test_only_a_supervisor_may_delete(kb: Console) -> None:
    article = await Article.get(ref="potato-late-blight")
    refused = await kb.post_form(f"/admin/articles/{article.id}/delete")
    assert refused.status == 403 and "审核员" in await refused.text()
    assert await Article.exists(id=article.id)
    page = await (await kb.client.get(f"/admin/articles/{article.id}")).text()
    assert "删除这篇文章" not in page

    await kb.login("supervisor")
    page = await (await kb.client.get(f"/admin/articles/{article.id}")).text()
    assert "删除这篇文章" in page and 'data-confirm="删除后' in page
    deleted = await kb.post_form(f"/admin/articles/{article.id}/delete")
    assert deleted.status == 303 and deleted.headers["Location"].startswith("/admin/articles?ok=")
    assert not await Article.exists(id=article.id)
    assert article.id not in [h["id"] for h in (await ask(kb, "洋芋晚疫病咋治"))["hits"]]
    assert await AuditEvent.filter(action__startswith="POST /admin/articles/{id}/delete").exists()
    assert (await kb.post_form(f"/admin/articles/{article.id}/delete")).status == 404


async def test_questions_are_edited_in_the_console_and_kept_by_other_edits(kb: Console) -> None:
    """Villagers' ways of asking (front matter `questions`) show in the form, survive an edit of other
    fields from the console or the API, and find the article like keywords do."""
    article = await Article.get(ref="potato-late-blight")
    assert len(article.questions) >= 3
    page = await (await kb.client.get(f"/admin/articles/{article.id}")).text()
    assert "农户会怎么问" in page and article.questions[0] in page

    headers = await kb.token("officer")
    changed = await kb.client.put(f"/api/v1/articles/{article.id}", json={"title": "马铃薯晚疫病（洋芋瘟）防治"},
                                  headers=headers)
    assert changed.status == 200, await changed.text()
    assert (await changed.json())["questions"] == article.questions

    created = await kb.client.post("/api/v1/articles", headers=headers, json={
        **{k: v for k, v in STEM_BLIGHT.items() if k in ("title", "summary", "body")},
        "crops": ["黄瓜"], "topics": ["病害"], "sources": ["县农技推广中心"], "keywords": ["蔓枯病"],
        "questions": ["黄瓜秆子裂口子冒黄水"]})
    assert created.status == 201, await created.text()
    assert (await created.json())["questions"] == ["黄瓜秆子裂口子冒黄水"]
    too_many = await kb.client.post("/api/v1/articles", headers=headers, json={
        **{k: v for k, v in STEM_BLIGHT.items() if k in ("title", "summary", "body")},
        "sources": ["县农技推广中心"], "questions": [f"问法{i}" for i in range(7)]})
    assert too_many.status == 413  # more items than declared: too much, as for every API list
