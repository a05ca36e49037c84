"""我的: what we know about the sender and what they receive."""

from __future__ import annotations

from bot.messages import InboundMessage, Reply
from bot.routing import Context, Router
from handlers.register import summary

router = Router("profile")


@router.keyword("我的", "我的信息", "个人信息", "我的订阅", "查询订阅")
async def show_profile(msg: InboundMessage, ctx: Context) -> Reply | None:
    """我的 我的信息 我的订阅"""
    sub = ctx.subscriber
    if sub is None:
        return None
    if sub.status == "opted_out":
        state = "已退订全部推送（回复“订阅”恢复）"
    else:
        state = "订阅：" + ("、".join(sub.topic_list) or "无（回复“订阅 技术”开通）")
    return Reply(f"{summary(sub)}。{state}。")
