"""The `nongbot` command line: a table of commands (serve, migrate, chat, import, ask, officer, token,
broadcast, wechat), parsed with argparse; each command is a function in one of this package's modules."""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, NoReturn

from bot import logs
from bot.cli.admin import cmd_officer_add, cmd_token_create, cmd_wechat_menu
from bot.cli.base import UsageError
from bot.cli.broadcast import cmd_broadcast
from bot.cli.imports import cmd_import_articles, cmd_import_jobs, cmd_import_prices, cmd_import_subscribers
from bot.cli.run import cmd_ask, cmd_chat, cmd_migrate, cmd_serve
from bot.config import Config, ConfigError, load_config

log = logging.getLogger("nongbot.cli")
Run = Callable[[argparse.Namespace, Config], int]


def arg(*flags: str, **options: Any) -> tuple[tuple[str, ...], dict[str, Any]]:
    """One argument of a command, as argparse's add_argument takes it."""
    return flags, options


@dataclass(frozen=True)
class Command:
    """`nongbot <words…>`: its help line, its arguments and the function that runs it."""

    words: tuple[str, ...]
    help: str
    run: Run
    arguments: tuple[tuple[tuple[str, ...], dict[str, Any]], ...] = field(default=())


# Commands with sub-commands: (help, the argparse dest naming the chosen sub-command).
GROUPS = {
    "import": ("load data from a file", "kind"),
    "officer": ("console accounts", "officer_command"),
    "token": ("API bearer tokens", "token_command"),
    "wechat": ("WeChat Official Account tools", "wechat_command"),
    "broadcast": ("create, preview, approve, pause, resume, cancel, status", "broadcast_command"),
}
AS_OFFICER = arg("--as", dest="officer", required=True, help="the officer creating it")
AS_SUPERVISOR = arg("--as", dest="officer", required=True, help="the supervisor deciding")
REASON = arg("--reason", default="")
BROADCAST_ID = arg("id", type=int)
COMMANDS = (
    Command(("serve",), "run the service", cmd_serve, (
        arg("--role", choices=("all", "web", "worker"), default="all"),
        arg("--seed", action="store_true",
            help="load the bundled articles and demo villagers if the database is empty"),
    )),
    Command(("migrate",), "apply database migrations (idempotent)", cmd_migrate),
    Command(("chat",), "talk to the bot as a villager, through the full inbound pipeline", cmd_chat, (
        arg("--from", dest="sender", default=None, help="phone (sms) or openid (wechat)"),
        arg("--channel", choices=("sms", "wechat"), default="sms"),
    )),
    Command(("import", "articles"), "a directory of Markdown files or a JSONL file; upserts by ref",
            cmd_import_articles, (arg("path"),)),
    Command(("import", "subscribers"), "CSV: phone,name,township,village,crops,topics,channel",
            cmd_import_subscribers, (arg("path"),)),
    Command(("import", "jobs"), "CSV: employer,work_type,place,wage,pay_terms,headcount,start_date,"
                                "end_date,contact,expires_on,verified_by; verified rows are pushed",
            cmd_import_jobs, (arg("path"),)),
    Command(("import", "prices"), "CSV: date,market,commodity,price,unit[,source]", cmd_import_prices, (arg("path"),)),
    Command(("officer", "add"), "create an account (password from a prompt or --password-stdin)", cmd_officer_add, (
        arg("name"), arg("--role", choices=("officer", "supervisor", "admin"), required=True),
        arg("--password-stdin", action="store_true"),
    )),
    Command(("token", "create"), "print a new API bearer token for officer NAME", cmd_token_create, (arg("name"),)),
    Command(("wechat", "menu"), "publish the custom menu from wechat.menu", cmd_wechat_menu, (
        arg("--dry-run", action="store_true", help="print the menu as JSON, publish nothing"),
    )),
    Command(("broadcast", "create"), "create from a JSON file (the API's body) as officer --as", cmd_broadcast,
            (arg("file"), AS_OFFICER)),
    Command(("broadcast", "preview"), "recipients, channels, segments and cost for a JSON file", cmd_broadcast,
            (arg("file"),)),
    Command(("broadcast", "approve"), "approve broadcast ID", cmd_broadcast, (BROADCAST_ID, AS_SUPERVISOR)),
    Command(("broadcast", "reject"), "reject broadcast ID", cmd_broadcast, (BROADCAST_ID, AS_SUPERVISOR, REASON)),
    Command(("broadcast", "pause"), "pause broadcast ID", cmd_broadcast, (BROADCAST_ID,)),
    Command(("broadcast", "resume"), "resume broadcast ID", cmd_broadcast, (BROADCAST_ID,)),
    Command(("broadcast", "cancel"), "cancel broadcast ID", cmd_broadcast, (BROADCAST_ID, REASON)),
    Command(("broadcast", "status"), "status broadcast ID", cmd_broadcast, (BROADCAST_ID,)),
    Command(("ask",), "what the bot would answer to TEXT ('-' reads one question per line)", cmd_ask, (
        arg("--channel", choices=("sms", "wechat"), default="sms"),
        arg("--json", action="store_true", help="print {answer, answered, hits} (JSON Lines with -)"),
        arg("--limit", type=int, default=5, help="how many ranked hits to show"),
        arg("text"),
    )),
)


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


class _Command(_Parser):
    """A subcommand: takes --config too, so it may come before or after the command's name."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.add_argument("--config", default=argparse.SUPPRESS, help="config file (default: ./config.toml)")


def build_parser() -> argparse.ArgumentParser:
    """The parser for COMMANDS, in their order."""
    parser = _Parser(prog="nongbot", description="nongbot: farming advice by SMS and WeChat")
    parser.add_argument("--config", help="config file (default: ./config.toml)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Command)
    groups: dict[str, Any] = {}
    for command in COMMANDS:
        name, *rest = command.words
        if rest:
            if name not in groups:
                what, dest = GROUPS[name]
                groups[name] = sub.add_parser(name, help=what).add_subparsers(
                    dest=dest, required=True, parser_class=_Command)
            parent, name = groups[name], rest[0]
        else:
            parent = sub
        cmd = parent.add_parser(name, help=command.help)
        for flags, options in command.arguments:
            cmd.add_argument(*flags, **options)
        cmd.set_defaults(func=command.run)
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
