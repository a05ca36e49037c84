"""WeChat Official Account: verified, decrypted webhooks in; customer-service or template texts out."""

from __future__ import annotations

from .channel import CHANNEL
from .client import TokenError, WechatApi, WechatError
from .menu import menu_buttons, publish_menu
from .replay import prune_nonces
from .sender import MAX_TEXT_BYTES, WechatSender
from .settings import WechatConfig
from .slots import PENDING, Pending, Slots
from .tokens import TokenStore
from .webhook import arrival

__all__ = ["CHANNEL", "MAX_TEXT_BYTES", "PENDING", "Pending", "Slots", "TokenError", "TokenStore", "WechatApi",
           "WechatConfig", "WechatError", "WechatSender", "arrival", "menu_buttons", "prune_nonces",
           "publish_menu"]
