"""Extension points a feature package fills from its setup(app): menu, dashboard cards, templates,
periodic work and events. The core reads them; it never names a feature."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, Generic, ParamSpec, TypeVar

from aiohttp import web

from bot import background

log = logging.getLogger("nongbot.extend")
P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True)
class MenuEntry:
    """One link in the console's side menu, shown to `role` and above; lower `order` comes first."""

    path: str
    label: str
    role: str = "officer"
    order: int = 50


@dataclass(frozen=True)
class Card:
    """A part of the 首页 (dashboard): `collect(app)` returns its numbers as plain JSON data, cached with
    the page and shown in /api/v1/stats under `name`; `template` is rendered inside the page with them as
    `card`, among the numbers at the top (place "tile") or the cards below the charts (place "card")."""

    name: str
    template: str
    collect: Callable[[web.Application], Awaitable[Any]]
    order: int = 50
    place: str = "card"


@dataclass(frozen=True)
class Periodic:
    """Work repeated every `seconds` in worker processes (role all or worker); a failure is logged
    and the next round runs as usual."""

    name: str
    seconds: float
    run: Callable[[web.Application], Awaitable[Any]]
    first_after: float = 0.0


@dataclass(frozen=True, eq=False)
class Event(Generic[P]):
    """Something a feature announces; other features listen. Declared by the feature that emits it,
    so the core never has to know its name."""

    name: str


Listener = Callable[..., Awaitable[Any]]


@dataclass(frozen=True, eq=False)
class Slot(Generic[P, R]):
    """A question one feature answers for others (the latest market price of a commodity): declared in
    the core, filled by at most one feature with `provide`, asked with `ask` (None when nobody fills it)."""

    name: str


@dataclass
class Extensions:
    menu: list[MenuEntry] = field(default_factory=list)
    cards: list[Card] = field(default_factory=list)
    templates: list[Path] = field(default_factory=list)
    periodic: list[Periodic] = field(default_factory=list)
    listeners: dict[Event[Any], list[Listener]] = field(default_factory=dict)
    providers: dict[Slot[Any, Any], Listener] = field(default_factory=dict)


EXTENSIONS = web.AppKey("extensions", Extensions)


def extensions(app: web.Application) -> Extensions:
    if EXTENSIONS not in app:
        app[EXTENSIONS] = Extensions()
    return app[EXTENSIONS]


def add_menu(app: web.Application, entry: MenuEntry) -> None:
    extensions(app).menu.append(entry)


def add_card(app: web.Application, card: Card) -> None:
    extensions(app).cards.append(card)


def add_templates(app: web.Application, folder: Path) -> None:
    """A feature's template folder; templates inside keep their own sub-folder, e.g. prices/index.html."""
    extensions(app).templates.append(folder)


def add_periodic(app: web.Application, work: Periodic) -> None:
    extensions(app).periodic.append(work)


def listen(app: web.Application, event: Event[P], listener: Callable[P, Awaitable[Any]]) -> None:
    extensions(app).listeners.setdefault(event, []).append(listener)


def provide(app: web.Application, slot: Slot[P, R], provider: Callable[P, Awaitable[R]]) -> None:
    extensions(app).providers[slot] = provider


async def ask(app: web.Application, slot: Slot[P, R], *args: P.args, **kwargs: P.kwargs) -> R | None:
    """What the slot's provider answers, or None when no feature provides it."""
    provider = extensions(app).providers.get(slot)
    return None if provider is None else await provider(*args, **kwargs)


async def emit(app: web.Application, event: Event[P], *args: P.args, **kwargs: P.kwargs) -> list[Any]:
    """Call every listener of `event` in registration order and return what they returned."""
    return [await listener(*args, **kwargs) for listener in extensions(app).listeners.get(event, [])]


async def repeat(app: web.Application, work: Periodic) -> None:
    """Run `work` every `work.seconds` until cancelled; for work every role needs (periodic_ctx runs
    the registered work in workers only)."""
    await asyncio.sleep(work.first_after)
    while True:
        try:
            await work.run(app)
        except Exception:  # one failed round must not stop the next
            log.exception("periodic work %s failed", work.name)
        await asyncio.sleep(work.seconds)


async def periodic_ctx(app: web.Application) -> AsyncIterator[None]:
    """Run every registered periodic work in its own loop for as long as the app lives."""
    async with background.running(*(repeat(app, work) for work in extensions(app).periodic)):
        yield


# Events that more than one feature uses, declared here so that neither names the other.
# A villager's questions still waiting for an officer (listeners return rows with .created_at and .text,
# newest first): the questions feature answers, the villager's profile page asks.
OPEN_QUESTIONS: Event[[int]] = Event("open_questions")


@dataclass(frozen=True)
class MarketPrice:
    """The newest published price of a commodity at one market (for context in other features' texts)."""

    market: str
    price: float
    unit: str  # 元/斤
    day: date


# The newest market price for a commodity's standard name, as of a county date: the prices feature
# provides it; others (the 供求 reply, matching against the market) ask.
MARKET_PRICE: Slot[[str, date], MarketPrice | None] = Slot("market_price")
# The recent 成交价 (agreed prices villagers reported) for a commodity's standard name, as one short
# phrase ("城关镇成交2.30元/斤，3笔"), or "": the 供求 feature provides it; the price reply may ask.
DEAL_PRICES: Slot[[str, date], str] = Slot("deal_prices")
# Names for the audit log (bot/web/audit.py): given a kind of object ("broadcasts", "questions" … the
# first path segment of the route acted on) and ids, a listener returns {id: name} for the kinds it knows.
AUDIT_NAMES: Event[[str, list[int]]] = Event("audit_names")
