"""Load config.toml plus NONGBOT_<SECTION>_<KEY> environment overrides into frozen dataclasses."""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.channels import registry

ENV_PREFIX = "NONGBOT_"
DEFAULT_PATH = Path("config.toml")
T = TypeVar("T")


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
    meaning: bool = True


@dataclass(frozen=True)
class DatabaseConfig:
    url: str = "sqlite://data/nongbot.sqlite3"


@dataclass(frozen=True)
class SmsConfig:
    provider: str = "log"
    signature: str = "【农技通】"
    quiet_hours: str = "21:00-07:30"
    max_segments: int = 3
    # An article's answer (the first SMS and each "更多" page) is kept shorter than other replies.
    article_segments: int = 2
    cost_per_segment: float = 0.045


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
    self_publish: bool = False


@dataclass(frozen=True)
class TradeConfig:
    """供求 (bot/trade): listings by text, matching, consent to share phones, outcomes."""

    expiry_days: int = 7
    max_active_listings: int = 5
    max_posts_per_day: int = 3
    max_proposals_per_day: int = 3
    max_proposals_per_pass: int = 200
    proposal_days: int = 3
    outcome_days: int = 3
    min_score: int = 50
    max_price_gap: float = 0.2
    moderation: bool = False
    match_seconds: float = 600.0


WARNING_LEVELS = ("blue", "yellow", "orange", "red")  # the CMA warning colours, lowest first


@dataclass(frozen=True)
class WeatherConfig:
    """天气 (bot/weather): forecasts and official warnings from a provider (QWeather); secrets from
    NONGBOT_WEATHER_API_KEY or NONGBOT_WEATHER_PRIVATE_KEY."""

    provider: str = ""  # "" (off: the honest "cannot forecast" reply) | "qweather"
    api_base: str = ""  # the account's own API Host, e.g. https://abcxyz.qweatherapi.com
    api_key: str = dataclasses.field(default="", repr=False)
    project_id: str = ""  # JWT authentication instead of the key: the project id, the credential's
    key_id: str = ""  # key id, and the Ed25519 private key (PEM) from NONGBOT_WEATHER_PRIVATE_KEY
    private_key: str = dataclasses.field(default="", repr=False)
    timeout: float = 8.0
    forecast_minutes: int = 30
    poll_seconds: float = 900.0
    auto_send_from: str = ""
    quiet_hours_pass_from: str = "red"
    send_cancellations: bool = False
    townships: str = ""


@dataclass(frozen=True)
class Config:
    server: ServerConfig = ServerConfig()
    bot: BotConfig = BotConfig()
    database: DatabaseConfig = DatabaseConfig()
    sms: SmsConfig = SmsConfig()
    broadcasts: BroadcastsConfig = BroadcastsConfig()
    console: ConsoleConfig = ConsoleConfig()
    trade: TradeConfig = TradeConfig()
    weather: WeatherConfig = WeatherConfig()
    # The channels' own sections ([twilio], [wechat], …) by name, each parsed into the dataclass the
    # channel declares (bot/channels/registry.py): read them with section(TheirDataclass).
    channels: tuple[tuple[str, Any], ...] = ()

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.server.timezone)

    def section(self, kind: type[T]) -> T:
        """A channel's section, typed; its defaults when the config has none."""
        for _, values in self.channels:
            if isinstance(values, kind):
                return values
        return kind()

    def __getattr__(self, name: str) -> Any:
        """config.wechat and friends: a channel's section by name (untyped; channels use section())."""
        for section, values in self.__dict__.get("channels", ()):
            if section == name:
                return values
        raise AttributeError(name)

    def replace(self, **sections: Mapping[str, Any]) -> Config:
        """A copy with some keys changed, e.g. cfg.replace(database={"url": ...}); validated."""
        channels = dict(self.channels)
        core = {}
        for name, values in sections.items():
            if name in channels:
                channels[name] = dataclasses.replace(channels[name], **values)
            else:
                core[name] = dataclasses.replace(getattr(self, name), **values)
        new = dataclasses.replace(self, **core, channels=tuple(channels.items()))
        _validate(new)
        return new


def _is_secret(cls: type, key: str) -> bool:
    """Secrets (fields hidden from repr) may only come from the environment, never from a file that
    ends up in git."""
    return any(f.name == key and not f.repr for f in dataclasses.fields(cls))


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
    sections = _sections()
    values: dict[str, dict[str, Any]] = {name: {} for name in sections}
    for name, table in raw.items():
        if name not in sections:
            raise ConfigError(f"{name}: unknown section (expected one of {', '.join(sections)})")
        if not isinstance(table, dict):
            raise ConfigError(f"{name}: expected a [{name}] table")
        for key, value in table.items():
            if value and _is_secret(sections[name], key):
                env_name = f"{ENV_PREFIX}{name}_{key}".upper()
                raise ConfigError(f"{name}.{key}: secrets must come from the environment ({env_name}), not the file")
            values[name][key] = _check(sections[name], name, key, value, None)
    for env_name, text in env.items():
        if not env_name.startswith(ENV_PREFIX):
            continue
        name, _, key = env_name[len(ENV_PREFIX):].lower().partition("_")
        if name not in sections or not key:
            continue  # NONGBOT_TEST_*, NONGBOT_CONFIG and friends are not config keys
        values[name][key] = _check(sections[name], name, key, text, env_name)
    channels = registry.sections()
    core = {name: sections[name](**vals) for name, vals in values.items() if name not in channels}
    config = Config(**core, channels=tuple((name, cls(**values[name])) for name, cls in channels.items()))
    _validate(config)
    return config


