"""`nongbot import …`: articles, subscribers, jobs and prices from files, each row checked, bad rows reported."""

from __future__ import annotations

import argparse
import sys
from datetime import datetime
from pathlib import Path

from bot.app import create_app
from bot.cli.base import UsageError, existing_file, with_database
from bot.config import Config
from bot.extend import emit
from bot.labour import notices
from bot.labour.events import JOBS_VERIFIED
from bot.prices import records, rows
from bot.prices.events import PRICES_STORED
from bot.villagers import roster
from content import importer
from content.loader import read_path


def cmd_import_articles(args: argparse.Namespace, config: Config) -> int:
    path = Path(args.path)
    if not path.exists():
        raise UsageError(f"{path}: no such file or directory")
    report = read_path(path)
    for error in report.errors:
        print(f"skipped {error}", file=sys.stderr)

    def progress(done: int, total: int) -> None:
        width = 30
        filled = width * done // max(total, 1)
        print(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total}", end="", file=sys.stderr, flush=True)

    counts = with_database(config, lambda: importer.upsert(report.articles, progress))
    print(file=sys.stderr)
    # Untitled rows are kept with a title made from their first sentence; say how many, so it is no surprise.
    print(f"articles: {counts.created} new, {counts.updated} updated, {counts.unchanged} unchanged, "
          f"{len(report.errors)} skipped, {report.derived_titles} titles derived from the text")
    return 1 if report.errors else 0


def cmd_import_subscribers(args: argparse.Namespace, config: Config) -> int:
    path = existing_file(args.path)
    report = with_database(config, lambda: roster.import_csv(path))
    for error in report.errors:
        print(f"skipped {error}", file=sys.stderr)
    print(f"subscribers: {report.created} new, {report.updated} updated, {len(report.errors)} skipped")
    return 1 if report.errors else 0


def cmd_import_jobs(args: argparse.Namespace, config: Config) -> int:
    path = existing_file(args.path)
    app = create_app(config, role="cli")  # verified notices go where the console's go: the feature's listeners

    async def run() -> tuple[notices.JobReport, int]:
        report = await notices.import_csv(path, datetime.now(config.tz).date())
        return report, sum(await emit(app, JOBS_VERIFIED, report.verified_ids))

    report, reached = with_database(config, run)
    for error in report.error_lines():
        print(f"skipped {error}", file=sys.stderr)
    print(f"jobs: {report.created} new, {report.updated} updated, {len(report.errors)} skipped; "
          f"{reached} workers notified")
    return 1 if report.errors else 0


def cmd_import_prices(args: argparse.Namespace, config: Config) -> int:
    path = existing_file(args.path)
    found, problems = rows.read_csv(path)
    app = create_app(config, role="cli")  # new prices go where the console's go: the feature's listeners

    async def run() -> tuple[records.PriceReport, int]:
        report = await records.store(found, config, source=path.name, recorded_by="import")
        return report, sum(await emit(app, PRICES_STORED, report.commodity_ids))

    report, fired = with_database(config, run)
    for problem in [*problems, *(f"{path}:{e}" for e in report.errors)]:
        print(f"skipped {problem}" if "suspect" not in problem and "kept" not in problem else problem,
              file=sys.stderr)
    rejected = len(report.errors) - report.suspect - report.unmapped + len(problems)
    print(f"prices: {report.stored} new, {report.updated} updated, {report.suspect} held as suspect, "
          f"{report.unmapped} kept for mapping, {rejected} rejected; {fired} alerts")
    return 1 if problems or report.errors else 0
