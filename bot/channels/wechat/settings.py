"""[wechat]: the Official Account's section of the config, and the rules its values must follow."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.config import Config, ConfigError, require, require_url


@dataclass(frozen=True)
class WechatConfig:
    enabled: bool = False
    app_id: str = ""
    app_secret: str = field(default="", repr=False)
    token: str = field(default="", repr=False)
    encoding_aes_key: str = field(default="", repr=False)
    mode: str = "safe"
    api_base: str = "https://api.weixin.qq.com"
    reply_budget: float = 4.0
    max_clock_skew: int = 300
    timeout: float = 5.0
    stable_token: bool = True
    template_tip: str = ""
    template_price: str = ""
    template_labour: str = ""
    template_notice: str = ""
    menu: str = ("技术问答=MENU_ASK; 今日价格=MENU_PRICES; "
                 "更多: 务工信息=MENU_JOBS, 我的订阅=MENU_MINE, 使用帮助=MENU_HELP")


def settings(config: Config) -> WechatConfig:
    return config.section(WechatConfig)


def check(cfg: Config) -> None:
    """Raise ConfigError with the key at fault; the keys it needs only when wechat.enabled."""
    w = settings(cfg)
    if w.mode not in ("plain", "compatible", "safe"):
        raise ConfigError(f"wechat.mode: expected plain, compatible or safe, got {w.mode!r}")
    if not 0 < w.reply_budget < 5:
        raise ConfigError("wechat.reply_budget: expected seconds above 0 and below 5 (WeChat waits 5), "
                          f"got {w.reply_budget}")
    for key in ("max_clock_skew", "timeout"):
        if getattr(w, key) <= 0:
            raise ConfigError(f"wechat.{key}: expected a positive number of seconds, got {getattr(w, key)}")
    if not w.enabled:
        return
    require_url("wechat.api_base", w.api_base)
    require("wechat.app_id", w.app_id, "NONGBOT_WECHAT_APP_ID")
    require("wechat.app_secret", w.app_secret, "NONGBOT_WECHAT_APP_SECRET")
    require("wechat.token", w.token, "NONGBOT_WECHAT_TOKEN")
    if w.mode != "plain" and not re.fullmatch(r"[A-Za-z0-9]{43}", w.encoding_aes_key):
        raise ConfigError("wechat.encoding_aes_key: expected 43 letters and digits in "
                          f"NONGBOT_WECHAT_ENCODING_AES_KEY when wechat.mode = \"{w.mode}\"")
