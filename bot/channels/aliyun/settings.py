"""[aliyun]: Alibaba Cloud SMS's section of the config, and the rules its values must follow."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from bot.channels.templates import Template
from bot.config import Config, ConfigError

PROVIDER = "aliyun"
KINDS = ("tip", "price", "labour", "notice")  # broadcast kinds that may have their own template


@dataclass(frozen=True)
class AliyunConfig:
    access_key_id: str = ""
    access_key_secret: str = field(default="", repr=False)
    endpoint: str = "dysmsapi.aliyuncs.com"
    protocol: str = "https"
    timeout: float = 10.0
    sign_name: str = ""
    template_reply: str = ""
    template_tip: str = ""
    template_price: str = ""
    template_labour: str = ""
    template_notice: str = ""
    var_chars: int = 35
    daily_limit: int = 50
    callback_secret: str = field(default="", repr=False)
    push_budget: float = 0.5
    pull_receipts: bool = False
    pull_seconds: float = 60.0

    def template(self, kind: str) -> str:
        """The layout of template_<kind> ("" for the reply template)."""
        return str(getattr(self, f"template_{kind or 'reply'}"))


def settings(config: Config) -> AliyunConfig:
    return config.section(AliyunConfig)


def check(cfg: Config) -> None:
    """When sms.provider = "aliyun": raise ConfigError with the key at fault."""
    if cfg.sms.provider != PROVIDER:
        return
    a = settings(cfg)
    for key, env in (("access_key_id", "NONGBOT_ALIYUN_ACCESS_KEY_ID"),
                     ("access_key_secret", "NONGBOT_ALIYUN_ACCESS_KEY_SECRET"),
                     ("sign_name", "NONGBOT_ALIYUN_SIGN_NAME"), ("template_reply", "NONGBOT_ALIYUN_TEMPLATE_REPLY")):
        if not getattr(a, key):
            raise ConfigError(f"aliyun.{key}: missing; set it (or {env}) when sms.provider = \"aliyun\"")
    for kind in ("", *KINDS):
        if a.template(kind):
            try:
                Template.parse(a.template(kind))
            except ValueError as exc:
                raise ConfigError(f"aliyun.template_{kind or 'reply'}: {exc}") from None
    if "://" in a.endpoint or not a.endpoint:
        raise ConfigError(f"aliyun.endpoint: expected host[:port] without a scheme, got {a.endpoint!r}")
    if a.protocol not in ("http", "https"):
        raise ConfigError(f"aliyun.protocol: expected \"https\" (or \"http\" for a local fake), got {a.protocol!r}")
    if not 1 <= a.var_chars <= 35:
        raise ConfigError(f"aliyun.var_chars: expected 1-35 (the provider's limit per variable), got {a.var_chars}")
    if a.daily_limit < 1:
        raise ConfigError(f"aliyun.daily_limit: expected a positive integer, got {a.daily_limit}")
    if a.timeout <= 0 or a.pull_seconds <= 0:
        raise ConfigError("aliyun.timeout and aliyun.pull_seconds: expected positive numbers of seconds")
    if not 0 < a.push_budget < 0.7:
        raise ConfigError("aliyun.push_budget: expected seconds above 0 and below 0.7 (the provider waits 0.7), "
                          f"got {a.push_budget}")
    if a.callback_secret and not re.fullmatch(r"[A-Za-z0-9_-]{32,128}", a.callback_secret):
        raise ConfigError("aliyun.callback_secret: expected 32-128 letters, digits, - or _ in "
                          "NONGBOT_ALIYUN_CALLBACK_SECRET "
                          "(e.g. python -c 'import secrets; print(secrets.token_urlsafe(32))')")
