"""农户 (villagers) services: search by the console's filters, where a consent came from, add one person."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Q
from tortoise.queryset import QuerySet
from tortoise.transactions import in_transaction

from bot import consent, sandbox
from bot.models import CHANNELS, Subscriber
from bot.phones import normalise_phone
from bot.villagers import roster

FILTERS = ("q", "township", "village", "crop", "topic", "channel", "status")
STATUS_NAMES = {"active": "接收中", "opted_out": "已退订"}
PHONE_HINT = "按手机号查找请输入后 4 位或完整的 11 位号码。"


class AlreadyRegistered(Exception):
    """The phone belongs to a villager already (`subscriber_id` when known)."""

    def __init__(self, subscriber_id: int | None = None) -> None:
        super().__init__(subscriber_id)
        self.subscriber_id = subscriber_id


def search(f: dict[str, str], *, admin: bool) -> tuple[QuerySet[Subscriber], str]:
    """The subscribers matching the filters `f` (FILTERS, "" when not given), and a hint when the search
    text could not be used as given. The simulator's sandbox villagers are no villagers: never listed,
    found or exported. Only admins may search by the middle digits of a phone."""
    query, hint = Subscriber.filter(sandbox.real()), ""
    if q := f["q"]:
        digits = re.sub(r"\D", "", q)
        if digits and re.fullmatch(r"[\d\s+\-()]+", q):
            phone = normalise_phone(q)
            if phone is not None:
                query = query.filter(phone=phone)
            elif len(digits) <= 4:  # what the masked number shows anyway
                query = query.filter(phone__endswith=digits)
            elif admin:
                query = query.filter(phone__contains=digits)
            else:  # middle digits would let anyone unmask a number by trying
                query, hint = query.filter(id=-1), PHONE_HINT
        else:
            query = query.filter(Q(name__icontains=q) | Q(village__icontains=q) | Q(township__icontains=q))
    if f["township"]:
        query = query.filter(township=f["township"])
    if f["village"]:
        query = query.filter(village__icontains=f["village"])
    if f["crop"]:
        query = query.filter(crops__contains=f",{f['crop']},")
    if f["topic"]:
        query = query.filter(topics__contains=f",{f['topic']},")
    if f["channel"]:
        query = query.filter(preferred_channel=f["channel"])
    if f["status"]:
        query = query.filter(status=f["status"])
    return query, hint


def consent_label(source: str) -> str:
    """'import:张三' -> '表格导入（张三）': where a consent came from, in words."""
    kind, _, rest = source.partition(":")
    word, _, _channel = rest.partition(":")
    if kind == "import":
        return f"表格导入（{rest}）" if rest else "表格导入"
    if kind == "officer":
        return f"农技员代为办理（{rest}）" if rest else "农技员代为办理"
    if kind == "keyword":
        return f"发送“{word}”" if _channel else "发送关键词"
    if kind == "wechat":
        return {"subscribe": "关注公众号", "unsubscribe": "取消关注公众号"}.get(word, "扫码关注公众号")
    return {"first_message": "首次发来消息", "demo": "演示数据"}.get(kind, source)


async def add_person(row: dict[str, Any], source: str) -> Subscriber:
    """One villager from the API's fields, with `source` as their consent and an opt-in event.
    Raises roster.RowError for a bad field and AlreadyRegistered for a known phone."""
    values = roster.parse_row(row)
    if existing := await Subscriber.get_or_none(phone=values["phone"]):
        raise AlreadyRegistered(existing.id)
    try:
        async with in_transaction():
            person = await Subscriber.create(**values, consent_source=source[:64], opted_in_at=datetime.now(UTC))
            await consent.record(person, "opt_in", person.preferred_channel, source)
    except IntegrityError:  # registered at the same moment by another request
        raise AlreadyRegistered() from None
    return person


def summary(kind: str, report: roster.RosterReport) -> str:
    """An import's outcome for the audit trail."""
    return (f"{kind} import: {report.created} new, {report.updated} updated, {report.unchanged} unchanged, "
            f"{report.opted_out} opted out kept, {len(report.problems)} errors")


EDITABLE = ("name", "township", "village", "crops", "topics", "channel")
FIELD_NAMES = {"name": "姓名", "township": "乡镇", "village": "村", "crops": "作物", "topics": "订阅主题",
               "preferred_channel": "接收渠道"}


async def edit_person(person: Subscriber, row: dict[str, Any]) -> list[str]:
    """Change a villager's details from the console's form (the import's rules: crops under their
    standard names, known topics only). Returns the changed field names; RowError for a bad field.
    Their consent is not touched: an edit never opts anyone in or out."""
    values = roster.parse_details({key: row[key] for key in EDITABLE if key in row})
    channel = values.get("preferred_channel")
    if channel == "sms" and not person.phone:
        raise roster.RowError("channel: no phone", "这位农户没有手机号，不能改成短信接收")
    if channel == "wechat" and not person.wechat_openid:
        raise roster.RowError("channel: no wechat", "这位农户没有绑定微信，不能改成微信接收")
    changed = [key for key in FIELD_NAMES if key in values and getattr(person, key) != values[key]]  # form order
    for key in changed:
        setattr(person, key, values[key])
    if changed:
        await person.save(update_fields=[*changed, "updated_at"])
    return changed


def officer_source(officer_name: str) -> str:
    """The consent log's source for what an officer did on a villager's behalf."""
    return f"officer:{officer_name}"[:64]


async def opt_out_for(person: Subscriber, officer_name: str, reason: str) -> bool:
    """Opt a villager out on their behalf (they asked by phone, in person …): recorded in the consent
    log as the officer's act with the reason. False when they were already opted out."""
    channel = person.preferred_channel if person.preferred_channel in CHANNELS else "sms"
    return await consent.opt_out(person, channel, officer_source(officer_name), reason)
