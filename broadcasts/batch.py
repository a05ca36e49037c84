"""The dispatcher's bulk path: a run's SMS recipients that the provider takes in one request go together."""

from __future__ import annotations

import logging
from typing import Any, Protocol, TypeVar

from bot.channels.base import BulkSender, Sender, SendResult
from bot.config import Config
from bot.sms import segments

log = logging.getLogger("nongbot.dispatcher")


class Claimed(Protocol):
    """A claimed delivery row, as far as the bulk path reads it."""

    @property
    def run_id(self) -> int: ...

    @property
    def subscriber_id(self) -> int: ...

    @property
    def channel(self) -> str: ...


J = TypeVar("J", bound=Claimed)
J_contra = TypeVar("J_contra", bound=Claimed, contravariant=True)


class Engine(Protocol[J_contra]):
    """What the bulk path needs of the delivery engine (broadcasts/dispatcher.py)."""

    @property
    def config(self) -> Config: ...

    async def message(self, run_id: int) -> tuple[str, str]:
        """The run's (text, kind)."""

    async def run_state(self, run_id: int) -> str: ...

    async def pace(self, channel: str, cost: float) -> None:
        """Wait for `cost` (SMS segments) under the channel's rate limit."""

    async def record(self, job: J_contra, result: SendResult) -> None: ...


async def send_in_bulk(engine: Engine[J], sender: Sender | None, jobs: list[J],
                       who: dict[int, dict[str, Any]]) -> list[J]:
    """Send, one provider request per run, the claimed SMS jobs whose sender is a BulkSender (Alibaba
    Cloud SendSms: one text, up to 1,000 numbers) and record each result; return the jobs left for the
    per-recipient path (other channels and providers, opted-out people, single recipients, paused runs)."""
    if sender is None or not isinstance(sender, BulkSender):
        return jobs
    rest: list[J] = []
    groups: dict[int, list[tuple[J, str]]] = {}
    for job in jobs:
        row = who.get(job.subscriber_id)
        phone = row["phone"] if row and row["status"] == "active" else None
        if job.channel == "sms" and phone and sender.batchable(phone):
            groups.setdefault(job.run_id, []).append((job, phone))
        else:
            rest.append(job)
    for run_id, members in groups.items():
        if len(members) < 2 or await engine.run_state(run_id) != "sending":
            rest.extend(job for job, _ in members)  # the per-recipient path handles pause and cancel
            continue
        text, kind = await engine.message(run_id)
        await engine.pace("sms", segments(engine.config.sms.signature + text) * len(members))
        if await engine.run_state(run_id) != "sending":
            rest.extend(job for job, _ in members)
            continue
        try:
            results = await sender.send_many([phone for _, phone in members], text, kind=kind)
        except Exception as exc:  # a bug in a provider module: fail these rows, keep the engine alive
            log.exception("bulk send raised", extra={"run": run_id})
            results = {phone: SendResult("failed", error=str(exc)[:300]) for _, phone in members}
        for job, phone in members:
            await engine.record(job, results.get(phone) or SendResult("failed", error="no result from provider"))
    return rest
