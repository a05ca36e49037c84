"""Weather: township forecasts on request, official warnings turned into pushes (issue 20)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Nothing yet: the weather feature is being built."""
