"""渠道状态 (RapidPro's channel status): for each provider, whether it is set up, when it last got a
text through, how many failed in the last 24 hours and the latest errors it gave; the WeChat access
token and the Alibaba Cloud per-number daily limit. Read from the config and the tables the senders
write (Message, Delivery, AccessToken, TemplateSend, PushItem); no provider is called."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from tortoise.functions import Count, Max

from bot.channels import registry
from bot.channels.aliyun.settings import AliyunConfig
from bot.channels.wechat.settings import WechatConfig
from bot.config import Config
from bot.labels import CHANNEL_NAMES
from bot.models import AccessToken, Message, PushItem, TemplateSend
from bot.phones import mask_phones_in
from broadcasts.models import Delivery

PROVIDER_NAMES = {"log": "只记录（演示）", "twilio": "Twilio 短信", "aliyun": "阿里云短信", "wechat": "微信公众号"}
# The settings shown (secrets only as 已设置 / 未设置), in the officer's words.
SETTING_NAMES = {
    "account_sid": "账号 SID", "auth_token": "密钥", "from_number": "发送号码", "messaging_service_sid": "消息服务 SID",
    "access_key_id": "AccessKey ID", "access_key_secret": "AccessKey 密钥", "sign_name": "短信签名",
    "callback_secret": "回执密钥", "app_id": "公众号 AppID", "app_secret": "AppSecret", "token": "服务器令牌",
    "encoding_aes_key": "消息加密密钥", "mode": "加密方式",
}
WINDOW = timedelta(hours=24)
RECENT_ERRORS = 10
OK_STATES = ("sent", "delivered")
FAILED = ("failed", "undelivered")


@dataclass
class ProviderStatus:
    name: str
    label: str
    medium: str
    enabled: bool
    settings: list[tuple[str, str]]  # (key, value as shown: secrets only say whether they are set)
    last_ok: datetime | None = None
    sent: int = 0  # in the last 24 hours
    failed: int = 0
    errors: list[dict[str, Any]] = field(default_factory=list)

    @property
    def medium_label(self) -> str:
        return CHANNEL_NAMES.get(self.medium, self.medium)


def _settings(config: Config, settings_type: type[Any] | None) -> list[tuple[str, str]]:
    if settings_type is None:
        return []
    values = config.section(settings_type)
    shown = []
    for f in dataclasses.fields(values):
        value, label = getattr(values, f.name), SETTING_NAMES.get(f.name)
        if label is None:
            continue
        if not f.repr:  # a secret: only whether it is set
            shown.append((label, "已设置" if value else "未设置"))
        else:
            shown.append((label, str(value) or "未填"))
    return shown


async def providers(config: Config, *, admin: bool) -> list[ProviderStatus]:
    """Each registered provider. A few queries for all of them (grouped by provider), none per provider:
    the outbound log holds a county's every reply."""
    since = datetime.now(UTC) - WINDOW
    counts: dict[tuple[str, str], int] = {}
    for row in await Message.filter(direction="out", created_at__gte=since).group_by(
            "provider", "status").annotate(n=Count("id")).values("provider", "status", "n"):
        counts[(row["provider"], row["status"])] = row["n"]
    newest = {row["provider"]: row["last"] for row in await Message.filter(
        direction="out", status__in=OK_STATES).group_by("provider").annotate(last=Max("id")).values("provider", "last")}
    when = {row["id"]: row["created_at"] for row in await Message.filter(
        id__in=list(newest.values())).values("id", "created_at")} if newest else {}
    errors: dict[str, list[dict[str, Any]]] = {}
    for e in await Message.filter(direction="out", status__in=FAILED).order_by("-id").limit(4 * RECENT_ERRORS).values(
            "id", "provider", "created_at", "error_code", "error"):
        if len(mine := errors.setdefault(e["provider"], [])) < RECENT_ERRORS:
            mine.append({**e, "error": e["error"] if admin else mask_phones_in(e["error"] or "")})
    out = []
    for channel in registry.channels():
        status = ProviderStatus(
            name=channel.name, label=PROVIDER_NAMES.get(channel.name, channel.name), medium=channel.medium,
            enabled=channel.enabled(config) if channel.name != "log" else _log_in_use(config),
            settings=_settings(config, channel.settings))
        status.sent = sum(n for (p, s), n in counts.items() if p == channel.name and s in OK_STATES)
        status.failed = sum(n for (p, s), n in counts.items() if p == channel.name and s in FAILED)
        status.last_ok = when.get(newest.get(channel.name, 0))
        status.errors = errors.get(channel.name, [])
        out.append(status)
    return out


