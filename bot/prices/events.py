"""What the prices feature announces (bot.extend events); its own listeners and others' react."""

from __future__ import annotations

from bot.extend import Event

# Emitted with the ids of commodities that have new published prices (stored, confirmed or mapped).
PRICES_STORED: Event[[set[int]]] = Event("prices.stored")
