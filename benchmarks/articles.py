"""Article cost benchmark: what each bundled article costs a villager by SMS, and how long it reads on WeChat.

For every article: the SMS segments of the first answer (signature, summary, the 更多 and rating hints),
of each 更多 page, and of the whole article read to the end, paged exactly as bot/compose.py pages it; and
the length of the first WeChat screen. Prints the machine, the distribution of each and the worst
articles. --articles and --article-segments / --wechat-limit measure another corpus or layout (e.g. an
older checkout's articles with the old three-segment pages and 600-character WeChat screens).
Usage: python benchmarks/articles.py [--articles DIR] [--article-segments 2] [--wechat-limit 300] [--worst 5]
"""

from __future__ import annotations

import argparse
import platform
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bot.compose import RATE_HINT  # noqa: E402
from bot.config import SmsConfig  # noqa: E402
from bot.sms import segments, ucs2_capacity  # noqa: E402
from content.loader import BUNDLED, ArticleData, read_path  # noqa: E402
from content.render import WECHAT_LIMIT, sms_page, wechat_text  # noqa: E402


def sms_costs(article: ArticleData, budget: int, signature: str) -> list[int]:
    costs: list[int] = []
    while True:
        tail = RATE_HINT if not costs else ""
        page = sms_page(article.summary, article.body, len(costs), budget - len(tail))
        if not page.text:
            return costs
        costs.append(segments(signature + page.text + tail))


def describe(name: str, values: list[int]) -> str:
    ordered = sorted(values)
    p90 = ordered[int(0.9 * (len(ordered) - 1))]
    return (f"{name:<28} mean {statistics.mean(values):5.2f}  median {statistics.median(values):4.1f}  "
            f"p90 {p90:3d}  max {max(values):3d}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=Path, default=BUNDLED)
    parser.add_argument("--article-segments", type=int, default=SmsConfig().article_segments)
    parser.add_argument("--wechat-limit", type=int, default=WECHAT_LIMIT)
    parser.add_argument("--worst", type=int, default=5)
    args = parser.parse_args()
    signature = SmsConfig().signature
    budget = ucs2_capacity(args.article_segments) - len(signature)
    report = read_path(args.articles)
    articles = report.articles
    print(f"machine: {platform.machine()} {platform.processor() or ''} python {platform.python_version()}")
    print(f"corpus: {args.articles} ({len(articles)} articles, {len(report.errors)} unreadable); "
          f"SMS page: {args.article_segments} segments ({budget} characters with the signature); "
          f"WeChat screen: {args.wechat_limit} characters")
    per_article = {a.ref: sms_costs(a, budget, signature) for a in articles}
    first = [costs[0] for costs in per_article.values()]
    pages = [cost for costs in per_article.values() for cost in costs[1:]]
    whole = [sum(costs) for costs in per_article.values()]
    screens = [len(wechat_text(a.title, a.summary, a.body, limit=args.wechat_limit).text) for a in articles]
    print(describe("SMS first answer (segments)", first))
    print(describe("SMS each 更多 page", pages or [0]))
    print(describe("SMS whole article", whole))
    print(describe("WeChat first screen (chars)", screens))
    print(f"first answers in one segment: {sum(c == 1 for c in first)} of {len(first)}")
    worst = sorted(per_article.items(), key=lambda item: -sum(item[1]))[: args.worst]
    print("most expensive: " + ", ".join(f"{ref} {sum(costs)} ({'+'.join(map(str, costs))})" for ref, costs in worst))


if __name__ == "__main__":
    main()
