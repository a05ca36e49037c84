"""Labour tables: job notices, migrant workers' wishes and wage-arrears warnings."""

from __future__ import annotations

from typing import TYPE_CHECKING

from tortoise import fields
from tortoise.indexes import Index
from tortoise.models import Model

if TYPE_CHECKING:
    from bot.models import Subscriber


class Job(Model):
    """A labour notice: who hires, for what, where, for how much and until when."""

    id = fields.IntField(primary_key=True)
    employer = fields.CharField(max_length=100)
    work_type = fields.CharField(max_length=30)
    place = fields.CharField(max_length=50)
    wage = fields.CharField(max_length=50)
    pay_terms = fields.CharField(max_length=100, default="", db_default="")
    headcount = fields.IntField(default=1, db_default=1)
    start_date = fields.DateField(null=True)
    end_date = fields.DateField(null=True)
    contact = fields.CharField(max_length=50)
    expires_on = fields.DateField()
    verified_by = fields.CharField(max_length=50, default="", db_default="")
    pushed_at = fields.DatetimeField(null=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "job"
        indexes = (Index(fields=("expires_on", "work_type"), name="idx_job_expiry_type"),)


class WorkerProfile(Model):
    """A villager who opted in to job notices: skills, home, where they would go, and from when."""

    id = fields.IntField(primary_key=True)
    subscriber: fields.OneToOneRelation[Subscriber] = fields.OneToOneField(
        "models.Subscriber", related_name="worker_profile", on_delete=fields.CASCADE
    )
    subscriber_id: int
    skills = fields.CharField(max_length=200, default="", db_default="")  # pack_set()
    home_township = fields.CharField(max_length=50, default="", db_default="")
    destinations = fields.CharField(max_length=200, default="", db_default="")  # pack_set()
    available_from = fields.DateField(null=True)
    max_pushes_per_day = fields.IntField(default=1, db_default=1)
    last_pushed_on = fields.DateField(null=True)
    pushes_today = fields.IntField(default=0, db_default=0)
    active = fields.BooleanField(default=True, db_default=True)
    created_at = fields.DatetimeField(auto_now_add=True)
    updated_at = fields.DatetimeField(auto_now=True)

    class Meta:
        table = "worker_profile"


class WageArrearsNotice(Model):
    """The county labour bureau's warning about an employer that owes wages."""

    id = fields.IntField(primary_key=True)
    employer = fields.CharField(max_length=100)
    amount = fields.FloatField(default=0.0)
    case_status = fields.CharField(max_length=50, default="", db_default="")
    published_by = fields.CharField(max_length=50, default="", db_default="")
    published_on = fields.DateField()
    active = fields.BooleanField(default=True, db_default=True)
    created_at = fields.DatetimeField(auto_now_add=True)

    class Meta:
        table = "wage_arrears_notice"
