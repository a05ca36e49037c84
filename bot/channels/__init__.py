"""Channels: the Channel protocol and its capabilities (base.py), the registry, one module or package per provider."""

from __future__ import annotations

from bot.channels.base import Sender, SendResult, reconcile

__all__ = ["SendResult", "Sender", "reconcile"]