def _log_in_use(config: Config) -> bool:
    """The log provider stands in for SMS when sms.provider is "log", and for WeChat when it is off."""
    return config.sms.provider == "log" or not any(
        c.medium == "wechat" and c.enabled(config) for c in registry.channels())


async def broadcasts_by_channel(*, admin: bool) -> list[dict[str, Any]]:
    """Broadcast deliveries (which go through the same providers) per channel: last success, sent and
    failed in the last 24 hours, the latest errors."""
    since = datetime.now(UTC) - WINDOW
    counts: dict[tuple[str, str], int] = {}
    for row in await Delivery.filter(updated_at__gte=since).group_by("channel", "state").annotate(
            n=Count("id")).values("channel", "state", "n"):
        counts[(row["channel"], row["state"])] = row["n"]
    newest = {row["channel"]: row["last"] for row in await Delivery.filter(state__in=OK_STATES).group_by(
        "channel").annotate(last=Max("id")).values("channel", "last")}
    when = {row["id"]: row["sent_at"] for row in await Delivery.filter(
        id__in=list(newest.values())).values("id", "sent_at")} if newest else {}
    errors: dict[str, list[dict[str, Any]]] = {}
    for e in await Delivery.filter(state="failed").order_by("-id").limit(4 * RECENT_ERRORS).values(
            "id", "channel", "updated_at", "error_code", "error"):
        if len(mine := errors.setdefault(e["channel"], [])) < RECENT_ERRORS:
            mine.append({**e, "error": e["error"] if admin else mask_phones_in(e["error"] or "")})
    return [{"channel": channel, "label": label, "last_ok": when.get(newest.get(channel, 0)),
             "sent": sum(counts.get((channel, s), 0) for s in OK_STATES), "failed": counts.get((channel, "failed"), 0),
             "errors": errors.get(channel, [])} for channel, label in CHANNEL_NAMES.items()]


async def wechat_token(config: Config) -> dict[str, Any]:
    """The shared access token: none yet, valid for N more minutes, or expired."""
    wechat = config.section(WechatConfig)
    if not wechat.enabled:
        return {"state": "off", "text": "微信公众号没有开通。"}
    row = await AccessToken.get_or_none(app_id=wechat.app_id)
    if row is None:
        return {"state": "none", "text": "还没有取得访问令牌：第一次发微信消息时会自动取得。"}
    left = row.expires_at - datetime.now(UTC)
    if left <= timedelta(0):
        return {"state": "expired", "updated_at": row.updated_at, "expires_at": row.expires_at,
                "text": "访问令牌已过期，下一次发送时会自动更新；如果一直过期，请检查 AppSecret 和 IP 白名单。"}
    return {"state": "ok", "updated_at": row.updated_at, "expires_at": row.expires_at,
            "text": f"访问令牌有效，还有 {int(left.total_seconds() // 60)} 分钟到期（到期前会自动更新）。"}


async def aliyun_limit(config: Config) -> dict[str, Any]:
    """Alibaba Cloud's per-number daily limit: template texts in the last 24 hours, the busiest number's
    share of aliyun.daily_limit, how many numbers used it all, and sends refused for it."""
    aliyun = config.section(AliyunConfig)
    since = datetime.now(UTC) - WINDOW
    used = TemplateSend.filter(provider="aliyun", created_at__gte=since).exclude(state="rejected")
    per_number = await used.group_by("phone", "template").annotate(n=Count("id")).values("n")
    top = max((r["n"] for r in per_number), default=0)
    refused = (await Message.filter(direction="out", created_at__gte=since, error_code="daily_limit").count()
               + await Delivery.filter(updated_at__gte=since, error_code="daily_limit").count())
    return {"enabled": config.sms.provider == "aliyun", "limit": aliyun.daily_limit, "texts": await used.count(),
            "numbers": len(per_number), "top": top,
            "full": sum(1 for r in per_number if r["n"] >= aliyun.daily_limit), "refused": refused}


async def intake_backlog() -> dict[str, int]:
    """Pushed replies and receipts stored but not processed yet (a growing number means trouble)."""
    pending = PushItem.filter(processed_at__isnull=True)
    return {"pending": await pending.count(), "failing": await pending.filter(attempts__gte=3).count()}
