"""The message log (every text in and out, broadcast deliveries too), resending a failed one, the review of
the bot's answers and the channels' status page."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Filled in below as the pages land."""
