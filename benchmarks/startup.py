"""Start-up benchmark: seconds from launching nongbot to (a) /healthz 200 on an empty database with
--seed (what scripts/serve does) and (b) the first answer to a villager's question (nongbot chat,
articles already imported). Usage: python benchmarks/startup.py [--runs N]"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.retrieval import machine  # noqa: E402

NONGBOT = [sys.executable, "-m", "bot", "--config", str(ROOT / "config.toml")]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_until_healthy(workdir: Path) -> float:
    port = free_port()
    env = {**os.environ, "NONGBOT_DATABASE_URL": f"sqlite://{workdir}/serve.sqlite3", "NONGBOT_SERVER_PORT": str(port)}
    started = time.perf_counter()
    proc = subprocess.Popen([*NONGBOT, "serve", "--seed"], env=env, cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    return time.perf_counter() - started
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("nongbot serve exited") from None
                time.sleep(0.02)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def first_answer(workdir: Path) -> float:
    env = {**os.environ, "NONGBOT_DATABASE_URL": f"sqlite://{workdir}/chat.sqlite3"}
    subprocess.run([*NONGBOT, "import", "articles", str(ROOT / "content/articles")], env=env, cwd=workdir,
                   check=True, capture_output=True)
    started = time.perf_counter()
    proc = subprocess.Popen([*NONGBOT, "chat", "--from", "13800138000"], env=env, cwd=workdir, text=True,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    assert proc.stdin and proc.stdout
    proc.stdin.write("苞谷叶子发黄咋办\n")
    proc.stdin.flush()
    line = proc.stdout.readline()
    elapsed = time.perf_counter() - started
    proc.stdin.close()
    proc.wait(timeout=30)
    if "尿素" not in line:
        raise RuntimeError(f"unexpected answer: {line!r}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    print("machine:", machine())
    healthy, answered = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            healthy.append(serve_until_healthy(Path(tmp)))
            answered.append(first_answer(Path(tmp)))
    print(f"serve --seed on an empty database -> /healthz 200: median {statistics.median(healthy):.2f} s "
          f"(runs: {', '.join(f'{x:.2f}' for x in healthy)})")
    print(f"chat start -> first answer: median {statistics.median(answered):.2f} s "
          f"(runs: {', '.join(f'{x:.2f}' for x in answered)})")


if __name__ == "__main__":
    main()
