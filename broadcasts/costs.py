"""What an approver weighs before saying yes: how many people a broadcast reaches now, on which
channel, its text as it would go out today (placeholders filled), SMS segments and the cost.

Counted with two COUNT queries (never by reading every recipient), so the approval queue stays
quick at 100,000 villagers; the channel each person gets is the one audience.channel_for picks."""

from __future__ import annotations

from datetime import date
from typing import Any

from tortoise.expressions import Q

from bot.config import Config
from bot.sms import segments
from broadcasts import audience as audiences
from broadcasts.placeholders import render


def _reachable(channel: str) -> Q:
    if channel == "sms":
        return Q(phone__isnull=False)
    return Q(wechat_openid__isnull=False, wechat_followed=True)


async def split(audience: audiences.Audience) -> dict[str, int]:
    """Recipients per channel: their preferred channel when allowed and reachable, else the other."""
    allowed = audience.allowed_channels
    query = audiences.matching(audience)
    if len(allowed) == 1:
        return {allowed[0]: await query.count()}
    total = await query.count()
    # SMS: those who prefer it, and those who cannot get WeChat (matching() keeps only the reachable).
    sms = await query.filter(_reachable("sms") & (Q(preferred_channel="sms") | ~_reachable("wechat"))).count()
    return {"sms": sms, "wechat": total - sms}


async def estimate(audience_json: dict[str, Any] | None, text: str, config: Config, today: date) -> dict[str, Any]:
    """The preview an approver sees. `error` is set (and the counts are 0) when the stored audience
    cannot be read any more."""
    filled = await render(text, today)
    per_sms = segments(config.sms.signature + filled)
    try:
        by_channel = await split(audiences.Audience.from_json(audience_json))
        error = ""
    except ValueError:
        by_channel, error = {}, "收件人条件无法识别"
    sms = by_channel.get("sms", 0)
    return {
        "recipients": sum(by_channel.values()), "by_channel": by_channel, "text": filled,
        "filled": filled != text, "sms_segments": per_sms, "sms_segments_total": per_sms * sms,
        "estimated_cost_yuan": round(per_sms * sms * config.sms.cost_per_segment, 2), "error": error,
    }
