"""The custom menu: wechat.menu parsed into buttons, published with `nongbot wechat menu`."""

from __future__ import annotations

from typing import Any

import aiohttp

from bot import db
from bot.config import Config

from .client import WechatApi
from .sender import WechatSender
from .settings import settings
from .tokens import TokenStore

# Menu click keys → the text a click stands for, so the same handlers answer (config: wechat.menu).
MENU_KEYWORDS = {"MENU_ASK": "帮助", "MENU_PRICES": "价格", "MENU_JOBS": "找工作", "MENU_MINE": "我的订阅",
                 "MENU_HELP": "帮助"}


def menu_buttons(spec: str) -> list[dict[str, Any]]:
    """wechat.menu → the "button" list of menu/create; ValueError says what is wrong."""
    buttons: list[dict[str, Any]] = []
    for entry in (part.strip() for part in spec.split(";")):
        if not entry:
            continue
        if ":" in entry.split("=", 1)[0]:  # "label: a=KEY, b=KEY" is a group
            label, _, rest = entry.partition(":")
            subs = [_click(part, 60) for part in rest.split(",") if part.strip()]
            if not 1 <= len(subs) <= 5:
                raise ValueError(f"group {label.strip()!r}: expected 1 to 5 buttons, got {len(subs)}")
            buttons.append({"name": _label(label, 16), "sub_button": subs})
        else:
            buttons.append(_click(entry, 16))
    if not 1 <= len(buttons) <= 3:
        raise ValueError(f"expected 1 to 3 top-level buttons, got {len(buttons)}")
    return buttons


def _click(entry: str, limit: int) -> dict[str, str]:
    label, sep, key = entry.partition("=")
    if not sep or key.strip() not in MENU_KEYWORDS:
        raise ValueError(f"{entry.strip()!r}: expected label=KEY, KEY one of {', '.join(MENU_KEYWORDS)}")
    return {"type": "click", "name": _label(label, limit), "key": key.strip()}


def _label(label: str, limit: int) -> str:
    label = label.strip()
    if not label or len(label.encode()) > limit:
        raise ValueError(f"button label {label!r}: expected 1 to {limit} bytes (a Chinese character is 3)")
    return label


async def publish_menu(config: Config, buttons: list[dict[str, Any]]) -> None:
    """`nongbot wechat menu`: publish through the shared token, outside the running service."""
    async with db.database(config.database.url), aiohttp.ClientSession() as session:
        api = WechatApi(session, settings(config).api_base, settings(config).timeout)
        tokens = TokenStore(settings(config), api, postgres=db.is_postgres(config.database.url))
        await WechatSender(config, api, tokens).call("menu/create", {"button": buttons})
