"""Keyword handlers, one module per topic; `build_router` fixes their order (opt-out first)."""

from __future__ import annotations

from bot.routing import Router
from handlers import (
    feedback,
    handoff,
    help,
    labour,
    optout,
    prices,
    profile,
    rating,
    register,
    search,
    smalltalk,
    subscribe,
    trade,
    weather,
)


def build_router() -> Router:
    root = Router("root")
    root.include(optout.router)  # before anything else: a stop word must always stop
    root.include(help.router)
    root.include(feedback.router)  # "意见：柑橘价格发晚了" is a comment, not a price question
    root.include(rating.router)  # 不对 / 没用 / 有用 right after an answer; otherwise not caught here
    root.include(prices.alerts_router)  # before subscribe: "取消提醒 柑橘" is not "取消 柑橘"
    root.include(trade.router)  # before subscribe: "取消 1" / "不要 3" answer 供求, not topics
    root.include(subscribe.router)
    root.include(labour.router)  # before register: "登记务工 电工 十堰" is not "登记 <name>"
    root.include(register.router)
    root.include(profile.router)
    root.include(prices.router)  # "柑橘多少钱": before search, which would hand it to an officer
    root.include(search.router)  # 更多 and numbered choices
    root.include(register.dialog_router)  # answers to "请回复您的姓名" and the like
    # What content/intents.py reads as not a farming question (prices and jobs matched above).
    root.include(smalltalk.router)
    root.include(trade.intent_router)  # 供求 in everyday words ("我有两千斤柑橘要卖"): a listing
    root.include(handoff.router)
    root.include(weather.router)
    root.fallback()(search.answer_question)
    return root
