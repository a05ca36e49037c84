"""Retrieval benchmark: recall@1/@3, MRR@10, abstention, build time, query latency and memory.

Runs on our own set (content/articles + tests/data/queries.jsonl) and, when present, on the
public agri-qa sets (../shared/data/agri-qa), next to their baseline.py run in the same process
run. Usage: python benchmarks/retrieval.py [--agri-qa DIR] [--synthetic N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from content.fold import syllables  # noqa: E402
from content.loader import BUNDLED, ArticleData, read_path  # noqa: E402
from content.search import Entry, Searcher  # noqa: E402
from content.tokenizer import Tokenizer  # noqa: E402

DEFAULT_AGRI_QA = ROOT.parent / "shared" / "data" / "agri-qa"


def machine() -> str:
    cpu = "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    python = f"{platform.python_implementation()} {platform.python_version()}"
    return f"{python}, {os.cpu_count()} CPUs ({cpu}), {platform.system()} {platform.release()}"


def entries_from_articles(articles: list[ArticleData]) -> list[Entry]:
    return [
        Entry(id=i + 1, ref=a.ref, title=a.title, crops=a.crops, keywords=a.keywords, summary=a.summary,
              body=a.body, stamp="0")
        for i, a in enumerate(articles)
    ]


def ranked_recall(searcher: Searcher, questions: list[tuple[str, str]]) -> float:
    """recall@1 of rank() alone (no answer-or-abstain decision)."""
    hits = 0
    for text, ref in questions:
        _, ranked = searcher.rank(text, limit=1)
        hits += bool(ranked) and searcher.entries[ranked[0][0]].ref == ref
    return round(hits / max(len(questions), 1), 4)


def homophone_typos(searcher: Searcher, articles: list[ArticleData], rows: list[dict[str, str]]) -> dict[str, float]:
    """One character of the question's key term (the longest word of the answering article's written
    title found in the question) swapped for a common same-sound character: how much recall@1 the
    pinyin pass wins back. Homophones come from the articles' own text; the seed is fixed."""
    tk = searcher.tokenizer
    counts = Counter(c for a in articles for c in a.title + a.body if "\u4e00" <= c <= "\u9fff")
    by_sound: dict[str, list[str]] = {}
    for char, _ in counts.most_common():
        by_sound.setdefault(syllables(char)[0], []).append(char)
    titles = {a.ref: a.title for a in articles if not a.title_derived}
    rng = random.Random(14)
    clean, typo = [], []
    for row in rows:
        question, ref = row["question"], row["ref"]
        words = sorted((w for w in tk.words(titles.get(ref, "")) if len(w) > 1 and w in question), key=len)
        if not words:
            continue
        key = words[-1]
        at = rng.randrange(len(key))
        same = [c for c in by_sound.get(syllables(key[at])[0], [])[:20] if c != key[at]]
        if not same:
            continue
        clean.append((question, ref))
        typo.append((question.replace(key, key[:at] + rng.choice(same) + key[at + 1:], 1), ref))
    out: dict[str, float] = {"questions": len(typo)}
    for on in (False, True):
        searcher.sound_pass = on
        name = "with_pinyin" if on else "without_pinyin"
        out[f"clean_r1_{name}"] = ranked_recall(searcher, clean)
        out[f"typo_r1_{name}"] = ranked_recall(searcher, typo)
    return out


def evaluate(searcher: Searcher, questions: list[tuple[str, list[str]]]) -> dict[str, float]:
    r1 = r3 = mrr = 0.0
    answerable = answered_ok = unanswerable = answered_bad = 0
    lat = []
    for text, refs in questions:
        t = time.perf_counter()
        result = searcher.search(text, limit=10)
        lat.append((time.perf_counter() - t) * 1000)
        ranked = [h.ref for h in result.hits]
        if refs:
            answerable += 1
            answered_ok += result.answered
            pos = next((i for i, r in enumerate(ranked) if r in refs), None)
            if pos is not None:
                r1 += pos == 0
                r3 += pos < 3
                mrr += 1 / (pos + 1)
        else:
            unanswerable += 1
            answered_bad += result.answered
    lat.sort()
    n = max(answerable, 1)
    out = {
        "recall_at_1": round(r1 / n, 4), "recall_at_3": round(r3 / n, 4), "mrr_at_10": round(mrr / n, 4),
        "answer_rate_answerable": round(answered_ok / n, 4),
        "query_ms_p50": round(statistics.median(lat), 3), "query_ms_p99": round(lat[int(0.99 * (len(lat) - 1))], 3),
        "questions": len(questions),
    }
    if unanswerable:
        out["answer_rate_unanswerable"] = round(answered_bad / unanswerable, 4)
    return out


