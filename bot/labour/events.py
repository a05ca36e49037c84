"""What the labour feature announces (bot.extend events); its own listeners and others' react."""

from __future__ import annotations

from collections.abc import Iterable

from bot.extend import Event

# Emitted with the ids of job notices just verified (or stored verified): they are pushed once.
JOBS_VERIFIED: Event[[Iterable[int]]] = Event("labour.jobs_verified")
