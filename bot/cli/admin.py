"""Administration: console accounts, API bearer tokens and the WeChat menu."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import json
import sys

from bot.channels import wechat
from bot.cli.base import UsageError, officer_named, with_database
from bot.config import Config
from bot.models import Officer
from bot.web import auth


def cmd_officer_add(args: argparse.Namespace, config: Config) -> int:
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = getpass.getpass(f"password for {args.name}: ")
        if getpass.getpass("again: ") != password:
            raise UsageError("the passwords differ")

    async def add() -> None:
        if await Officer.exists(name=args.name):
            raise UsageError(f"officer {args.name!r} exists already")
        try:
            await auth.add_officer(args.name, args.role, password)
        except ValueError as exc:
            raise UsageError(str(exc)) from None

    with_database(config, add)
    print(f"officer {args.name} added as {args.role}")
    return 0


def cmd_token_create(args: argparse.Namespace, config: Config) -> int:
    async def create() -> str:
        return await auth.create_token(await officer_named(args.name))

    print(with_database(config, create))
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
