"""Article versions: every save of an article in the console or the API keeps one, with who and when,
so a supervisor can review a draft before it goes live and anyone can see (and bring back) an older text.
The article itself, as villagers get it, is content's (content/models.py)."""

from __future__ import annotations

from typing import Any

from tortoise import fields
from tortoise.models import Model

from bot.models import Officer
from content.models import Article

# A version's state. Only a published one ever reached villagers; the newest published one is live.
DRAFT = "draft"  # waiting for a supervisor
PUBLISHED = "published"  # went live (the article's text was this from decided_at)
REPLACED = "replaced"  # a newer draft of the same article took its place before review
WITHDRAWN = "withdrawn"  # its author took it back
REJECTED = "rejected"  # a supervisor sent it back, with a note


class ArticleVersion(Model):
    """One saved text of an article: title plus the other fields as the form has them (`content`)."""

    id = fields.IntField(primary_key=True)
    article: fields.ForeignKeyRelation[Article] = fields.ForeignKeyField(
        "models.Article", related_name="versions", on_delete=fields.CASCADE)
    article_id: int
    number = fields.IntField()  # 1, 2, 3 … within the article
    title = fields.CharField(max_length=200)
    # summary, body, crops, topics, months, keywords, sources, questions (bot/articles/service.Fields)
    content: dict[str, Any] = fields.JSONField(default=dict)
    state = fields.CharField(max_length=16, default=DRAFT)
    author: fields.ForeignKeyNullableRelation[Officer] = fields.ForeignKeyField(
        "models.Officer", related_name="article_versions", null=True, on_delete=fields.SET_NULL)
    author_id: int | None
    author_name = fields.CharField(max_length=50, default="")  # "" for the text an import brought
    note = fields.CharField(max_length=200, default="")  # 恢复第 3 版, why it was sent back …
    created_at = fields.DatetimeField(auto_now_add=True)
    decided_by = fields.CharField(max_length=50, default="")  # who published, withdrew or sent it back
    decided_at = fields.DatetimeField(null=True)

    class Meta:
        table = "article_version"
        unique_together = (("article", "number"),)
