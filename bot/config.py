"""Load config.toml plus NONGBOT_<SECTION>_<KEY> environment overrides into frozen dataclasses."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

ENV_PREFIX = "NONGBOT_"
DEFAULT_PATH = Path("config.toml")
SMS_PROVIDERS = ("log", "twilio", "aliyun")


class ConfigError(Exception):
    """A config value is wrong; str() is the one line shown to the user."""


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = 8080
    public_url: str = "http://127.0.0.1:8080"
    timezone: str = "Asia/Shanghai"
    log_level: str = "info"
    log_format: str = "text"
    shutdown_timeout: float = 30.0


@dataclass(frozen=True)
class BotConfig:
    name: str = "农技通"
    county: str = ""
    max_inbound_chars: int = 1600
    labour_hotline: str = "12333"


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite://data/nongbot.sqlite3"


@dataclass(frozen=True)
class SmsConfig:
    provider: str = "log"
    signature: str = "【农技通】"
    quiet_hours: str = "21:00-07:30"
    max_segments: int = 3
    cost_per_segment: float = 0.045


@dataclass(frozen=True)
class TwilioConfig:
    account_sid: str = ""
    auth_token: str = field(default="", repr=False)
    from_number: str = ""
    messaging_service_sid: str = ""
    api_base: str = "https://api.twilio.com"
    timeout: float = 10.0


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
    menu: str = "技术问答=MENU_ASK; 今日价格=MENU_PRICES; 更多: 务工信息=MENU_JOBS, 我的订阅=MENU_MINE, 使用帮助=MENU_HELP"


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


@dataclass(frozen=True)
class BroadcastsConfig:
    allow_self_approval: bool = False
    grace_minutes: int = 60
    lease_seconds: int = 120
    max_attempts: int = 6
    retry_base_seconds: float = 30.0
    sms_rate: float = 0.0
    wechat_rate: float = 0.0
    batch_size: int = 200
    poll_seconds: float = 1.0
    unknown_policy: str = "resend"
    leader_lock: int = 0x6E62_0001


@dataclass(frozen=True)
class ConsoleConfig:
    session_hours: float = 12.0
    max_failed_logins: int = 5
    lockout_minutes: int = 15
    secure_cookies: str = "auto"


@dataclass(frozen=True)
class Config:
    server: ServerConfig = ServerConfig()
    bot: BotConfig = BotConfig()
    database: DatabaseConfig = DatabaseConfig()
    sms: SmsConfig = SmsConfig()
    twilio: TwilioConfig = TwilioConfig()
    wechat: WechatConfig = WechatConfig()
    broadcasts: BroadcastsConfig = BroadcastsConfig()
    aliyun: AliyunConfig = AliyunConfig()
    console: ConsoleConfig = ConsoleConfig()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.server.timezone)

    def replace(self, **sections: Mapping[str, Any]) -> Config:
        """A copy with some keys changed, e.g. cfg.replace(database={"url": ...}); validated."""
        changed = {
            name: dataclasses.replace(getattr(self, name), **values)
            for name, values in sections.items()
        }
        new = dataclasses.replace(self, **changed)
        _validate(new)
        return new


# Secrets may only come from the environment, never from a file that ends up in git.
SECRETS = {
    ("twilio", "auth_token"),
    ("wechat", "app_secret"),
    ("wechat", "token"),
    ("wechat", "encoding_aes_key"),
    ("aliyun", "access_key_secret"),
    ("aliyun", "callback_secret"),
}


def load_config(path: str | Path | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Read the file (default ./config.toml, optional) and apply the environment on top."""
    env = os.environ if env is None else env
    raw: dict[str, Any] = {}
    if path is not None or DEFAULT_PATH.exists():
        file = Path(path) if path is not None else DEFAULT_PATH
        try:
            raw = tomllib.loads(file.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"cannot read config file {file}: {exc.strerror}") from None
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{file}: not valid TOML: {exc}") from None
    sections = {f.name: f.type for f in dataclasses.fields(Config)}
    values: dict[str, dict[str, Any]] = {name: {} for name in sections}
    for name, table in raw.items():
        if name not in sections:
            raise ConfigError(f"{name}: unknown section (expected one of {', '.join(sections)})")
        if not isinstance(table, dict):
            raise ConfigError(f"{name}: expected a [{name}] table")
        for key, value in table.items():
            if (name, key) in SECRETS and value:
                env_name = f"{ENV_PREFIX}{name}_{key}".upper()
                raise ConfigError(f"{name}.{key}: secrets must come from the environment ({env_name}), not the file")
            values[name][key] = _check(_section_class(name), name, key, value, None)
    for env_name, text in env.items():
        if not env_name.startswith(ENV_PREFIX):
            continue
        name, _, key = env_name[len(ENV_PREFIX):].lower().partition("_")
        if name not in sections or not key:
            continue  # NONGBOT_TEST_*, NONGBOT_CONFIG and friends are not config keys
        values[name][key] = _check(_section_class(name), name, key, text, env_name)
    config = Config(**{name: _section_class(name)(**vals) for name, vals in values.items()})
    _validate(config)
    return config


