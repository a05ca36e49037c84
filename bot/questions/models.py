"""Questions the bot left to an officer, and answers it gave with their ratings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from bot.models import Message, Subscriber


class Question(Model):
    """A question the bot could not answer well, waiting for an extension officer."""

    id = fields.IntField(primary_key=True)
    subscriber: fields.ForeignKeyNullableRelation[Subscriber] = fields.ForeignKeyField(
        "models.Subscriber", related_name="questions", null=True, on_delete=fields.SET_NULL
    )
    message: fields.ForeignKeyNullableRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name="questions", null=True, on_delete=fields.SET_NULL
    )
    subscriber_id: int | None
    message_id: int | None
    channel = fields.CharField(max_length=16)
    text = fields.TextField()
    status = fields.CharField(max_length=16, default="open", db_default="open")  # open|answered|closed
    # no_match|weak|crop_mismatch|out_of_scope…, "feedback" for a villager's comment (反馈 …), or
    # "wrong_answer" when a villager said an answer was wrong or useless (不对, 没用 …)
    reason = fields.CharField(max_length=32, default="", db_default="")
    best_ref = fields.CharField(max_length=100, default="", db_default="")
    best_score = fields.FloatField(default=0.0)
    answer = fields.TextField(null=True)
    answered_by = fields.CharField(max_length=100, null=True)
    answered_at = fields.DatetimeField(null=True)
    reply_message: fields.ForeignKeyNullableRelation[Message] = fields.ForeignKeyField(
        "models.Message", related_name="answers", null=True, on_delete=fields.SET_NULL
    )
    reply_message_id: int | None
    article_ref = fields.CharField(max_length=100, default="", db_default="")  # saved as this article
    # For "wrong_answer": what the bot had sent (the article's title, then the text), shown to the officer.
    given_answer = fields.TextField(default="", db_default="")
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "question"
        indexes = (Index(fields=("status", "created_at"), name="idx_question_status_time"),)


RATINGS = ("useful", "wrong", "useless")


class Answer(Model):
    """One question the bot answered from an article, and the villager's rating of that answer (if any)."""

    id = fields.IntField(primary_key=True)
    subscriber: fields.ForeignKeyNullableRelation[Subscriber] = fields.ForeignKeyField(
        "models.Subscriber", related_name="answers", null=True, on_delete=fields.SET_NULL
    )
    message: fields.ForeignKeyNullableRelation[Message] = fields.ForeignKeyField(  # the inbound question
        "models.Message", related_name="article_answers", null=True, on_delete=fields.SET_NULL
    )
    subscriber_id: int | None
    message_id: int | None
    channel = fields.CharField(max_length=16)
    question = fields.TextField()
    article_ref = fields.CharField(max_length=100)
    title = fields.CharField(max_length=200)  # the article's title when it was sent
    score = fields.FloatField(default=0.0)
    rating = fields.CharField(max_length=8, default="", db_default="")  # "" | one of RATINGS
    rated_at = fields.DatetimeField(null=True)
    # An officer reviewing answers marked this one wrong (then it is a question in the inbox).
    flagged_by = fields.CharField(max_length=50, default="", db_default="")
    flagged_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "answer"
        indexes = (
            Index(fields=("subscriber_id", "created_at"), name="idx_answer_sub_time"),
            Index(fields=("article_ref",), name="idx_answer_article"),
        )
