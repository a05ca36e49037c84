"""The 首页's broadcast parts: today's deliveries, their share of the daily chart, and the recent runs."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from aiohttp import web
from tortoise.expressions import F, Q
from tortoise.functions import Coalesce

from bot.extend import Card, add_card, listen
from bot.keys import CONFIG
from bot.web.dashboard import OUTBOUND_DAYS, midnight, per_day, scratch
from broadcasts import costs
from broadcasts.models import Broadcast, BroadcastRun, Delivery
from broadcasts.service import run_stats
from broadcasts.wording import first_line

RUNS = 5
PENDING = 5  # pending approvals listed on the 首页
OUTCOMES = ("delivered", "sent", "failed")


def setup(app: web.Application) -> None:
    add_card(app, Card("deliveries_today", "broadcasts/dashboard_today.html", today, order=40, place="tile"))
    add_card(app, Card("runs", "broadcasts/dashboard_runs.html", recent_runs, order=20))
    add_card(app, Card("pending_approvals", "broadcasts/dashboard_pending.html", pending_approvals, order=10))
    listen(app, OUTBOUND_DAYS, per_outcome)


def _delivery_day(start: datetime, end: datetime) -> Q:
    """Sent in [start, end), or failed without being sent with its last try due then: `done_at` below is
    sent_at, or due_at when it was never sent (one expression per row instead of two ranges)."""
    return Q(done_at__gte=start, done_at__lt=end)


async def per_outcome(bounds: list[datetime]) -> dict[str, list[int]]:
    """Deliveries per day between consecutive bounds, by outcome, in one grouped query; each day's
    numbers are left for the rest of this counting of the 首页 (the tile reads today's)."""
    keys = [f"d{i}" for i in range(len(bounds) - 1)]
    series = {outcome: [0] * len(keys) for outcome in OUTCOMES}
    rows = await (Delivery.filter(state__in=OUTCOMES).annotate(done_at=Coalesce(F("sent_at"), F("due_at")))
                  .filter(_delivery_day(bounds[0], bounds[-1])).group_by("state")
                  .annotate(**per_day(bounds, _delivery_day)).values("state", *keys))
    for row in rows:
        series[row["state"]] = [row[key] for key in keys]
    left = scratch()
    for i in range(len(keys)):
        left[(__name__, bounds[i], bounds[i + 1])] = {outcome: series[outcome][i] for outcome in OUTCOMES}
    return series


async def today(app: web.Application) -> dict[str, int]:
    """This county day's deliveries by outcome and in all (the tile at the top)."""
    start, end = midnight(app[CONFIG]), midnight(app[CONFIG], -1)
    done = scratch().get((__name__, start, end))
    if done is None:
        done = {outcome: counts[0] for outcome, counts in (await per_outcome([start, end])).items()}
    return {**done, "total": sum(done.values())}


async def recent_runs(app: web.Application) -> list[dict[str, Any]]:
    tz = app[CONFIG].tz
    runs = await BroadcastRun.all().order_by("-id").limit(RUNS).prefetch_related("broadcast")
    found = []
    for run in runs:
        stats = await run_stats(run)
        text = run.text or run.broadcast.text
        found.append({**stats, "broadcast_id": run.broadcast_id, "kind": run.broadcast.kind,
                      "fire_at_local": run.fire_at.astimezone(tz).strftime("%m-%d %H:%M"),
                      "text": text[:40] + ("…" if len(text) > 40 else "")})
    return found


async def pending_approvals(app: web.Application) -> dict[str, Any]:
    """Broadcasts waiting for a supervisor, oldest first: how many, and the first few with their
    reach and cost (the numbers the approval queue shows)."""
    config = app[CONFIG]
    query = Broadcast.filter(state="pending_approval")
    today = datetime.now(config.tz).date()
    items = []
    for broadcast in await query.order_by("id").limit(PENDING).prefetch_related("created_by"):
        cost = await costs.estimate(broadcast.audience, broadcast.text, config, today)
        items.append({"id": broadcast.id, "title": first_line(broadcast.text), "by": broadcast.created_by.name,
                      "at": broadcast.created_at.astimezone(config.tz).strftime("%m-%d %H:%M"),
                      "recipients": cost["recipients"], "cost": cost["estimated_cost_yuan"]})
    return {"count": await query.count(), "rows": items}
