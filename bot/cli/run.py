"""Running the bot and talking to it: serve, migrate, chat (a villager's REPL) and ask (what it would answer)."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import sys
import uuid

from aiohttp import web

from bot import compose, inbox, logs
from bot.app import create_app
from bot.cli.base import UsageError, with_database
from bot.config import Config
from bot.messages import InboundMessage
from bot.phones import normalise_phone
from content.search import Searcher
from content.tokenizer import Tokenizer

log = logging.getLogger("nongbot.cli")


def cmd_serve(args: argparse.Namespace, config: Config) -> int:
    app = create_app(config, role=args.role, seed=args.seed)
    log.info("nongbot starting", extra={"role": args.role,
                                        "url": f"http://{config.server.host}:{config.server.port}"})
    web.run_app(
        app, host=config.server.host, port=config.server.port,
        shutdown_timeout=config.server.shutdown_timeout, print=None,
        access_log_class=logs.AccessLogger,  # secret routes logged as the route
    )
    log.info("nongbot stopped")
    return 0


def cmd_migrate(args: argparse.Namespace, config: Config) -> int:
    async def nothing() -> None:  # opening the database applies the migrations
        return None

    with_database(config, nothing)
    print("migrations applied")
    return 0


def cmd_chat(args: argparse.Namespace, config: Config) -> int:
    if args.channel == "sms":
        address = normalise_phone(args.sender or "13800138000")
        if address is None:
            raise UsageError(f"--from {args.sender!r} is not a phone number (e.g. 13800138000)")
    else:
        address = args.sender or "oChatDemoUser0000000000000000"
    return asyncio.run(_chat(config, args.channel, address))


async def _chat(config: Config, channel: str, address: str) -> int:
    app = create_app(config, role="cli")
    runner = web.AppRunner(app)
    await runner.setup()
    interactive = sys.stdin.isatty()
    if interactive:
        print(f"以 {address} 的身份通过 {channel} 与{config.bot.name}对话；Ctrl-D 退出。", file=sys.stderr)
    try:
        while True:
            if interactive:
                print("你> ", end="", flush=True, file=sys.stderr)
            line = await asyncio.to_thread(sys.stdin.readline)
            if not line:
                break
            msg = InboundMessage(
                channel=channel, provider="chat", address=address,
                text=line.rstrip("\r\n"), provider_id=f"chat-{uuid.uuid4().hex}",
            )
            outcome = await inbox.process(app, msg)
            print(outcome.reply.text if outcome.reply else "（无回复）", flush=True)
            print(flush=True)
    finally:
        await runner.cleanup()
    return 0


def cmd_ask(args: argparse.Namespace, config: Config) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    questions = sys.stdin.read().splitlines() if args.text == "-" else [args.text]

    async def load() -> Searcher:
        searcher = Searcher(await asyncio.to_thread(Tokenizer))
        await searcher.refresh()
        return searcher

    searcher = with_database(config, load)
    for question in questions:
        shown, _ = compose.ask(searcher, config, question, args.channel, args.limit)
        if args.json:
            print(json.dumps(shown, ensure_ascii=False), flush=True)
        else:
            print(shown["answer"] + "\n", flush=True)
    return 0
