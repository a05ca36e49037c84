"""Start-up benchmark: seconds from launching nongbot to (a) /healthz 200 on an empty database with
--seed (what scripts/serve does) and (b) the first answer to a villager's question (nongbot chat,
articles already imported). Usage: python benchmarks/startup.py [--runs N]

Next to each wall time: the CPU seconds nongbot had used by then (all its threads, from /proc), which
other work on a shared machine does not inflate, and the load average before the runs. What a start
keeps for the next one (jieba's dictionary cache, the tokenizer's memo of the articles' cuts, the
schema of a new SQLite file: see content/tokenizer.py and bot/db.py) is in the temp directory; the
first start after a change to them is slower (--cold removes them first, for every run)."""

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
CHAT_TARGET = 3.0  # seconds to the first answer on a 2-core machine: texts sent meanwhile wait
KEPT = ("nongbot-terms-*.marshal", "nongbot-schema-*.sqlite3")  # what a start keeps for the next (not jieba's)


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a running process so far (Linux); NaN elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return float("nan")


def forget() -> None:
    for pattern in KEPT:
        for path in Path(tempfile.gettempdir()).glob(pattern):
            path.unlink(missing_ok=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve_until_healthy(workdir: Path) -> tuple[float, float]:
    port = free_port()
    env = {**os.environ, "NONGBOT_DATABASE_URL": f"sqlite://{workdir}/serve.sqlite3", "NONGBOT_SERVER_PORT": str(port)}
    started = time.perf_counter()
    proc = subprocess.Popen([*NONGBOT, "serve", "--seed"], env=env, cwd=workdir,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                    return time.perf_counter() - started, cpu_seconds(proc.pid)
            except OSError:
                if proc.poll() is not None:
                    raise RuntimeError("nongbot serve exited") from None
                time.sleep(0.02)
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def first_answer(workdir: Path) -> tuple[float, float]:
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
    cpu = cpu_seconds(proc.pid)
    proc.stdin.close()
    proc.wait(timeout=30)
    if "尿素" not in line:
        raise RuntimeError(f"unexpected answer: {line!r}")
    return elapsed, cpu


def summary(runs: list[tuple[float, float]]) -> str:
    walls, cpus = [w for w, _ in runs], [c for _, c in runs]
    return (f"median {statistics.median(walls):.2f} s, CPU {statistics.median(cpus):.2f} s "
            f"(runs: {', '.join(f'{w:.2f}' for w in walls)}; CPU: {', '.join(f'{c:.2f}' for c in cpus)})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--cold", action="store_true", help="remove what earlier starts kept before each run")
    args = parser.parse_args()
    print("machine:", machine(), f"(load average {os.getloadavg()[0]:.2f})")
    healthy, answered = [], []
    for _ in range(args.runs):
        with tempfile.TemporaryDirectory() as tmp:
            if args.cold:
                forget()
            healthy.append(serve_until_healthy(Path(tmp)))
            answered.append(first_answer(Path(tmp)))
    print(f"serve --seed on an empty database -> /healthz 200: {summary(healthy)}")
    print(f"chat start -> first answer: {summary(answered)}; target < {CHAT_TARGET:.0f} s")


if __name__ == "__main__":
    main()
