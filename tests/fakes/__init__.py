"""Local fakes of the providers, as real HTTP servers that speak their wire protocols."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp import web


async def run_by_hand(app: web.Application, port: int, env: dict[str, str], who: str,
                      typed: Callable[[aiohttp.ClientSession, str], Awaitable[None]]) -> None:
    """The by-hand demos: serve a fake on 127.0.0.1:`port`, print how to start nongbot against it
    (`env`), and hand every line typed on stdin (as `who`) to `typed` until Ctrl-D."""
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    settings = " ".join(f"{name}={value}" for name, value in env.items())
    print(f"fake listening on http://127.0.0.1:{port}; start nongbot with:\n  {settings} scripts/serve\n"
          f"Type what {who} writes; Ctrl-D quits.", file=sys.stderr)
    try:
        async with aiohttp.ClientSession() as session:
            while line := await asyncio.to_thread(sys.stdin.readline):
                await typed(session, line.rstrip("\n"))
    finally:
        await runner.cleanup()
