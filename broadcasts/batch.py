"""The dispatcher's batch hook: a run's SMS recipients that the provider takes in one request go together."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any

from bot.channels import SendResult
from bot.keys import SENDERS
from bot.sms import segments

if TYPE_CHECKING:
    from broadcasts.dispatcher import Dispatcher, Job

log = logging.getLogger("nongbot.dispatcher")


async def send_in_bulk(d: Dispatcher, jobs: list[Job], who: dict[int, dict[str, Any]]) -> list[Job]:
    """Send, one provider request per run, the claimed SMS jobs whose sender has `send_many` (Alibaba
    Cloud SendSms: one text, up to 1,000 numbers) and record each result; return the jobs left for the
    per-recipient path (other channels and providers, opted-out people, single recipients, paused runs)."""
    sender = d.app[SENDERS].get("sms")
    many = getattr(sender, "send_many", None)
    batchable = getattr(sender, "batchable", None)
    if many is None or batchable is None:
        return jobs
    rest: list[Job] = []
    groups: dict[int, list[tuple[Job, str]]] = {}
    for job in jobs:
        row = who.get(job.subscriber_id)
        if job.channel == "sms" and row and row["status"] == "active" and row["phone"] and batchable(row["phone"]):
            groups.setdefault(job.run_id, []).append((job, row["phone"]))
        else:
            rest.append(job)
    for run_id, members in groups.items():
        if len(members) < 2 or await d.run_state(run_id) != "sending":
            rest.extend(job for job, _ in members)  # the per-recipient path handles pause and cancel
            continue
        text, kind = await d._message(run_id)
        await d.buckets["sms"].take(segments(d.config.sms.signature + text) * len(members))
        if await d.run_state(run_id) != "sending":
            rest.extend(job for job, _ in members)
            continue
        try:
            results = await many([phone for _, phone in members], text, kind=kind)
        except Exception as exc:  # a bug in a provider module: fail these rows, keep the engine alive
            log.exception("bulk send raised", extra={"run": run_id})
            results = {phone: SendResult("failed", error=str(exc)[:300]) for _, phone in members}
        for job, phone in members:
            await d.record(job, results.get(phone) or SendResult("failed", error="no result from provider"))
    return rest
