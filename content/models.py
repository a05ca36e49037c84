"""Knowledge-base tables: the articles villagers' questions are answered from."""

from __future__ import annotations

from tortoise import fields
from tortoise.models import Model

# Article.status: only published articles are searched and sent to villagers.
PUBLISHED = "published"
DRAFT = "draft"  # written in the console, waiting for a supervisor (never published yet)
WITHDRAWN = "withdrawn"  # never published, and its draft was taken back or sent back


class Article(Model):
    """One article: front-matter fields plus the Markdown body (crops/topics/months packed ',a,b,')."""

    id = fields.IntField(primary_key=True)
    ref = fields.CharField(max_length=100, unique=True)
    title = fields.CharField(max_length=200)
    crops = fields.CharField(max_length=400, default="", db_default="")
    topics = fields.CharField(max_length=200, default="", db_default="")
    months = fields.CharField(max_length=60, default="", db_default="")
    keywords: list[str] = fields.JSONField(default=list)
    # Villagers' own wordings an officer attached from the inbox; searched like keywords (max 50).
    phrasings: list[str] = fields.JSONField(default=list, db_default=[])
    # How villagers would ask it, written with the article (front matter `questions`); searched like keywords.
    questions: list[str] = fields.JSONField(default=list, db_default=[])
    summary = fields.TextField(default="")
    body = fields.TextField(default="")
    sources: list[str] = fields.JSONField(default=list)
    origin = fields.CharField(max_length=200, default="", db_default="")  # file or import it came from
    # PUBLISHED, DRAFT or WITHDRAWN. A published article's pending edits are versions (bot/articles/models.py)
    # until a supervisor publishes them; the row is always what villagers get.
    status = fields.CharField(max_length=16, default=PUBLISHED, db_default=PUBLISHED, db_index=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True, db_index=True)

    class Meta:
        table = "article"


class ArticleVector(Model):
    """An article's meaning as the optional meaning model sees it (content/meaning.py), kept so a restart
    does not embed every article again. `stamp` is the article's updated_at when it was embedded: a
    vector whose stamp differs is stale and made again."""

    id = fields.IntField(primary_key=True)
    article: fields.OneToOneRelation[Article] = fields.OneToOneField(
        "models.Article", related_name="vector", on_delete=fields.CASCADE)
    stamp = fields.CharField(max_length=40)
    vector = fields.BinaryField()

    class Meta:
        table = "article_vector"
