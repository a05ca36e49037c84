"""Broadcast lifecycle: create with a preview, approve or reject, pause/resume/cancel, fire a run
(its delivery rows), and per-run statistics. The API, the CLI and the scheduler all come here."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.exceptions import IntegrityError
from tortoise.expressions import Subquery
from tortoise.functions import Count

from bot import db
from bot.config import Config
from bot.models import Message, Officer, Subscriber
from broadcasts import audience as audiences
from broadcasts import schedules, store
from broadcasts.models import KINDS, Broadcast, BroadcastRun, Delivery
from broadcasts.placeholders import render
from content.safety import explain, find_forbidden

log = logging.getLogger("nongbot.broadcasts")
MAX_TEXT = 1000
ACTIVE_RUN = ("enqueuing", "sending", "paused")


class BroadcastError(ValueError):
    """A request that cannot be done; `status` is the HTTP status the API answers with."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def validate(data: dict[str, Any], config: Config) -> tuple[str, str, audiences.Audience, dict[str, Any] | None, int]:
    kind = data.get("kind")
    if kind not in KINDS:
        raise BroadcastError(f"kind: expected one of {', '.join(KINDS)}")
    text = str(data.get("text") or "").strip()
    if not text:
        raise BroadcastError("text: missing")
    if len(text) > MAX_TEXT:
        raise BroadcastError(f"text: at most {MAX_TEXT} characters")
    try:
        audience = audiences.Audience.from_json(data.get("audience"))
        schedules.parse(data.get("schedule"), config.tz, datetime.now(config.tz))
    except ValueError as exc:
        raise BroadcastError(str(exc)) from None
    if found := find_forbidden(text, audience.crops):
        # Said in Chinese even to API callers: it is the officer's text, and the officer must fix it.
        raise BroadcastError(f"text: {explain(found[0])}，不能推荐给农户")
    spread = data.get("spread_minutes", 0) or 0
    if not isinstance(spread, int) or not 0 <= spread <= 24 * 60:
        raise BroadcastError("spread_minutes: expected 0-1440")
    return kind, text, audience, data.get("schedule"), spread


def wake_channel(config: Config) -> str:
    """The PostgreSQL channel the elected scheduler listens on (one per leader lock: per deployment)."""
    return f"nongbot_broadcasts_{config.broadcasts.leader_lock}"


async def create(data: dict[str, Any], officer: Officer, config: Config) -> tuple[Broadcast, dict[str, Any]]:
    kind, text, audience, schedule, spread = validate(data, config)
    broadcast = await Broadcast.create(
        kind=kind, text=text, audience=audience.to_json(), schedule=schedule, spread_minutes=spread,
        state="pending_approval", created_by=officer, article_ref=data.get("article_ref"),
    )
    log.info("broadcast created", extra={"broadcast": broadcast.id, "officer": officer.name})
    return broadcast, await audiences.preview(audience, text, config)


def may_edit(broadcast: Broadcast, officer: Officer) -> bool:
    """A broadcast waiting for approval can be fixed by whoever wrote it, or by a supervisor."""
    return broadcast.state == "pending_approval" and (
        broadcast.created_by_id == officer.id or officer.role in ("supervisor", "admin"))


async def update(broadcast: Broadcast, data: dict[str, Any], officer: Officer,
                 config: Config) -> tuple[Broadcast, dict[str, Any]]:
    """Change a broadcast still waiting for approval (text, audience, schedule, spread); it stays
    waiting, so the approver sees the new version before anything goes out."""
    if not may_edit(broadcast, officer):
        if broadcast.state != "pending_approval":
            raise BroadcastError(f"cannot edit a broadcast that is {broadcast.state}", 409)
        raise BroadcastError("only its writer or a supervisor edits a broadcast", 403)
    kind, text, audience, schedule, spread = validate(data, config)
    broadcast.kind, broadcast.text, broadcast.audience = kind, text, audience.to_json()
    broadcast.schedule, broadcast.spread_minutes = schedule, spread
    await broadcast.save(update_fields=["kind", "text", "audience", "schedule", "spread_minutes", "updated_at"])
    log.info("broadcast edited", extra={"broadcast": broadcast.id, "officer": officer.name})
    return broadcast, await audiences.preview(audience, text, config)


