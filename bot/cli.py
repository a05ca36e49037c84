"""The `nongbot` command line: serve, migrate, chat, import, ask, officer, token, broadcast, wechat."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import logging
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from aiohttp import web

from bot import db, inbox, logs, roster
from bot.app import create_app
from bot.channels import wechat
from bot.config import Config, ConfigError, load_config
from bot.messages import InboundMessage
from bot.models import Officer
from bot.phones import normalise_phone
from bot.web import auth
from content import importer
from content.loader import read_path
from content.search import Searcher
from content.tokenizer import Tokenizer
from handlers import search as search_handler

log = logging.getLogger("nongbot.cli")


class UsageError(Exception):
    """A user mistake on the command line; shown as one line, exit 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class _Command(_Parser):
    """A subcommand: takes --config too, so it may come before or after the command's name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--config", default=argparse.SUPPRESS, help="config file (default: ./config.toml)")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="nongbot", description="nongbot: farming advice by SMS and WeChat")
    parser.add_argument("--config", help="config file (default: ./config.toml)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Command)

    serve = sub.add_parser("serve", help="run the service")
    serve.add_argument("--role", choices=("all", "web", "worker"), default="all")
    serve.add_argument("--seed", action="store_true",
                       help="load the bundled articles and demo villagers if the database is empty")
    serve.set_defaults(func=cmd_serve)

    migrate = sub.add_parser("migrate", help="apply database migrations (idempotent)")
    migrate.set_defaults(func=cmd_migrate)

    chat = sub.add_parser("chat", help="talk to the bot as a villager, through the full inbound pipeline")
    chat.add_argument("--from", dest="sender", default=None, help="phone (sms) or openid (wechat)")
    chat.add_argument("--channel", choices=("sms", "wechat"), default="sms")
    chat.set_defaults(func=cmd_chat)

    imp = sub.add_parser("import", help="load data from a file")
    kinds = imp.add_subparsers(dest="kind", required=True, parser_class=_Command)
    articles = kinds.add_parser("articles", help="a directory of Markdown files or a JSONL file; upserts by ref")
    articles.add_argument("path")
    articles.set_defaults(func=cmd_import_articles)
    people = kinds.add_parser("subscribers", help="CSV: phone,name,township,village,crops,topics,channel")
    people.add_argument("path")
    people.set_defaults(func=cmd_import_subscribers)
    job_cmd = kinds.add_parser("jobs", help="CSV: employer,work_type,place,wage,pay_terms,headcount,start_date,"
                                            "end_date,contact,expires_on,verified_by; verified rows are pushed")
    job_cmd.add_argument("path")
    job_cmd.set_defaults(func=cmd_import_jobs)
    price_cmd = kinds.add_parser("prices", help="CSV: date,market,commodity,price,unit[,source]")
    price_cmd.add_argument("path")
    price_cmd.set_defaults(func=cmd_import_prices)

    officer = sub.add_parser("officer", help="console accounts")
    officer_cmds = officer.add_subparsers(dest="officer_command", required=True, parser_class=_Command)
    add = officer_cmds.add_parser("add", help="create an account (password from a prompt or --password-stdin)")
    add.add_argument("name")
    add.add_argument("--role", choices=("officer", "supervisor", "admin"), required=True)
    add.add_argument("--password-stdin", action="store_true")
    add.set_defaults(func=cmd_officer_add)

    token = sub.add_parser("token", help="API bearer tokens")
    token_cmds = token.add_subparsers(dest="token_command", required=True, parser_class=_Command)
    make = token_cmds.add_parser("create", help="print a new API bearer token for officer NAME")
    make.add_argument("name")
    make.set_defaults(func=cmd_token_create)

    wx = sub.add_parser("wechat", help="WeChat Official Account tools")
    wx_cmds = wx.add_subparsers(dest="wechat_command", required=True, parser_class=_Command)
    menu = wx_cmds.add_parser("menu", help="publish the custom menu from wechat.menu")
    menu.add_argument("--dry-run", action="store_true", help="print the menu as JSON, publish nothing")
    menu.set_defaults(func=cmd_wechat_menu)

    bc = sub.add_parser("broadcast", help="create, preview, approve, pause, resume, cancel, status")
    bc_cmds = bc.add_subparsers(dest="broadcast_command", required=True, parser_class=_Command)
    for name, what in (("create", "create from a JSON file (the API's body) as officer --as"),
                       ("preview", "recipients, channels, segments and cost for a JSON file")):
        cmd = bc_cmds.add_parser(name, help=what)
        cmd.add_argument("file")
        if name == "create":
            cmd.add_argument("--as", dest="officer", required=True, help="the officer creating it")
        cmd.set_defaults(func=cmd_broadcast)
    for name in ("approve", "reject", "pause", "resume", "cancel", "status"):
        cmd = bc_cmds.add_parser(name, help=f"{name} broadcast ID")
        cmd.add_argument("id", type=int)
        if name in ("approve", "reject"):
            cmd.add_argument("--as", dest="officer", required=True, help="the supervisor deciding")
        if name in ("reject", "cancel"):
            cmd.add_argument("--reason", default="")
        cmd.set_defaults(func=cmd_broadcast)

    ask = sub.add_parser("ask", help="what the bot would answer to TEXT ('-' reads one question per line)")
    ask.add_argument("--channel", choices=("sms", "wechat"), default="sms")
    ask.add_argument("--json", action="store_true", help="print {answer, answered, hits} (JSON Lines with -)")
    ask.add_argument("--limit", type=int, default=5, help="how many ranked hits to show")
    ask.add_argument("text")
    ask.set_defaults(func=cmd_ask)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        config = load_config(args.config)
    except ConfigError as exc:
        print(f"nongbot: config error: {exc}", file=sys.stderr)
        return 2
    logs.configure(config.server.log_level, config.server.log_format)
    try:
        return int(args.func(args, config))
    except UsageError as exc:
        print(f"nongbot: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `nongbot … | head`: the reader left, which is not an error
        sys.stderr.close()
        return 0


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
    async def run() -> None:
        async with db.database(config.database.url):
            pass

    asyncio.run(run())
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


def cmd_import_articles(args: argparse.Namespace, config: Config) -> int:
    path = Path(args.path)
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory")
    report = read_path(path)
    for error in report.errors:
        print(f"skipped {error}", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", file=sys.stderr, flush=True)

    async def run() -> importer.ImportCounts:
        async with db.database(config.database.url):
            return await importer.upsert(report.articles, progress)

    counts = asyncio.run(run())
    print(file=sys.stderr)
    # Untitled rows are kept with a title made from their first sentence; say how many, so it is no surprise.
    print(f"articles: {counts.created} new, {counts.updated} updated, {counts.unchanged} unchanged, "
          f"{len(report.errors)} skipped, {report.derived_titles} titles derived from the text")
    return 1 if report.errors else 0


def cmd_officer_add(args: argparse.Namespace, config: Config) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the passwords differ")

    async def run() -> None:
        async with db.database(config.database.url):
            if await Officer.exists(name=args.name):
                raise UsageError(f"officer {args.name!r} exists already")
            try:
                await auth.add_officer(args.name, args.role, password)
            except ValueError as exc:
                raise UsageError(str(exc)) from None

    asyncio.run(run())
    print(f"officer {args.name} added as {args.role}")
    return 0


def cmd_token_create(args: argparse.Namespace, config: Config) -> int:
    async def run() -> str:
        async with db.database(config.database.url):
            officer = await Officer.get_or_none(name=args.name, active=True)
            if officer is None:
                raise UsageError(f"no active officer named {args.name!r}")
            return await auth.create_token(officer)

    print(asyncio.run(run()))
    return 0


def cmd_wechat_menu(args: argparse.Namespace, config: Config) -> int:
    try:
        buttons = wechat.menu_buttons(config.wechat.menu)
    except ValueError as exc:
        raise UsageError(f"wechat.menu: {exc}") from None
    if args.dry_run:
        print(json.dumps({"button": buttons}, ensure_ascii=False, indent=2))
        return 0
    if not config.wechat.enabled:
        raise UsageError("wechat.enabled is false; enable it and set the WeChat secrets to publish the menu")
    try:
        asyncio.run(wechat.publish_menu(config, buttons))
    except wechat.WechatError as exc:
        print(f"nongbot: WeChat refused the menu: {exc}", file=sys.stderr)
        return 1
    print(f"menu published ({len(buttons)} buttons)")
    return 0


def cmd_import_subscribers(args: argparse.Namespace, config: Config) -> int:
    path = Path(args.path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")

    async def run() -> roster.RosterReport:
        async with db.database(config.database.url):
            return await roster.import_csv(path)

    report = asyncio.run(run())
    for error in report.errors:
        print(f"skipped {error}", file=sys.stderr)
    print(f"subscribers: {report.created} new, {report.updated} updated, {len(report.errors)} skipped")
    return 1 if report.errors else 0


def cmd_import_jobs(args: argparse.Namespace, config: Config) -> int:
    from datetime import datetime

    from bot.labour import service as jobs
    from broadcasts import job_push

    path = Path(args.path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")

    async def run() -> tuple[jobs.JobReport, int]:
        async with db.database(config.database.url):
            report = await jobs.import_csv(path, datetime.now(config.tz).date())
            return report, await job_push.push_jobs(config, report.verified_ids)

    report, reached = asyncio.run(run())
    for error in report.error_lines():
        print(f"skipped {error}", file=sys.stderr)
    print(f"jobs: {report.created} new, {report.updated} updated, {len(report.errors)} skipped; "
          f"{reached} workers notified")
    return 1 if report.errors else 0


def cmd_broadcast(args: argparse.Namespace, config: Config) -> int:
    """The CLI face of broadcasts/service.py: the same rules as the API (roles, approval, states)."""
    from broadcasts import audience as audiences
    from broadcasts import service
    from broadcasts.models import Broadcast

    action = args.broadcast_command
    body: dict[str, object] = {}
    if action in ("create", "preview"):
        try:
            loaded = json.loads(Path(args.file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{args.file}: {exc}") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"{args.file}: expected a JSON object")
        body = loaded

    async def officer(name: str) -> Officer:
        found = await Officer.get_or_none(name=name, active=True)
        if found is None:
            raise UsageError(f"no active officer named {name!r}")
        return found

    async def run() -> object:
        async with db.database(config.database.url):
            try:
                if action == "preview":
                    return await audiences.preview(audiences.Audience.from_json(body.get("audience")),  # type: ignore[arg-type]
                                                   str(body.get("text") or ""), config)
                if action == "create":
                    made, shown = await service.create(body, await officer(args.officer), config)
                    return {"id": made.id, "state": made.state, "preview": shown}
                broadcast = await Broadcast.get_or_none(id=args.id)
                if broadcast is None:
                    raise UsageError(f"no broadcast {args.id}")
                if action == "approve":
                    broadcast = await service.approve(broadcast, await officer(args.officer), config)
                elif action == "reject":
                    broadcast = await service.reject(broadcast, await officer(args.officer), args.reason)
                elif action in ("pause", "resume"):
                    broadcast = await getattr(service, action)(broadcast)
                elif action == "cancel":
                    broadcast = await service.cancel(broadcast, args.reason)
                return await service.describe(broadcast)
            except ValueError as exc:  # BroadcastError, AudienceError: the user's mistake
                raise UsageError(str(exc)) from None

    print(json.dumps(asyncio.run(run()), ensure_ascii=False, indent=2, default=str))
    return 0


def cmd_import_prices(args: argparse.Namespace, config: Config) -> int:
    from bot.prices import service as prices
    from broadcasts import alerts

    path = Path(args.path)
    if not path.is_file():
        raise UsageError(f"{path}: no such file")
    rows, problems = prices.read_csv(path)

    async def run() -> tuple[prices.PriceReport, int]:
        async with db.database(config.database.url):
            report = await prices.store(rows, config, source=path.name, recorded_by="import")
            return report, await alerts.evaluate(report.commodity_ids)

    report, fired = asyncio.run(run())
    for problem in [*problems, *(f"{path}:{e}" for e in report.errors)]:
        print(f"skipped {problem}" if "suspect" not in problem and "kept" not in problem else problem,
              file=sys.stderr)
    print(f"prices: {report.stored} new, {report.updated} updated, {report.suspect} held as suspect, "
          f"{report.unmapped} kept for mapping, {len(report.errors) - report.suspect - report.unmapped + len(problems)} "
          f"rejected; {fired} alerts")
    return 1 if problems or report.errors else 0


def cmd_ask(args: argparse.Namespace, config: Config) -> int:
    if args.limit < 1:
        raise UsageError("--limit must be at least 1")
    questions = sys.stdin.read().splitlines() if args.text == "-" else [args.text]

    async def run() -> None:
        async with db.database(config.database.url):
            searcher = Searcher(await asyncio.to_thread(Tokenizer))
            await searcher.refresh()
        for question in questions:
            shown, _ = search_handler.ask(searcher, config, question, args.channel, args.limit)
            if args.json:
                print(json.dumps(shown, ensure_ascii=False), flush=True)
            else:
                print(shown["answer"] + "\n", flush=True)

    asyncio.run(run())
    return 0
