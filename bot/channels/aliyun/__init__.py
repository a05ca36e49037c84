"""Alibaba Cloud SMS (阿里云短信): template sends through the official SDK; replies and receipts by a
secret-URL push, receipts also by pulling QuerySendDetails."""

from __future__ import annotations

from .channel import CHANNEL
from .ledger import provider_id
from .receipts import apply_receipt, pull_receipts
from .sender import AliyunSender
from .settings import AliyunConfig

__all__ = ["CHANNEL", "AliyunConfig", "AliyunSender", "apply_receipt", "provider_id", "pull_receipts"]