def _section_class(name: str) -> type:
    return typing.get_type_hints(Config)[name]  # type: ignore[no-any-return]


def _check(cls: type, section: str, key: str, value: Any, env_name: str | None) -> Any:
    hints = typing.get_type_hints(cls)
    where = f"{section}.{key}"
    if key not in hints:
        known = ", ".join(hints)
        source = f" (from {env_name})" if env_name else ""
        raise ConfigError(f"{where}: unknown key{source}; known keys: {known}")
    kind = hints[key]
    source = f" (from {env_name})" if env_name else ""
    if env_name is not None:
        try:
            return _from_text(kind, value)
        except ValueError:
            raise ConfigError(f"{where}: expected {_describe(kind)}, got {value!r}{source}") from None
    if kind is bool and isinstance(value, bool):
        return value
    if kind is int and isinstance(value, int) and not isinstance(value, bool):
        return value
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    if kind is str and isinstance(value, str):
        return value
    raise ConfigError(f"{where}: expected {_describe(kind)}, got {value!r}")


def _from_text(kind: Any, text: str) -> Any:
    if kind is bool:
        lowered = text.strip().lower()
        if lowered in ("1", "true", "yes", "on"):
            return True
        if lowered in ("0", "false", "no", "off", ""):
            return False
        raise ValueError(text)
    if kind is int:
        return int(text.strip())
    if kind is float:
        return float(text.strip())
    if kind is str or isinstance(kind, types.UnionType):
        return text
    raise ValueError(text)


def _describe(kind: Any) -> str:
    return {bool: "true or false", int: "an integer", float: "a number", str: "a string"}.get(
        kind, str(kind)
    )


QUIET_HOURS = re.compile(r"^([01]\d|2[0-3]):[0-5]\d-([01]\d|2[0-3]):[0-5]\d$")


