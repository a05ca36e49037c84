"""`nongbot broadcast …`: the CLI face of broadcasts/service.py, with the API's rules (roles, approval, states)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from bot.cli.base import UsageError, officer_named, with_database
from bot.config import Config
from broadcasts import audience as audiences
from broadcasts import service
from broadcasts.models import Broadcast


def cmd_broadcast(args: argparse.Namespace, config: Config) -> int:
    action = args.broadcast_command
    body: dict[str, Any] = {}
    if action in ("create", "preview"):
        try:
            loaded = json.loads(Path(args.file).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise UsageError(f"{args.file}: {exc}") from None
        if not isinstance(loaded, dict):
            raise UsageError(f"{args.file}: expected a JSON object")
        body = loaded

    async def run() -> object:
        try:
            return await _act(action, args, body, config)
        except ValueError as exc:  # BroadcastError, AudienceError: the user's mistake
            raise UsageError(str(exc)) from None

    print(json.dumps(with_database(config, run), ensure_ascii=False, indent=2, default=str))
    return 0


async def _act(action: str, args: argparse.Namespace, body: dict[str, Any], config: Config) -> object:
    if action == "preview":
        return await audiences.preview(audiences.Audience.from_json(body.get("audience")),
                                       str(body.get("text") or ""), config)
    if action == "create":
        made, shown = await service.create(body, await officer_named(args.officer), config)
        return {"id": made.id, "state": made.state, "preview": shown}
    broadcast = await Broadcast.get_or_none(id=args.id)
    if broadcast is None:
        raise UsageError(f"no broadcast {args.id}")
    if action == "approve":
        broadcast = await service.approve(broadcast, await officer_named(args.officer), config)
    elif action == "reject":
        broadcast = await service.reject(broadcast, await officer_named(args.officer), args.reason)
    elif action == "pause":
        broadcast = await service.pause(broadcast)
    elif action == "resume":
        broadcast = await service.resume(broadcast)
    elif action == "cancel":
        broadcast = await service.cancel(broadcast, args.reason)
    return await service.describe(broadcast)
