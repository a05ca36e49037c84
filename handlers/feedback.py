"""Villagers' comments for the officers: 反馈 / 意见 / 建议 / 投诉 followed by the text (also "意见：…")."""

from __future__ import annotations

import re
import unicodedata

from bot.messages import InboundMessage, Reply
from bot.questions.answering import Asker, to_inbox
from bot.routing import Context, Router
from bot.textnorm import keyword_form

router = Router("feedback")

WORDS = ("反馈", "意见", "建议", "投诉")
LEAD = re.compile(r"^\s*(?:我(?:有|要|提)?(?:个|一个|点|一点)?)?(反馈|意见|建议|投诉)(\s*[:：,，、。!！]\s*|\s+)?(.*)$",
                  re.S)
# "建议打啥药" asks the knowledge base a question; "建议：…" or "建议 …" (a separator) is always a comment.
QUESTION = re.compile(r"咋|怎么|怎样|么样|吗|啥|什么|多少|如何|哪里|哪个|为什么|能不能|可不可以|要不要|用不用")
WAGES = ("欠薪", "工资", "工钱", "讨薪")
THANKS = "谢谢您的{kind}！已转给县农技站，农技员会认真看，需要时会回复您。"
ASK_TEXT = "请在“{kind}”后面写上您想说的话，如“{kind}：价格信息来得太晚”。"


def _parse(text: str) -> tuple[str, str, bool] | None:
    """(keyword, the comment, whether a separator followed the keyword), or None."""
    match = LEAD.match(unicodedata.normalize("NFKC", text))
    if match is None:
        return None
    return match.group(1), match.group(3).strip(), match.group(2) is not None


def _is_feedback(msg: InboundMessage, ctx: Context) -> bool:
    parsed = _parse(msg.text)
    if parsed is None:
        return False
    _, rest, separated = parsed
    return separated or not rest or QUESTION.search(rest) is None


@router.when(_is_feedback)
async def feedback(msg: InboundMessage, ctx: Context) -> Reply:
    """反馈 … / 意见 … / 建议 … / 投诉 … (also 意见：…): a comment for the officers"""
    parsed = _parse(msg.text)
    assert parsed is not None
    word, rest, _ = parsed
    kind = "投诉" if word == "投诉" else "建议" if word == "建议" else "意见"
    if len(keyword_form(rest)) < 2:
        return Reply(ASK_TEXT.format(kind=word))
    await to_inbox(Asker(ctx.subscriber, ctx.inbound, msg.channel), msg.text, "feedback")
    reply = THANKS.format(kind=kind)
    if any(w in rest for w in WAGES):
        reply += f"被欠工资也可直接打{ctx.config.bot.labour_hotline}。"
    return Reply(reply)
