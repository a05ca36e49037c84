"""Keyword handlers, one module per topic; `build_router` fixes their order (opt-out first)."""

from __future__ import annotations

from bot.routing import Router
from handlers import help, optout, profile, register, search, subscribe


def build_router() -> Router:
    root = Router("root")
    root.include(optout.router)  # before anything else: a stop word must always stop
    root.include(help.router)
    root.include(subscribe.router)
    root.include(register.router)
    root.include(profile.router)
    root.include(search.router)  # 更多 and numbered choices
    root.include(register.dialog_router)  # answers to "请回复您的姓名" and the like
    root.fallback()(search.answer_question)
    return root
