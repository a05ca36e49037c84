"""Texts that are not questions: greetings, thanks, okays, keyboard noise and off-domain asks get one line."""

from __future__ import annotations

from bot.messages import InboundMessage, Reply
from bot.routing import Context, Router
from content.intents import classify

router = Router("smalltalk")

EXAMPLE = "直接发作物和问题就行，如“苞谷叶子发黄咋办”"
THANKS_START = ("谢", "多谢", "感谢", "辛苦", "麻烦", "费心", "太感谢", "非常感谢")
GREETING_END = ("好", "在吗", "在不在", "在不", "喽", "hello", "hi", "嗨", "喂", "早安", "晚安", "有人吗", "有人在吗",
                "有人没", "师傅", "老师", "同志", "领导")
BYE = ("再见", "拜拜", "88", "886", "回头聊", "下次再问", "没事了", "没有了", "没得了", "不用了")


@router.intent("smalltalk")
async def small_talk(msg: InboundMessage, ctx: Context) -> Reply:
    """你好 / 谢谢 / 好的 / 收到 / 晓得了 / 要得 / 再见 …: one friendly line, no officer"""
    cue = classify(msg.text).cue
    if cue.startswith(THANKS_START):
        return Reply("不客气！种养上还有问题，随时发过来。")
    if cue in BYE:
        return Reply("好的，有事随时发短信过来。")
    if cue.endswith(GREETING_END):
        return Reply(f"您好！我是{ctx.config.bot.name}，{EXAMPLE}；回复“帮助”看能办什么。")
    return Reply("好的。还有问题随时发过来。")


@router.intent("noise")
async def noise(msg: InboundMessage, ctx: Context) -> Reply:
    """asdfgh / ？？？ / 😀 / a lone number with no choices shown: a short hint, no officer"""
    if classify(msg.text).cue == "^[0-9]+$":
        return Reply(f"现在没有可以选的编号。{EXAMPLE}。")
    return Reply(f"没看懂您的意思。{EXAMPLE}；回复“帮助”看菜单。")


@router.intent("offdomain")
async def off_domain(msg: InboundMessage, ctx: Context) -> Reply:
    """医保 / 话费 / 低保 / 身份证 …: not ours to answer; say where to ask"""
    return Reply("这个问题农技服务答不了，请问村委会，或打12345政务服务热线。"
                 "种养技术、价格、务工的问题随时发过来。")
