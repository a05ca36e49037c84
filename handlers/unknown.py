"""The last resort: say we did not understand and point to the menu."""

from __future__ import annotations

from bot.messages import InboundMessage, Reply
from bot.routing import Context


async def not_understood(msg: InboundMessage, ctx: Context) -> Reply:
    """(anything no other handler took)"""
    return Reply("抱歉，没看懂您的意思。回复“帮助”查看能做什么，或直接描述作物和症状，如“洋芋叶子有黑斑”。")