async def approve(broadcast: Broadcast, officer: Officer, config: Config) -> Broadcast:
    if officer.role not in ("supervisor", "admin"):
        raise BroadcastError("only a supervisor approves broadcasts", 403)
    if broadcast.created_by_id == officer.id and not config.broadcasts.allow_self_approval:
        raise BroadcastError("nobody approves their own broadcast (broadcasts.allow_self_approval)", 403)
    if broadcast.state != "pending_approval":
        raise BroadcastError(f"cannot approve a broadcast that is {broadcast.state}", 409)
    broadcast.state = "scheduled"
    broadcast.approved_by = officer
    broadcast.approved_at = datetime.now(UTC).replace(microsecond=0)
    await broadcast.save(update_fields=["state", "approved_by_id", "approved_at", "updated_at"])
    return broadcast


async def reject(broadcast: Broadcast, officer: Officer, reason: str) -> Broadcast:
    if officer.role not in ("supervisor", "admin"):
        raise BroadcastError("only a supervisor rejects broadcasts", 403)
    if broadcast.state != "pending_approval":
        raise BroadcastError(f"cannot reject a broadcast that is {broadcast.state}", 409)
    broadcast.state, broadcast.reason = "rejected", reason[:500]
    await broadcast.save(update_fields=["state", "reason", "updated_at"])
    return broadcast


async def pause(broadcast: Broadcast) -> Broadcast:
    if broadcast.state not in ("scheduled", "sending"):
        raise BroadcastError(f"cannot pause a broadcast that is {broadcast.state}", 409)
    await BroadcastRun.filter(broadcast_id=broadcast.id, state="sending").update(state="paused")
    broadcast.state = "paused"
    await broadcast.save(update_fields=["state", "updated_at"])
    return broadcast


async def resume(broadcast: Broadcast) -> Broadcast:
    if broadcast.state != "paused":
        raise BroadcastError(f"cannot resume a broadcast that is {broadcast.state}", 409)
    await BroadcastRun.filter(broadcast_id=broadcast.id, state="paused").update(state="sending")
    running = await BroadcastRun.filter(broadcast_id=broadcast.id, state="sending").exists()
    broadcast.state = "sending" if running else "scheduled"
    await broadcast.save(update_fields=["state", "updated_at"])
    return broadcast


async def cancel(broadcast: Broadcast, reason: str = "") -> Broadcast:
    if broadcast.state in ("done", "cancelled", "rejected"):
        raise BroadcastError(f"cannot cancel a broadcast that is {broadcast.state}", 409)
    runs = await BroadcastRun.filter(broadcast_id=broadcast.id, state__in=ACTIVE_RUN).values_list("id", flat=True)
    await Delivery.filter(run_id__in=runs, state="queued").update(state="skipped", error="cancelled")
    await BroadcastRun.filter(id__in=runs).update(state="cancelled", finished_at=datetime.now(UTC))
    broadcast.state, broadcast.reason = "cancelled", reason[:500]
    await broadcast.save(update_fields=["state", "reason", "updated_at"])
    return broadcast


