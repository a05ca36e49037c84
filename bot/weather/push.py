"""Warnings become broadcasts of kind `warning` through the broadcasts package: one per advice group
(people are grouped by the article that fits what they grow, so each gets one message), drafted for a
supervisor's approval, or sent at once from weather.auto_send_from up; warnings from
weather.quiet_hours_pass_from up go out in quiet hours too; a lifted warning can be told to those who
got it (weather.send_cancellations)."""

from __future__ import annotations

import logging
import re
from datetime import UTC, datetime
from typing import cast

from tortoise.exceptions import IntegrityError

from bot import sandbox
from bot.config import WARNING_LEVELS, Config
from bot.models import Subscriber, unpack_set
from bot.sms import ucs2_capacity
from bot.weather import places
from bot.weather.models import WarningBroadcast
from bot.weather.provider import Alert
from broadcasts import pushes, service
from broadcasts.dispatcher import BULK
from broadcasts.models import Broadcast, BroadcastRun, Delivery
from content import loader
from content.models import Article

log = logging.getLogger("nongbot.weather")
COLOR_NAMES = {"blue": "蓝色", "yellow": "黄色", "orange": "橙色", "red": "红色"}
LEVEL_WORDS = {"blue": "一般", "yellow": "较重", "orange": "严重", "red": "特别严重"}
URGENT = BULK - 1  # after villagers' replies, before every other broadcast, and not held by quiet hours
CODES = re.compile(r"[\[【(（][^\]】)）]*(?:级|一般|较重|严重)[^\]】)）]*[\]】)）]")
SENTENCE = re.compile(r"[^。！；;!]*[。！；;!]")
ANIMALS = ("猪", "牛", "羊", "鸡", "鸭", "鹅", "兔", "鱼", "蜂")  # 养 them; everything else is 种


def level(color: str) -> int:
    return WARNING_LEVELS.index(color) + 1 if color in WARNING_LEVELS else 0


def plain_level(color: str) -> str:
    """red -> 红色预警（特别严重）."""
    name = COLOR_NAMES.get(color)
    return f"{name}预警（{LEVEL_WORDS[color]}）" if name else "预警"


def places_named(towns: list[str]) -> str:
    return "、".join(towns) if len(towns) <= 3 else f"{towns[0]}等{len(towns)}个乡镇"


async def summary_of(ref: str) -> str:
    """The article's summary as officers last saved it, else as bundled."""
    if not ref:
        return ""
    article = await Article.get_or_none(ref=ref)
    if article is not None and article.summary:
        return article.summary
    path = loader.BUNDLED / f"{ref}.md"
    if not path.exists():
        return ""
    return loader.parse_markdown(path.read_text(encoding="utf-8"), str(path), ref).summary


def _fit(text: str, budget: int) -> str:
    """Cut after the last whole sentence that fits (never mid-word); a first sentence that is too long
    is cut at a comma."""
    if len(text) <= budget:
        return text
    kept = ""
    for sentence in SENTENCE.findall(text):
        if len(kept) + len(sentence) > budget:
            break
        kept += sentence
    if kept:
        return kept[:-1] + "。" if kept.endswith(("；", ";")) else kept
    cut = max(text.rfind("，", 0, budget), text.rfind(",", 0, budget))
    return text[:cut] + "。" if cut > 0 else text[:budget]


def warning_text(alert: Alert, towns: list[str], crop: str, advice: str, budget: int) -> str:
    """「关防乡：郧西县气象台发布霜冻蓝色预警。预计今夜最低气温0℃以下。种柑橘的：<the article's summary>」"""
    headline = CODES.sub("", alert.headline).strip(" 。") or f"{alert.sender}发布{alert.event}预警"
    color = COLOR_NAMES.get(alert.color, "")
    if color and f"{color}预警" in headline:  # 「…发布霜冻蓝色预警」: the level in words after it
        head = f"{places_named(towns)}：{headline}（{LEVEL_WORDS[alert.color]}）。"
    else:
        head = f"{places_named(towns)}：{headline}，{plain_level(alert.color)}。"
    verb = "养" if any(animal in crop for animal in ANIMALS) else "种"
    tail = f"{verb}{crop}的：{advice}" if crop and advice else advice
    tail = _fit(tail, max(budget - len(head), 20))
    detail = alert.description.split("：", 1)[-1].strip()
    detail = _fit(detail, budget - len(head) - len(tail)) if detail else ""
    if detail and not detail.endswith(("。", "！", "；")):
        detail = ""  # only whole sentences of the official text
    return head + detail + tail


