"""Answer benchmark: villagers' texts through the whole inbound pipeline, a fresh phone per text.

For each set (tests/data/answers_tuning.jsonl — tune on this one only — and
tests/data/answers_heldout.jsonl, written by someone who saw neither the tuning set nor the code)
it prints: right-outcome rate, wrong-article rate, answer rate on answerable texts, the outcome per
intent, the precision–coverage curve of the answer-or-abstain threshold with the operating point,
and (unless --only-own) the public TAQA and CROP figures next to baseline.py run in the same process.
Usage: python benchmarks/answers.py [--set NAME|both|new|b|all] [--only-own] [--show-misses] [--fit]
(NAME: one of SETS below; `all` runs every set, `--fit` fits on the tuning sets only.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import tomllib
from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path

from aiohttp import web

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.retrieval import DEFAULT_AGRI_QA, machine, public_sets  # noqa: E402
from bot import inbox  # noqa: E402
from bot.app import create_app  # noqa: E402
from bot.config import load_config  # noqa: E402
from bot.keys import SEARCH  # noqa: E402
from bot.messages import InboundMessage  # noqa: E402
from bot.models import Subscriber  # noqa: E402
from bot.questions.models import Question  # noqa: E402
from content import search as search_module  # noqa: E402
from content.intents import classify  # noqa: E402
from content.search import Searcher  # noqa: E402

DATA = ROOT / "tests/data"
SETS = {"tuning": DATA / "answers_tuning.jsonl", "heldout": DATA / "answers_heldout.jsonl",
        # The knowledge-base issue's new topics, written blind (before the articles existed): each row
        # names its topic; new_topics_refs.toml says which articles answer a topic (from titles only).
        "new-tuning": DATA / "new_topics_tuning.jsonl", "new-heldout": DATA / "new_topics_heldout.jsonl",
        # A second pair, written blind in stop 27 by two more writers who saw only the articles' titles:
        # tuning-b is tuned on; heldout-b is only measured (the first held-out set had been measured often).
        "tuning-b": DATA / "answers_tuning_b.jsonl", "heldout-b": DATA / "answers_heldout_b.jsonl",
        "tuning-c": DATA / "answers_tuning_c.jsonl", "tuning-d": DATA / "answers_tuning_d.jsonl",
        "tuning-e": DATA / "answers_tuning_e.jsonl",  # more blind writers, tuned on
        # Stop 28's blind writers (titles only; the answerable rows drawn at random over the catalogue).
        "tuning-f": DATA / "answers_tuning_f.jsonl", "tuning-g": DATA / "answers_tuning_g.jsonl",
        "tuning-h": DATA / "answers_tuning_h.jsonl", "tuning-i": DATA / "answers_tuning_i.jsonl",
        "tuning-j": DATA / "answers_tuning_j.jsonl", "tuning-k": DATA / "answers_tuning_k.jsonl",
        "tuning-l": DATA / "answers_tuning_l.jsonl", "tuning-m": DATA / "answers_tuning_m.jsonl",
        "tuning-n": DATA / "answers_tuning_n.jsonl",
        # Stop 29's blind writers: four more in the same mix, and two more new-topics sets (topic labels only).
        **{f"tuning-{x}": DATA / f"answers_tuning_{x}.jsonl" for x in "opqruvwx"},
        **{f"new-tuning-{x}": DATA / f"new_topics_tuning_{x}.jsonl" for x in "styz"},
        # Stop 29's third round.
        **{f"tuning-{x}": DATA / f"answers_tuning_{x}.jsonl" for x in ("aa", "ab", "ac", "ad")},
        **{f"new-tuning-{x}": DATA / f"new_topics_tuning_{x}.jsonl" for x in ("ae", "af")},
        # Stop 29's fourth round: the fresh measure of everything fixed before it.
        **{f"tuning-{x}": DATA / f"answers_tuning_{x}.jsonl" for x in ("ag", "ah", "ai", "aj")},
        **{f"new-tuning-{x}": DATA / f"new_topics_tuning_{x}.jsonl" for x in ("ak", "al")},
        # Stop 30's first round, measured on stop 29's final code before anything was fixed on it.
        **{f"tuning-{x}": DATA / f"answers_tuning_{x}.jsonl" for x in ("am", "an", "ao", "ap")},
        **{f"new-tuning-{x}": DATA / f"new_topics_tuning_{x}.jsonl" for x in ("aq", "ar")},
        # Stop 30's second round: the fresh measure of everything fixed on the first.
        **{f"tuning-{x}": DATA / f"answers_tuning_{x}.jsonl" for x in ("as", "at", "au", "av")},
        **{f"new-tuning-{x}": DATA / f"new_topics_tuning_{x}.jsonl" for x in ("aw", "ax")},
        # Stop 31's round: the fresh measure of stop 30's work, measured before anything was fixed on it.
        **{f"tuning-{x}": DATA / f"answers_tuning_{x}.jsonl" for x in ("ay", "az", "ba", "bb")},
        **{f"new-tuning-{x}": DATA / f"new_topics_tuning_{x}.jsonl" for x in ("bc", "bd")},
        # Stop 31's second round: the fresh measure of the fixes made on the first (and of seven new articles).
        **{f"tuning-{x}": DATA / f"answers_tuning_{x}.jsonl" for x in ("be", "bf", "bg", "bh")},
        **{f"new-tuning-{x}": DATA / f"new_topics_tuning_{x}.jsonl" for x in ("bi",)},
        # Stop 31's third round: the fresh measure of the session's final code.
        **{f"tuning-{x}": DATA / f"answers_tuning_{x}.jsonl" for x in ("bj", "bk", "bl", "bm")},
        **{f"new-tuning-{x}": DATA / f"new_topics_tuning_{x}.jsonl" for x in ("bn",)},
        # Stop 32's round: the fresh measure of stop 31's final code, measured before anything was fixed on it.
        **{f"tuning-{x}": DATA / f"answers_tuning_{x}.jsonl" for x in ("bo", "bp", "bq", "br")},
        **{f"new-tuning-{x}": DATA / f"new_topics_tuning_{x}.jsonl" for x in ("bs",)},
        # Stop 32's second round: the fresh measure of the session's final code (written while it was being
        # changed, read only after it was frozen).
        **{f"tuning-{x}": DATA / f"answers_tuning_{x}.jsonl" for x in ("bt", "bu", "bv", "bw")},
        **{f"new-tuning-{x}": DATA / f"new_topics_tuning_{x}.jsonl" for x in ("bx",)},
        # Stop 35's round: the fresh measure of stop 34's final code (four blind writers, titles only),
        # measured before anything was fixed on it.
        **{f"tuning-{x}": DATA / f"answers_tuning_{x}.jsonl" for x in ("by", "bz", "ca", "cb")},
        # Stop 35's second round: the fresh measure of the session's final code (two blind writers, written
        # while it was being changed, read only after it was frozen).
        **{f"tuning-{x}": DATA / f"answers_tuning_{x}.jsonl" for x in ("cc", "cd")},
        # Stop 36's round: the fresh measure of stop 35's final code (four blind writers, titles only),
        # measured before anything was fixed on it.
        **{f"tuning-{x}": DATA / f"answers_tuning_{x}.jsonl" for x in ("ce", "cf", "cg", "ch")},
        # Stop 36's second round: the fresh measure of the session's final code (two blind writers, written
        # while it was being changed, read only after it was frozen).
        **{f"tuning-{x}": DATA / f"answers_tuning_{x}.jsonl" for x in ("ci", "cj")},
        # Stop 37's round: the fresh measure of stop 36's final code (four blind writers, titles only),
        # measured before anything was fixed on it (wages-owed texts relabelled as answers, as in every set).
        **{f"tuning-{x}": DATA / f"answers_tuning_{x}.jsonl" for x in ("ck", "cl", "cm", "cn")},
        # Stop 37's second round: the fresh measure of the session's final code (two blind writers, written
        # while it was being changed, read only after it was frozen).
        **{f"tuning-{x}": DATA / f"answers_tuning_{x}.jsonl" for x in ("co", "cp")}}
GROUPS = {"both": ("tuning", "heldout"), "new": ("new-tuning", "new-heldout"), "b": ("tuning-b", "heldout-b"),
          "all": tuple(SETS)}
TUNING = tuple(name for name in SETS if "heldout" not in name)  # the only sets --fit may learn from
TOPIC_REFS = DATA / "new_topics_refs.toml"


def load_set(name: str) -> list[dict]:  # type: ignore[type-arg]
    rows = [json.loads(line) for line in SETS[name].open(encoding="utf-8") if line.strip()]
    topics = tomllib.loads(TOPIC_REFS.read_text("utf-8")) if TOPIC_REFS.exists() else {}
    for row in rows:
        if "topic" in row and "refs" not in row:
            row["refs"] = topics.get(row["topic"], [])
    return rows
# Which handler gives which outcome; everything under search.answer_question is answered or handed off.
HANDLER_INTENT = {
    "smalltalk.small_talk": "smalltalk", "smalltalk.noise": "noise", "smalltalk.off_domain": "offdomain",
    "handoff.ask_for_officer": "human", "handoff.supply_demand": "supply", "weather.weather": "weather",
}
PREFIX_INTENT = {"prices.": "price", "labour.": "labour", "help.": "help", "feedback.": "feedback",
                 "rating.": "rating", "trade.": "supply"}


@dataclass(frozen=True)
class Seen:
    text: str
    expect: str
    refs: tuple[str, ...]
    outcome: str  # answer | handoff | declined | <intent>
    ref: str  # the article sent, when one was
    right: bool


def outcome_of(handler: str) -> str:
    if handler in HANDLER_INTENT:
        return HANDLER_INTENT[handler]
    return next((v for k, v in PREFIX_INTENT.items() if handler.startswith(k)), handler or "none")


def judge(expect: str, refs: tuple[str, ...], outcome: str, ref: str) -> bool:
    if expect == "answer":
        return outcome == "answer" and ref in refs
    if expect == "handoff":
        return outcome in ("handoff", "human")
    if expect == "noise":
        return outcome in ("noise", "help")
    return outcome == expect


async def run_set(app: web.Application, rows: list[dict], first_phone: int) -> list[Seen]:  # type: ignore[type-arg]
    searcher: Searcher = app[SEARCH]
    seen = []
    for i, row in enumerate(rows):
        phone = f"+86137{first_phone + i:08d}"
        msg = InboundMessage(channel="sms", provider="bench", address=phone, text=row["text"],
                             provider_id=f"bench-{first_phone + i}")
        before = await Question.all().count()
        result = await inbox.process(app, msg)
        ref, outcome = "", outcome_of(result.handler)
        if result.handler == "search.answer_question":
            sub = await Subscriber.get(phone=phone)
            article = sub.dialog.get("article")
            if article is not None and article in searcher.entries:
                outcome, ref = "answer", searcher.entries[article].ref
            else:
                outcome = "handoff" if await Question.all().count() > before else "declined"
        refs = tuple(row.get("refs", ()))
        seen.append(Seen(row["text"], row["expect"], refs, outcome, ref, judge(row["expect"], refs, outcome, ref)))
    return seen


def report(name: str, seen: list[Seen], show_misses: bool) -> None:
    n = len(seen)
    right = sum(s.right for s in seen)
    wrong_article = [s for s in seen if s.outcome == "answer" and s.ref not in s.refs]
    answerable = [s for s in seen if s.expect == "answer"]
    answered = [s for s in answerable if s.outcome == "answer"]
    print(f"\n== {name}: {n} texts ==")
    print(f"right outcome          {right / n:7.1%}  ({right}/{n})")
    print(f"wrong article sent     {len(wrong_article) / n:7.1%}  ({len(wrong_article)}/{n})")
    print(f"answered (answerable)  {len(answered) / max(len(answerable), 1):7.1%}  "
          f"({len(answered)}/{len(answerable)}; right article {sum(s.right for s in answerable)})")
    by_expect: dict[str, list[Seen]] = defaultdict(list)
    for s in seen:
        by_expect[s.expect].append(s)
    print(f"{'expected':<10} {'n':>4} {'right':>7}   outcomes")
    for expect, group in sorted(by_expect.items(), key=lambda kv: -len(kv[1])):
        outcomes = Counter(s.outcome for s in group)
        print(f"{expect:<10} {len(group):4d} {sum(s.right for s in group) / len(group):7.1%}   "
              + ", ".join(f"{k} {v}" for k, v in outcomes.most_common()))
    if show_misses:
        for s in seen:
            if not s.right:
                print(f"  MISS {s.expect:<9} -> {s.outcome:<9} {s.ref or '':<36} {s.text}  {list(s.refs)}")


def fit(searcher: Searcher, rows: list[dict]) -> None:  # type: ignore[type-arg]
    """Fit content/search.py's WEIGHTS on these rows (the tuning set only): logistic regression of
    "the top article is a right answer" on Searcher.features; prints the tuple to paste."""
    xs, seconds, ys = [], [], []
    for row in rows:
        if row["expect"] not in ("answer", "handoff") or classify(row["text"]).name != "technique":
            continue
        words, ranked = searcher.rank(row["text"])
        crops = searcher.crops_asked(words)
        found = searcher.features(words, crops, ranked) if ranked else None
        if found is None:
            continue
        second = searcher.by_meaning(row["text"], ranked[0][0])
        xs.append(found)
        seconds.append((*found, *second) if second is not None else None)
        ys.append(row["expect"] == "answer" and searcher.entries[ranked[0][0]].ref in row.get("refs", ()))
    print(f"\nfitted on {len(ys)} technique texts: WEIGHTS = {logistic(xs, ys)}")
    if all(second is not None for second in seconds):
        print(f"with the meaning model: WEIGHTS_MEANING = {logistic(seconds, ys)}")  # type: ignore[arg-type]


def logistic(xs: list[tuple[float, ...]], ys: list[bool]) -> str:
    import numpy as np

    x = np.c_[np.array(xs), np.ones(len(xs))]
    y = np.array(ys, dtype=float)
    w = np.zeros(x.shape[1])
    for _ in range(20_000):  # plain gradient descent; a tiny L2 keeps the weights readable
        p = 1 / (1 + np.exp(-x @ w))
        w -= 1.0 * (x.T @ (p - y) / len(y) + 0.001 * np.r_[w[:-1], 0])
    return f"({', '.join(f'{v:.1f}' for v in w)})"


def curve(searcher: Searcher, rows: list[dict], name: str) -> None:  # type: ignore[type-arg]
    """Precision and coverage of the technique questions as the confidence threshold moves."""
    points = []
    for row in rows:
        if row["expect"] not in ("answer", "handoff"):
            continue
        result = searcher.search(row["text"])
        best = result.best.ref if result.best else ""
        ok = row["expect"] == "answer" and best in row.get("refs", ())
        points.append((result.confidence, ok, row["expect"] == "answer"))
    total = sum(p[2] for p in points)
    chosen = search_module.MIN_CONFIDENCE
    print(f"\nprecision–coverage on {name} ({len(points)} technique texts, {total} answerable); "
          f"operating point: confidence ≥ {chosen}")
    print(f"{'threshold':>9} {'answered':>9} {'precision':>10} {'coverage':>9}")
    for t in (0.0, 0.2, 0.3, 0.4, 0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95):
        sent = [p for p in points if p[0] >= t]
        good = sum(p[1] for p in sent)
        mark = "  <- chosen" if abs(t - chosen) < 1e-9 else ""
        print(f"{t:9.2f} {len(sent):9d} {good / max(len(sent), 1):10.1%} {good / max(total, 1):9.1%}{mark}")


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--set", choices=(*SETS, *GROUPS), default="both")
    parser.add_argument("--only-own", action="store_true", help="skip the public TAQA/CROP sets")
    parser.add_argument("--show-misses", action="store_true")
    parser.add_argument("--fit", action="store_true", help="fit the confidence weights on the tuning set")
    parser.add_argument("--words-only", action="store_true", help="without the meaning model even if installed")
    args = parser.parse_args()
    print("machine:", machine())
    url = f"sqlite://{tempfile.mkdtemp()}/answers.sqlite3"
    config = load_config(ROOT / "config.toml", env={}).replace(database={"url": url}, sms={"quiet_hours": ""})
    app = create_app(config, role="cli", seed=True)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        searcher: Searcher = app[SEARCH]
        if args.words_only:
            searcher.use_meaning(None)
        elif searcher.meaning is not None:
            started = time.perf_counter()
            await searcher.meaning_ready()
            print(f"meaning model on: {len(searcher.entries)} articles embedded in "
                  f"{time.perf_counter() - started:.0f} s")
        if searcher.meaning is None:
            print("meaning model off: words alone (install the `meaning` extra to compare)")
        if args.fit:
            rows = [row for name in TUNING if SETS[name].exists() for row in load_set(name)]
            await app[SEARCH].refresh()
            fit(app[SEARCH], rows)
            return
        names = GROUPS.get(args.set, (args.set,))
        for k, name in enumerate(names):
            rows = load_set(name)
            started = time.perf_counter()
            seen = await run_set(app, rows, first_phone=k * 100_000)
            # A held-out set's misses are never printed: reading them would make it a tuning set.
            report(name, seen, args.show_misses and "heldout" not in name)
            print(f"({(time.perf_counter() - started) / len(rows) * 1000:.1f} ms per text through the pipeline)")
            curve(app[SEARCH], rows, name)
    finally:
        await runner.cleanup()
    if not args.only_own:
        print()
        public_sets(Searcher(app[SEARCH].tokenizer), DEFAULT_AGRI_QA)


if __name__ == "__main__":
    asyncio.run(main())