async def fire(broadcast_id: int, fire_at: datetime, config: Config, *, skip_reason: str = "") -> BroadcastRun | None:
    """Make the run for one firing and its delivery rows. Safe to call twice for the same firing,
    from any process: the unique (broadcast, fire_at) makes one run, and a crash during
    enqueueing is finished by the next call (deliveries are unique per run and recipient)."""
    broadcast = await Broadcast.get_or_none(id=broadcast_id)
    if broadcast is None or broadcast.state not in ("scheduled", "sending", "paused"):
        return None
    fire_at = fire_at.astimezone(UTC).replace(microsecond=0)
    try:
        run = await BroadcastRun.create(broadcast=broadcast, fire_at=fire_at,
                                        state="skipped" if skip_reason else "enqueuing", note=skip_reason)
    except IntegrityError:
        run = await BroadcastRun.get(broadcast_id=broadcast.id, fire_at=fire_at)
        if run.state != "enqueuing":
            return run
    if skip_reason:
        log.warning("firing skipped", extra={"broadcast": broadcast.id, "why": skip_reason})
        return run
    if run.text is None:
        # Frozen at the firing: every worker, retry and reconciliation sends the same words.
        run.text = await render(broadcast.text, fire_at.astimezone(config.tz).date())
        await run.save(update_fields=["text"])
    audience = audiences.Audience.from_json(
        schedules.run_audience(broadcast.schedule, broadcast.audience, fire_at, config.tz))
    total = max(await audiences.matching(audience).count(), 1)
    spread = timedelta(minutes=broadcast.spread_minutes)
    position = 0
    postgres = db.is_postgres(config.database.url)
    async for batch in audiences.recipients(audience):
        rows = []
        for subscriber_id, channel in batch:
            rows.append((subscriber_id, channel, fire_at + spread * position / total))
            position += 1
        await store.enqueue(run.id, rows, postgres)  # rows already there (a firing finished again) are kept
    run.targeted = await Delivery.filter(run_id=run.id).count()
    run.state = "paused" if broadcast.state == "paused" else "sending"
    await run.save(update_fields=["targeted", "state"])
    if broadcast.state == "scheduled":
        broadcast.state = "sending"
        await broadcast.save(update_fields=["state", "updated_at"])
    log.info("broadcast run enqueued", extra={"broadcast": broadcast.id, "run": run.id, "targeted": run.targeted})
    return run


async def finish_runs(recurring: dict[int, bool]) -> None:
    """Runs with nothing left to send are done; a one-off broadcast is done with its run."""
    for run in await BroadcastRun.filter(state="sending"):
        if await Delivery.filter(run_id=run.id, state__in=("queued", "sending")).exists():
            continue
        run.state, run.finished_at = "done", datetime.now(UTC)
        await run.save(update_fields=["state", "finished_at"])
        broadcast = await Broadcast.get(id=run.broadcast_id)
        if broadcast.state == "sending" and not recurring.get(broadcast.id, False):
            broadcast.state = "done"
            await broadcast.save(update_fields=["state", "updated_at"])
        elif broadcast.state == "sending":
            broadcast.state = "scheduled"  # waiting for its next firing
            await broadcast.save(update_fields=["state", "updated_at"])


async def run_stats(run: BroadcastRun) -> dict[str, Any]:
    counts = dict(await Delivery.filter(run_id=run.id).group_by("state").annotate(n=Count("id"))
                  .values_list("state", "n"))
    reasons = dict(await Delivery.filter(run_id=run.id, state="failed").group_by("error_code")
                   .annotate(n=Count("id")).values_list("error_code", "n"))
    recipients = Subquery(Delivery.filter(run_id=run.id).values("subscriber_id"))
    opted_out = await Subscriber.filter(id__in=recipients, opted_out_at__gt=run.created_at).count()
    replies = await Message.filter(direction="in", subscriber_id__in=recipients, created_at__gt=run.created_at,
                                   created_at__lt=run.created_at + timedelta(hours=24)).count()
    sent = counts.get("sent", 0) + counts.get("delivered", 0)
    return {
        "id": run.id, "state": run.state, "fire_at": run.fire_at.isoformat(), "note": run.note,
        "targeted": run.targeted, "sent": sent, "delivered": counts.get("delivered", 0),
        "failed": counts.get("failed", 0), "pending": counts.get("queued", 0) + counts.get("sending", 0),
        "skipped": counts.get("skipped", 0), "failed_by_reason": {str(k): v for k, v in reasons.items()},
        "opted_out_since": opted_out, "replies_24h": replies,
    }


async def describe(broadcast: Broadcast) -> dict[str, Any]:
    runs = await BroadcastRun.filter(broadcast_id=broadcast.id).order_by("id")
    return {
        "id": broadcast.id, "kind": broadcast.kind, "state": broadcast.state, "text": broadcast.text,
        "audience": broadcast.audience, "schedule": broadcast.schedule, "reason": broadcast.reason,
        "spread_minutes": broadcast.spread_minutes, "created_by": broadcast.created_by_id,
        "approved_by": broadcast.approved_by_id, "runs": [await run_stats(r) for r in runs],
    }
