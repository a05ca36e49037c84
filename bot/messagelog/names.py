"""Names of what the audit log mentions that this feature can name: broadcasts (by their first line),
messages and deliveries sent again (by their villager)."""

from __future__ import annotations

from bot.messagelog.entries import first_line
from bot.models import Message
from broadcasts.models import Broadcast, Delivery


async def audit_names(kind: str, ids: list[int]) -> dict[int, str]:
    if kind == "broadcasts":
        return {b.id: f"《{first_line(b.text)}》" for b in await Broadcast.filter(id__in=ids)}
    if kind == "messages":
        return {m.id: f"「{first_line(m.body)}」" for m in await Message.filter(id__in=ids)}
    if kind == "deliveries":
        rows = await Delivery.filter(id__in=ids).prefetch_related("run__broadcast")
        return {d.id: f"《{first_line(d.run.text or d.run.broadcast.text)}》" for d in rows}
    return {}
