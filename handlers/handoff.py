"""Texts that need a person: 找农技员 / 转人工, and 供求 (selling or buying) until its own feature lands."""

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


@router.intent("supply")
async def supply_demand(msg: InboundMessage, ctx: Context) -> Reply:
    """我有两千斤柑橘要卖 / 有人收核桃吗 / 哪里买脱毒洋芋种: 供求, forwarded to the officers"""
    await to_inbox(Asker(ctx.subscriber, ctx.inbound, msg.channel), msg.text, "supply")
    return Reply("收到您的供求信息，已转给县农技站，有合适的收购或货源会联系您。"
                 "请写清品种、数量、价格和在哪个乡镇村。查价格可发“价格 柑橘”。")
