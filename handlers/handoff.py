"""Texts that need a person: 找农技员 / 转人工 (供求 has its own feature: handlers/trade.py)."""

from __future__ import annotations

from bot.messages import InboundMessage, Reply
from bot.questions.answering import Asker, to_inbox
from bot.routing import Context, Router

router = Router("handoff")


@router.intent("human")
async def ask_for_officer(msg: InboundMessage, ctx: Context) -> Reply:
    """我要找农技员 / 转人工 / 打电话给我: into the officers' inbox, and the villager is told so"""
    await to_inbox(Asker(ctx.subscriber, ctx.inbound, msg.channel), msg.text, "human")
    return Reply("好的，已经转给农技员，他们上班时间会尽快回复您。"
                 "您也可以先把作物和遇到的问题发过来，农技员看得更明白。")

