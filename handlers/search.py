"""The last fallback: a farming question answered from the knowledge base (bot/questions/answering.py),
更多 for the next page and numbers for the choices offered."""

from __future__ import annotations

from bot.keys import SEARCH
from bot.messages import InboundMessage, Reply
from bot.questions import answering
from bot.routing import Context, Router

router = Router("search")

MORE_WORDS = ("更多", "more", "继续", "下一页", "接着说", "还有呢")


def asker(msg: InboundMessage, ctx: Context) -> answering.Asker:
    return answering.Asker(ctx.subscriber, ctx.inbound, msg.channel)


@router.keyword(*MORE_WORDS)
async def more(msg: InboundMessage, ctx: Context) -> Reply:
    """更多 / 继续 / MORE: the next part of the article just sent"""
    return Reply(await answering.more(ctx.app[SEARCH], ctx.config, ctx.subscriber, msg.channel))


def _picks_choice(msg: InboundMessage, ctx: Context) -> bool:
    return answering.picks_choice(ctx.subscriber, msg.text)


@router.when(_picks_choice)
async def open_choice(msg: InboundMessage, ctx: Context) -> Reply:
    """1 / 2 / 3 …: open one of the numbered articles offered last"""
    return Reply(await answering.open_choice(ctx.app[SEARCH], ctx.config, asker(msg, ctx), msg.text))


async def answer_question(msg: InboundMessage, ctx: Context) -> Reply:
    """(any other text): search the knowledge base; hand weak matches to an officer"""
    return Reply(await answering.answer(ctx.app[SEARCH], ctx.config, asker(msg, ctx), msg.text))
