"""Config: file + environment into typed values; every mistake is one line and exit 2."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parent.parent


def test_defaults_from_repo_config() -> None:
    cfg = load_config(ROOT / "config.toml", env={})
    assert cfg.server.port == 8080
    assert cfg.database.url == "sqlite://data/nongbot.sqlite3"
    assert cfg.sms.provider == "log"
    assert cfg.tz.key == "Asia/Shanghai"


def test_environment_overrides_file_with_types(tmp_path: Path) -> None:
    env = {
        "NONGBOT_SERVER_PORT": "9090",
        "NONGBOT_WECHAT_ENABLED": "true",
        "NONGBOT_WECHAT_APP_ID": "wx0123456789abcdef",
        "NONGBOT_WECHAT_APP_SECRET": "s3cret",
        "NONGBOT_WECHAT_TOKEN": "testtoken",
        "NONGBOT_WECHAT_ENCODING_AES_KEY": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG",
        "NONGBOT_DATABASE_URL": "postgres://u@127.0.0.1:5432/db",
        "NONGBOT_TEST_DATABASE_URL": "not a config key and not an error",
    }
    cfg = load_config(ROOT / "config.toml", env=env)
    assert cfg.server.port == 9090
    assert cfg.wechat.enabled is True
    assert cfg.wechat.app_secret == "s3cret"
    assert cfg.database.url.startswith("postgres://")
    assert "s3cret" not in repr(cfg)


CASES = [
    # (file text, environment, words the one-line error must contain)
    ("[server]\nport = \"eighty\"\n", {}, ["server.port", "integer"]),
    ("[server]\nprot = 80\n", {}, ["server.prot", "unknown key"]),
    ("[servre]\nport = 80\n", {}, ["servre", "unknown section"]),
    ("[server]\ntimezone = \"Asia/Beijing\"\n", {}, ["server.timezone", "IANA"]),
    ("", {"NONGBOT_SMS_MAX_SEGMENTS": "three"}, ["sms.max_segments", "NONGBOT_SMS_MAX_SEGMENTS"]),
    ("", {"NONGBOT_SMS_COLOUR": "red"}, ["sms.colour", "unknown key"]),
    ("[sms]\nprovider = \"twilio\"\n", {}, ["twilio.account_sid", "NONGBOT_TWILIO_ACCOUNT_SID"]),
    ("[sms]\nprovider = \"twilio\"\n[twilio]\naccount_sid = \"AC1\"\nfrom_number = \"+15005550006\"\n",
     {}, ["twilio.auth_token", "NONGBOT_TWILIO_AUTH_TOKEN"]),
    ("[twilio]\nauth_token = \"abc\"\n", {}, ["twilio.auth_token", "environment"]),
    ("[wechat]\nenabled = true\napp_id = \"wx1\"\n", {"NONGBOT_WECHAT_APP_SECRET": "x", "NONGBOT_WECHAT_TOKEN": "t"},
     ["wechat.encoding_aes_key", "43"]),
    ("[sms]\nprovider = \"carrier-pigeon\"\n", {}, ["sms.provider", "log"]),
    ("[sms]\nquiet_hours = \"9pm-7am\"\n", {}, ["sms.quiet_hours", "HH:MM-HH:MM"]),
    ("[database]\nurl = \"mysql://x\"\n", {}, ["database.url", "sqlite://"]),
    ("[server]\nport = 80\n[server\n", {}, ["not valid TOML"]),
    ("[wechat]\nenabled = \"yes\"\n", {}, ["wechat.enabled", "true or false"]),
]


@pytest.mark.parametrize(("text", "env", "words"), CASES)
def test_config_errors_name_the_key(tmp_path: Path, text: str, env: dict[str, str], words: list[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as err:
        load_config(path, env=env)
    message = str(err.value)
    assert "\n" not in message
    for word in words:
        assert word in message


@pytest.mark.parametrize(("text", "env", "words"), CASES[:4] + CASES[6:7] + CASES[-2:-1])
def test_cli_prints_one_line_and_exits_2(tmp_path: Path, text: str, env: dict[str, str], words: list[str]) -> None:
    path = tmp_path / "config.toml"
    path.write_text(text, encoding="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(path), "migrate"],
        capture_output=True, text=True, env={"PATH": "/usr/bin:/bin", **env}, cwd=tmp_path, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stdout == ""
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("nongbot: config error:")
    for word in words:
        assert word in lines[0]


def test_missing_config_file_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(tmp_path / "nope.toml"), "migrate"],
        capture_output=True, text=True, cwd=tmp_path, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0
    assert "cannot read config file" in proc.stderr
