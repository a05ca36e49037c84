"""Supply and demand (供求): listings by text, buyers, matching with consent to share phones (issue 19)."""

from __future__ import annotations

from aiohttp import web


def setup(app: web.Application) -> None:
    """Nothing yet: the supply-and-demand feature is being built."""