def _validate(cfg: Config) -> None:
    try:
        ZoneInfo(cfg.server.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(
            f"server.timezone: expected an IANA time zone such as Asia/Shanghai, got {cfg.server.timezone!r}"
        ) from None
    if not 0 < cfg.server.port < 65536:
        raise ConfigError(f"server.port: expected 1-65535, got {cfg.server.port}")
    _require_url("server.public_url", cfg.server.public_url)
    if cfg.server.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"server.log_level: expected debug, info, warning or error, got {cfg.server.log_level!r}")
    if cfg.server.log_format not in ("text", "json"):
        raise ConfigError(f"server.log_format: expected \"text\" or \"json\", got {cfg.server.log_format!r}")
    scheme = cfg.database.url.split("://", 1)[0]
    if "://" not in cfg.database.url or scheme not in ("sqlite", "postgres", "postgresql", "asyncpg"):
        raise ConfigError(
            f"database.url: expected sqlite://PATH or postgres://USER@HOST:PORT/DB, got {cfg.database.url!r}"
        )
    if cfg.sms.provider not in SMS_PROVIDERS:
        raise ConfigError(f"sms.provider: expected one of {', '.join(SMS_PROVIDERS)}, got {cfg.sms.provider!r}")
    if cfg.sms.quiet_hours and not QUIET_HOURS.match(cfg.sms.quiet_hours):
        raise ConfigError(f"sms.quiet_hours: expected HH:MM-HH:MM or \"\", got {cfg.sms.quiet_hours!r}")
    if not 1 <= cfg.sms.max_segments <= 10:
        raise ConfigError(f"sms.max_segments: expected 1-10, got {cfg.sms.max_segments}")
    c = cfg.console
    if c.secure_cookies not in ("auto", "always", "never"):
        raise ConfigError(f"console.secure_cookies: expected auto, always or never, got {c.secure_cookies!r}")
    if c.session_hours <= 0 or c.max_failed_logins < 1 or c.lockout_minutes < 1:
        raise ConfigError("console: session_hours, max_failed_logins and lockout_minutes must be positive")
    b = cfg.broadcasts
    if b.unknown_policy not in ("resend", "fail"):
        raise ConfigError(f"broadcasts.unknown_policy: expected \"resend\" or \"fail\", got {b.unknown_policy!r}")
    for key in ("grace_minutes", "lease_seconds", "max_attempts", "batch_size"):
        if getattr(b, key) < 1:
            raise ConfigError(f"broadcasts.{key}: expected a positive integer, got {getattr(b, key)}")
    for key in ("sms_rate", "wechat_rate", "retry_base_seconds", "poll_seconds"):
        if getattr(b, key) < 0:
            raise ConfigError(f"broadcasts.{key}: expected a number >= 0, got {getattr(b, key)}")
    if cfg.bot.max_inbound_chars < 1:
        raise ConfigError(f"bot.max_inbound_chars: expected a positive integer, got {cfg.bot.max_inbound_chars}")
    if cfg.twilio.timeout <= 0:
        raise ConfigError(f"twilio.timeout: expected a positive number of seconds, got {cfg.twilio.timeout}")
    if cfg.sms.provider == "twilio":
        _require_url("twilio.api_base", cfg.twilio.api_base)
        _require("twilio.account_sid", cfg.twilio.account_sid, "NONGBOT_TWILIO_ACCOUNT_SID")
        _require("twilio.auth_token", cfg.twilio.auth_token, "NONGBOT_TWILIO_AUTH_TOKEN")
        if not (cfg.twilio.from_number or cfg.twilio.messaging_service_sid):
            raise ConfigError("twilio.from_number: expected from_number or messaging_service_sid when sms.provider = \"twilio\"")
    if cfg.sms.provider == "aliyun":
        from bot.channels.aliyun import check_config  # the channel owns its template rules

        check_config(cfg)
    if cfg.wechat.mode not in ("plain", "compatible", "safe"):
        raise ConfigError(f"wechat.mode: expected plain, compatible or safe, got {cfg.wechat.mode!r}")
    if not 0 < cfg.wechat.reply_budget < 5:
        raise ConfigError(f"wechat.reply_budget: expected seconds above 0 and below 5 (WeChat waits 5), got {cfg.wechat.reply_budget}")
    for key in ("max_clock_skew", "timeout"):
        if getattr(cfg.wechat, key) <= 0:
            raise ConfigError(f"wechat.{key}: expected a positive number of seconds, got {getattr(cfg.wechat, key)}")
    if cfg.wechat.enabled:
        _require_url("wechat.api_base", cfg.wechat.api_base)
        _require("wechat.app_id", cfg.wechat.app_id, "NONGBOT_WECHAT_APP_ID")
        _require("wechat.app_secret", cfg.wechat.app_secret, "NONGBOT_WECHAT_APP_SECRET")
        _require("wechat.token", cfg.wechat.token, "NONGBOT_WECHAT_TOKEN")
        if cfg.wechat.mode != "plain" and not re.fullmatch(r"[A-Za-z0-9]{43}", cfg.wechat.encoding_aes_key):
            raise ConfigError(
                "wechat.encoding_aes_key: expected 43 letters and digits in NONGBOT_WECHAT_ENCODING_AES_KEY "
                f"when wechat.mode = \"{cfg.wechat.mode}\""
            )


def _require(key: str, value: str, env_name: str) -> None:
    if not value:
        raise ConfigError(f"{key}: missing; set {env_name}")


def _require_url(key: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{key}: expected an http(s) URL, got {value!r}")
