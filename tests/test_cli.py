"""The nongbot command end to end, in subprocesses: chat REPL, serve + SIGTERM, bad usage."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.db


def _env(db_url: str) -> dict[str, str]:
    return {**os.environ, "NONGBOT_DATABASE_URL": db_url, "NONGBOT_SMS_QUIET_HOURS": ""}


def _nongbot(*args: str) -> list[str]:
    return [sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml"), *args]


def test_chat_repl_end_to_end(db_url: str, tmp_path: Path) -> None:
    lines = ["帮助", "订阅 价格 柑橘", "我的", "Ｔ Ｄ", "我的", "START", ""]
    proc = subprocess.run(
        _nongbot("chat", "--from", "13800138000"), input="\n".join(lines) + "\n",
        capture_output=True, text=True, env=_env(db_url), cwd=tmp_path, timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    replies = proc.stdout.strip().split("\n\n")
    assert len(replies) == len(lines)
    assert "订阅" in replies[0] and "TD" in replies[0]
    assert "已订阅：价格（柑橘）" in replies[1]
    assert "订阅：价格" in replies[2]
    assert "已退订" in replies[3]
    assert "已退订全部推送" in replies[4]
    assert "已恢复" in replies[5]
    assert "空消息" in replies[6]
    assert "13800138000" not in proc.stderr  # logs mask the phone
    assert "+86138****8000" in proc.stderr


def test_chat_rejects_a_bad_phone(db_url: str, tmp_path: Path) -> None:
    proc = subprocess.run(
        _nongbot("chat", "--from", "12"), input="", capture_output=True, text=True,
        env=_env(db_url), cwd=tmp_path, timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "not a phone number" in proc.stderr


def test_unknown_option_is_one_line(tmp_path: Path) -> None:
    proc = subprocess.run(_nongbot("serve", "--colour"), capture_output=True, text=True, cwd=tmp_path, timeout=60)
    assert proc.returncode == 2
    assert proc.stderr.strip().count("\n") == 0 and "--colour" in proc.stderr


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_serve_answers_healthz_and_exits_0_on_sigterm(db_url: str, tmp_path: Path) -> None:
    port = _free_port()
    env = {**_env(db_url), "NONGBOT_SERVER_PORT": str(port)}
    started = time.monotonic()
    proc = subprocess.Popen(_nongbot("serve"), env=env, cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    try:
        body = b""
        while time.monotonic() - started < 30:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1) as resp:
                    body = resp.read()
                    break
            except OSError:
                time.sleep(0.1)
        assert b'"ok"' in body
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
        assert proc.returncode == 0, err
        assert "nongbot stopped" in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_migrate_command(db_url: str, tmp_path: Path) -> None:
    proc = subprocess.run(_nongbot("migrate"), capture_output=True, text=True, env=_env(db_url),
                          cwd=tmp_path, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "migrations applied" in proc.stdout


def test_broadcast_commands_follow_the_api_rules(db_url: str, tmp_path: Path) -> None:
    def run(*args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
        return subprocess.run(_nongbot(*args), input=stdin, capture_output=True, text=True, env=_env(db_url),
                              cwd=tmp_path, timeout=60)

    assert run("officer", "add", "wang", "--role", "officer", "--password-stdin", stdin="password-123\n").returncode == 0
    assert run("officer", "add", "li", "--role", "supervisor", "--password-stdin", stdin="password-123\n").returncode == 0
    (tmp_path / "people.csv").write_text("phone,township,crops,topics\n13900000001,关防乡,柑橘,技术\nabc,,,\n")
    imported = run("import", "subscribers", str(tmp_path / "people.csv"))
    assert imported.returncode == 1 and "people.csv:3: phone" in imported.stderr and "1 new" in imported.stdout
    (tmp_path / "b.json").write_text('{"kind": "tip", "text": "明早霜冻", "audience": {"townships": ["关防乡"]}}')
    made = run("broadcast", "create", str(tmp_path / "b.json"), "--as", "wang")
    assert made.returncode == 0 and '"recipients": 1' in made.stdout
    refused = run("broadcast", "approve", "1", "--as", "wang")
    assert refused.returncode == 2 and refused.stderr.strip().count("\n") == 0 and "supervisor" in refused.stderr
    approved = run("broadcast", "approve", "1", "--as", "li")
    assert approved.returncode == 0 and '"state": "scheduled"' in approved.stdout
    assert run("broadcast", "status", "99").returncode == 2