def timed_build(searcher: Searcher, entries: list[Entry]) -> float:
    t = time.perf_counter()
    searcher.build(entries)
    return round(time.perf_counter() - t, 3)


def own_set(searcher: Searcher) -> None:
    report = read_path(BUNDLED)
    entries = entries_from_articles(report.articles)
    build = timed_build(searcher, entries)
    rows = [json.loads(line) for line in (ROOT / "tests/data/queries.jsonl").open(encoding="utf-8")]
    result = evaluate(searcher, [(r["q"], r["refs"]) for r in rows])
    print(json.dumps({"set": "own", "articles": len(entries), "build_s": build, **result}, ensure_ascii=False))


def public_sets(searcher: Searcher, folder: Path) -> None:
    if not folder.is_dir():
        print(f"public sets skipped: {folder} not found (they are for measurement only, not shipped)")
        return
    for corpus, dev in (("taqa_articles.jsonl", "taqa_dev.jsonl"), ("crop_passages.jsonl", "crop_dev.jsonl")):
        # Read the way `nongbot import articles` reads (untitled rows get a title from their first sentence).
        report = read_path(folder / corpus)
        rows_in_file = sum(1 for line in (folder / corpus).open(encoding="utf-8") if line.strip())
        entries = entries_from_articles(report.articles)
        build = timed_build(searcher, entries)
        rows = [json.loads(line) for line in (folder / dev).open(encoding="utf-8")]
        ours = evaluate(searcher, [(r["question"], [r["ref"]]) for r in rows])
        ours.pop("answer_rate_answerable", None)
        print(json.dumps({"set": dev, "system": "nongbot", "articles": len(entries), "rows": rows_in_file,
                          "titles_derived": report.derived_titles, "build_s": build, **ours}))
        base = subprocess.run([sys.executable, str(folder / "baseline.py"), str(folder / corpus), str(folder / dev),
                               "--json"], capture_output=True, text=True, check=False)
        if base.returncode == 0:
            print(json.dumps({"set": dev, "system": "baseline", **json.loads(base.stdout)}))
        else:
            print(f"baseline failed on {dev}: {base.stderr.strip().splitlines()[-1:]}")
        if corpus.startswith("taqa"):
            typos = homophone_typos(searcher, report.articles, rows)
            print(json.dumps({"set": dev, "test": "homophone typo in the key term", **typos}))
            searcher.sound_pass = True


def synthetic(searcher: Searcher, count: int) -> None:
    """Scale test: `count` articles made by recombining the bundled ones' sentences."""
    base = read_path(BUNDLED).articles
    sentences = [s for a in base for s in a.body.replace("\n", "。").split("。") if len(s) > 8]
    entries = []
    for i in range(count):
        a = base[i % len(base)]
        body = "。".join(sentences[(i * 7 + k * 13) % len(sentences)] for k in range(12))
        entries.append(Entry(id=i + 1, ref=f"syn-{i:05d}", title=f"{a.title}（{i}）", crops=a.crops,
                             keywords=a.keywords, summary=a.summary, body=body, stamp="0"))
    fresh = Searcher(searcher.tokenizer)
    build = timed_build(fresh, entries)
    rows = [json.loads(line) for line in (ROOT / "tests/data/queries.jsonl").open(encoding="utf-8")]
    unanswerable: list[tuple[str, list[str]]] = [(r["q"], []) for r in rows]
    result = evaluate(fresh, unanswerable * 3)
    print(json.dumps({"set": f"synthetic-{count}", "articles": count, "build_s": build,
                      "query_ms_p50": result["query_ms_p50"], "query_ms_p99": result["query_ms_p99"]}))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--agri-qa", type=Path, default=DEFAULT_AGRI_QA)
    parser.add_argument("--synthetic", type=int, default=10_000)
    parser.add_argument("--only-own", action="store_true")
    args = parser.parse_args()
    print("machine:", machine())
    t = time.perf_counter()
    searcher = Searcher(Tokenizer())
    print(json.dumps({"tokenizer_load_s": round(time.perf_counter() - t, 3)}))
    own_set(searcher)
    if not args.only_own:
        public_sets(searcher, args.agri_qa)
        if args.synthetic:
            synthetic(searcher, args.synthetic)
    print(json.dumps({"peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}))


if __name__ == "__main__":
    main()