def _sections() -> dict[str, type]:
    """Every section a config file may have: the core's, then each channel's."""
    hints = typing.get_type_hints(Config)
    core = {f.name: hints[f.name] for f in dataclasses.fields(Config) if f.name != "channels"}
    return {**core, **registry.sections()}


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
    require_url("server.public_url", cfg.server.public_url)
    if cfg.server.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise ConfigError(f"server.log_level: expected debug, info, warning or error, got {cfg.server.log_level!r}")
    if cfg.server.log_format not in ("text", "json"):
        raise ConfigError(f"server.log_format: expected \"text\" or \"json\", got {cfg.server.log_format!r}")
    scheme = cfg.database.url.split("://", 1)[0]
    if "://" not in cfg.database.url or scheme not in ("sqlite", "postgres", "postgresql", "asyncpg"):
        raise ConfigError(
            f"database.url: expected sqlite://PATH or postgres://USER@HOST:PORT/DB, got {cfg.database.url!r}"
        )
    providers = registry.sms_providers()
    if cfg.sms.provider not in providers:
        raise ConfigError(f"sms.provider: expected one of {', '.join(providers)}, got {cfg.sms.provider!r}")
    if cfg.sms.quiet_hours and not QUIET_HOURS.match(cfg.sms.quiet_hours):
        raise ConfigError(f"sms.quiet_hours: expected HH:MM-HH:MM or \"\", got {cfg.sms.quiet_hours!r}")
    if not 1 <= cfg.sms.max_segments <= 10:
        raise ConfigError(f"sms.max_segments: expected 1-10, got {cfg.sms.max_segments}")
    if not 1 <= cfg.sms.article_segments <= cfg.sms.max_segments:
        raise ConfigError(f"sms.article_segments: expected 1-{cfg.sms.max_segments} (sms.max_segments), "
                          f"got {cfg.sms.article_segments}")
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
    t = cfg.trade
    for key in ("expiry_days", "max_active_listings", "max_posts_per_day", "max_proposals_per_day",
                "max_proposals_per_pass", "proposal_days", "outcome_days"):
        if getattr(t, key) < 1:
            raise ConfigError(f"trade.{key}: expected a positive integer, got {getattr(t, key)}")
    if not 0 <= t.min_score <= 100 or not 0 < t.max_price_gap <= 1 or t.match_seconds <= 0:
        raise ConfigError("trade: min_score is 0-100, max_price_gap above 0 and at most 1, match_seconds positive")
    if cfg.bot.max_inbound_chars < 1:
        raise ConfigError(f"bot.max_inbound_chars: expected a positive integer, got {cfg.bot.max_inbound_chars}")
    _validate_weather(cfg.weather)
    for channel in registry.channels():  # each checks its own section
        channel.check(cfg)


def _validate_weather(w: WeatherConfig) -> None:
    if w.provider not in ("", "qweather"):
        raise ConfigError(f"weather.provider: expected \"\" (off) or \"qweather\", got {w.provider!r}")
    for key in ("auto_send_from", "quiet_hours_pass_from"):
        if getattr(w, key) not in ("", *WARNING_LEVELS):
            raise ConfigError(f"weather.{key}: expected \"\" or one of {', '.join(WARNING_LEVELS)}, "
                              f"got {getattr(w, key)!r}")
    if w.timeout <= 0 or w.forecast_minutes < 1 or w.poll_seconds < 60:
        raise ConfigError("weather: timeout must be positive, forecast_minutes at least 1, poll_seconds at least 60")
    if not w.provider:
        return
    require_url("weather.api_base", w.api_base)
    if not w.api_key and not (w.project_id and w.key_id and w.private_key):
        raise ConfigError("weather.api_key: missing; set NONGBOT_WEATHER_API_KEY (or weather.project_id, "
                          "weather.key_id and NONGBOT_WEATHER_PRIVATE_KEY for JWT)")


def require(key: str, value: str, env_name: str) -> None:
    """A channel's key that must be set (secrets come from `env_name`)."""
    if not value:
        raise ConfigError(f"{key}: missing; set {env_name}")


def require_url(key: str, value: str) -> None:
    parts = urlsplit(value)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ConfigError(f"{key}: expected an http(s) URL, got {value!r}")
