"""A small keyword router: ordered routes, first match wins, nested routers, one fallback."""

from __future__ import annotations

import dataclasses
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from bot.messages import InboundMessage, Reply
from bot.textnorm import keyword_form
from content.intents import classify

if TYPE_CHECKING:
    from aiohttp import web

    from bot.config import Config
    from bot.models import Message, Subscriber


@dataclass(frozen=True)
class Context:
    """What a handler may use besides the message itself."""

    app: web.Application
    config: Config
    subscriber: Subscriber | None
    inbound: Message | None = None
    args: str = ""  # for prefix keywords: the rest of the message after the keyword


Handler = Callable[[InboundMessage, Context], Awaitable[Reply | None]]
Predicate = Callable[[InboundMessage, Context], bool]


@dataclass(frozen=True)
class _Route:
    handler: Handler
    exact: frozenset[str] = frozenset()
    prefixes: tuple[str, ...] = ()
    predicate: Predicate | None = None

    def match(self, form: str, msg: InboundMessage, ctx: Context) -> Context | None:
        if form in self.exact:
            return ctx
        for word in self.prefixes:
            if form.startswith(word) and len(form) > len(word):
                return dataclasses.replace(ctx, args=form[len(word):])
        if self.predicate is not None and self.predicate(msg, ctx):
            return ctx
        return None


class Router:
    """Handlers return a Reply (handled; empty text means say nothing) or None (not mine)."""

    def __init__(self, name: str) -> None:
        self.name = name
        self._routes: list[_Route | Router] = []
        self._fallback: Handler | None = None

    def keyword(self, *words: str, prefix: tuple[str, ...] = ()) -> Callable[[Handler], Handler]:
        """Match the whole message against `words`, or its start against `prefix` (args follow)."""
        exact = frozenset(keyword_form(w) or w for w in words)
        prefixes = tuple(sorted((keyword_form(w) for w in prefix), key=len, reverse=True))
        return self._add(lambda h: _Route(h, exact=exact, prefixes=prefixes))

    def intent(self, *names: str) -> Callable[[Handler], Handler]:
        """Match texts that content/intents.py reads as one of `names` (price, supply, smalltalk …)."""
        wanted = frozenset(names)
        return self.when(lambda msg, ctx: classify(msg.text).name in wanted)

    def when(self, predicate: Predicate) -> Callable[[Handler], Handler]:
        return self._add(lambda h: _Route(h, predicate=predicate))

    def fallback(self) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._fallback = handler
            return handler

        return register

    def include(self, router: Router) -> None:
        self._routes.append(router)

    def _add(self, make: Callable[[Handler], _Route]) -> Callable[[Handler], Handler]:
        def register(handler: Handler) -> Handler:
            self._routes.append(make(handler))
            return handler

        return register

    async def dispatch(self, msg: InboundMessage, ctx: Context) -> tuple[str, Reply | None]:
        """Returns (handler name, reply); ('', None) when nothing, not even a fallback, answered."""
        form = keyword_form(msg.text)
        found = await self._dispatch(form, msg, ctx)
        return found if found is not None else ("", None)

    async def _dispatch(
        self, form: str, msg: InboundMessage, ctx: Context
    ) -> tuple[str, Reply | None] | None:
        for route in self._routes:
            if isinstance(route, Router):
                found = await route._dispatch(form, msg, ctx)
                if found is not None:
                    return found
                continue
            matched = route.match(form, msg, ctx)
            if matched is not None:
                reply = await route.handler(msg, matched)
                if reply is not None:
                    return _name(route.handler), reply
        if self._fallback is not None:
            reply = await self._fallback(msg, ctx)
            if reply is not None:
                return _name(self._fallback), reply
        return None


def _name(handler: Any) -> str:
    return f"{handler.__module__.rsplit('.', 1)[-1]}.{handler.__name__}"
