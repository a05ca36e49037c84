"""Help: 帮助 / 菜单 / ? / HELP (and an empty message) list what can be texted."""

from __future__ import annotations

from bot.messages import InboundMessage, Reply
from bot.routing import Context, Router

router = Router("help")


def menu(ctx: Context) -> str:
    county = ctx.config.bot.county
    return (
        f"欢迎使用{county}{ctx.config.bot.name}！直接发问题就行，如“苞谷叶子发黄咋办”。\n"
        "订阅 技术/价格/务工：接收推送，可加作物，如“订阅 价格 柑橘”\n"
        "退订 价格：停收某一类\n"
        "登记：登记姓名和乡镇村\n"
        "我的：查看登记和订阅\n"
        "找工作：看招工；维权：欠薪投诉\n"
        "TD：退订全部推送"
    )


@router.keyword("帮助", "菜单", "?", "help", "info", "h", "帮忙", "功能", "说明")
async def show_help(msg: InboundMessage, ctx: Context) -> Reply:
    """帮助 菜单 ? HELP INFO"""
    return Reply(menu(ctx))


@router.when(lambda msg, ctx: not msg.text.strip())
async def empty_message(msg: InboundMessage, ctx: Context) -> Reply:
    """(an empty message)"""
    return Reply("您发来的是空消息。" + menu(ctx))
