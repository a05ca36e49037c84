"""Opt-out and opt-in: 退订/TD/T/取消/STOP… stop every push on every channel; START/订阅 resume."""

from __future__ import annotations

from bot import consent
from bot.messages import InboundMessage, Reply
from bot.routing import Context, Router

router = Router("optout")

# Chinese carrier conventions plus the English set Twilio documents (protocols.md §2.7).
OPT_OUT_WORDS = (
    "退订", "td", "t", "取消", "拒收", "r", "退订全部", "取消订阅",
    "stop", "stopall", "unsubscribe", "cancel", "end", "quit", "revoke", "optout",
)
OPT_IN_WORDS = ("订阅", "start", "unstop", "yes", "恢复", "恢复订阅", "开通")


@router.keyword(*OPT_OUT_WORDS)
async def opt_out(msg: InboundMessage, ctx: Context) -> Reply:
    """退订 TD T 取消 拒收 R STOP STOPALL UNSUBSCRIBE CANCEL END QUIT REVOKE OPTOUT"""
    name = ctx.config.bot.name
    if ctx.subscriber is None:
        return Reply(f"您没有订阅{name}的推送。")
    await consent.opt_out(ctx.subscriber, msg.channel, f"keyword:{msg.channel}", msg.text)
    return Reply(f"您已退订{name}的全部推送，今后不再给您发消息。想恢复请回复“订阅”。")


@router.keyword(*OPT_IN_WORDS)
async def opt_in(msg: InboundMessage, ctx: Context) -> Reply:
    """订阅 START UNSTOP YES 恢复"""
    name = ctx.config.bot.name
    if ctx.subscriber is None:
        return Reply("抱歉，暂时无法为您开通，请稍后再试。")
    resumed = await consent.opt_in(ctx.subscriber, msg.channel, f"keyword:{msg.channel}", msg.text)
    head = f"已恢复{name}的推送。" if resumed else f"您已开通{name}的推送。"
    return Reply(head + "可订阅：技术、价格、务工，如回复“订阅 价格 柑橘”。退订请回复TD。")