async def draft(config: Config, alert: Alert, towns: list[str]) -> list[Broadcast]:
    """The warning's broadcasts, one per advice group, each to the villagers of `towns` in that group;
    pending approval, or approved by the system from weather.auto_send_from up."""
    rule = places.rule_for(alert.event)
    groups: dict[str, list[int]] = {}
    crop_of: dict[str, str] = {}
    rows = await Subscriber.filter(sandbox.real(), status="active", township__in=towns).values("id", "crops")
    for row in rows:
        grown = unpack_set(row["crops"])
        ref = rule.article if rule else ""
        for crop, article in rule.crops if rule else ():
            if crop in grown:
                ref, crop_of[article] = article, crop
                break
        groups.setdefault(ref, []).append(row["id"])
    budget = ucs2_capacity(config.sms.max_segments) - len(config.sms.signature)
    auto = bool(config.weather.auto_send_from) and alert.level >= level(config.weather.auto_send_from)
    officer = await pushes.system_officer()
    made = []
    for ref, ids in sorted(groups.items()):
        try:  # the claim first: a second poller (or a second round) finds it and drafts nothing
            claim = await WarningBroadcast.create(alert_id=alert.id, purpose="warning", group=ref,
                                                  color=alert.color, townships=towns)
        except IntegrityError:
            continue
        advice = await summary_of(ref) or (rule.advice if rule else "")
        text = warning_text(alert, towns, crop_of.get(ref, ""), advice, budget)
        data = {"kind": "warning", "text": text, "article_ref": ref or None,
                "audience": {"townships": towns, "subscriber_ids": sorted(ids)}}
        try:
            broadcast, _ = await service.create(data, officer, config)
        except service.BroadcastError as exc:  # an article's words the safety check refuses: the rule's advice
            log.warning("warning advice refused, sent without it: %s", exc, extra={"alert": alert.id})
            data["text"] = warning_text(alert, towns, "", rule.advice if rule else "", budget)
            broadcast, _ = await service.create(data, officer, config)
        if auto:  # as the system's own pushes are (broadcasts/pushes.py): approved by 系统
            broadcast.state, broadcast.approved_by = "scheduled", officer
            broadcast.approved_at = datetime.now(UTC).replace(microsecond=0)
            await broadcast.save(update_fields=["state", "approved_by_id", "approved_at", "updated_at"])
        claim.broadcast = broadcast
        await claim.save(update_fields=["broadcast_id"])
        log.info("weather warning drafted", extra={"alert": alert.id, "broadcast": broadcast.id,
                                                   "recipients": len(ids), "auto": auto})
        made.append(broadcast)
    return made


async def cancellation(config: Config, alert: Alert, lifted: list[str], towns: list[str]) -> Broadcast | None:
    """「关防乡霜冻预警已解除。」 to those a broadcast of the lifted warnings reached (sent or delivered)."""
    try:
        claim = await WarningBroadcast.create(alert_id=alert.id, purpose="cancel", group="", color=alert.color,
                                              townships=towns)
    except IntegrityError:
        return None
    sent = await WarningBroadcast.filter(alert_id__in=lifted, purpose="warning",
                                         broadcast_id__isnull=False).values_list("broadcast_id", flat=True)
    runs = await BroadcastRun.filter(broadcast_id__in=cast(list[int], sent)).values_list("id", flat=True)
    reached = await Delivery.filter(run_id__in=cast(list[int], runs), state__in=("sent", "delivered")).values_list(
        "subscriber_id", flat=True)
    text = f"{places_named(towns)}的{alert.event}预警已解除。"
    broadcast = await pushes.push("warning", text, cast(list[int], list(reached)))
    if broadcast is not None:
        claim.broadcast = broadcast
        await claim.save(update_fields=["broadcast_id"])
    return broadcast


async def expedite(config: Config) -> int:
    """Let queued deliveries of warnings from weather.quiet_hours_pass_from up through quiet hours (the
    engine holds rows of priority BULK and above then). Returns how many rows it moved."""
    threshold = level(config.weather.quiet_hours_pass_from)
    if not threshold:
        return 0
    colors = [c for c in WARNING_LEVELS if level(c) >= threshold]
    urgent = await WarningBroadcast.filter(purpose="warning", color__in=colors,
                                           broadcast_id__isnull=False).values_list("broadcast_id", flat=True)
    if not urgent:
        return 0
    runs = await BroadcastRun.filter(broadcast_id__in=cast(list[int], urgent),
                                     state__in=("enqueuing", "sending", "paused")).values_list("id", flat=True)
    if not runs:
        return 0
    return await Delivery.filter(run_id__in=cast(list[int], runs), state="queued", priority__gte=BULK).update(
        priority=URGENT)
