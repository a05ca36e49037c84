"""Send a failed message again: a one-off push through the delivery engine (quiet hours, pacing and
retries as every broadcast), at most once per failed row."""

from __future__ import annotations

from dataclasses import dataclass

from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from bot import sandbox
from bot.messagelog.entries import FAILED
from bot.messagelog.models import Resend
from bot.models import Message, Officer, Subscriber
from broadcasts import pushes
from broadcasts.models import Broadcast, BroadcastRun, Delivery

KINDS = ("message", "delivery")
REPLY_KIND = "notice"  # a reply or an officer's message sent again goes as a notice (its template)


class Refused(Exception):
    """Why it cannot be sent again, in Chinese for the officer."""


@dataclass(frozen=True)
class Resent:
    broadcast: Broadcast
    subscriber: Subscriber
    text: str


async def _source(kind: str, source_id: int) -> tuple[int | None, str, str]:
    """(villager, text, broadcast kind) of a failed row, or Refused."""
    if kind == "message":
        message = await Message.get_or_none(id=source_id)
        if message is None or message.direction != "out":
            raise Refused("没有这条发出的消息。")
        if message.status not in FAILED:
            raise Refused("这条消息没有发送失败，不用重发。")
        return message.subscriber_id, message.body, REPLY_KIND
    delivery = await Delivery.get_or_none(id=source_id)
    if delivery is None:
        raise Refused("没有这条群发记录。")
    if delivery.state not in FAILED:
        raise Refused("这条群发没有发送失败，不用重发。")
    run = await BroadcastRun.get(id=delivery.run_id).prefetch_related("broadcast")
    return delivery.subscriber_id, run.text or run.broadcast.text, run.broadcast.kind


async def resend(kind: str, source_id: int, officer: Officer) -> Resent:
    """Push the failed row's text to its villager once more. The Resend row is written in the same
    transaction as the push, before it: a second request for the same row waits, then finds it."""
    if kind not in KINDS:
        raise Refused("只能重发消息或群发。")
    subscriber_id, text, push_kind = await _source(kind, source_id)
    person = await Subscriber.get_or_none(id=subscriber_id) if subscriber_id else None
    if person is None or sandbox.is_sandbox(person):
        raise Refused("找不到收信的农户（记录已删除），无法重发。")
    if not person.active:
        raise Refused("这位农户已经退订，按规定不能再给他发消息。")
    if not text.strip():
        raise Refused("这条消息没有内容，无法重发。")
    try:
        async with in_transaction():
            row = await Resend.create(kind=kind, source_id=source_id, subscriber_id=person.id,
                                      officer=officer, officer_name=officer.name)
            broadcast = await pushes.push(push_kind, text, [person.id])
            if broadcast is None:
                raise Refused("这位农户收不到推送，无法重发。")
            row.broadcast_id = broadcast.id
            await row.save(update_fields=["broadcast_id"])
    except IntegrityError:
        raise Refused("这条消息已经重发过了，不会再发一次。") from None
    return Resent(broadcast, person, text)
