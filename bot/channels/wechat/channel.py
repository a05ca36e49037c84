"""WeChat as a channel plug-in: its config section, webhook, sender and the answers still going out."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence

import aiohttp
from aiohttp import web
from wechatpy.crypto import WeChatCrypto

from bot import db
from bot.channels.base import BaseChannel, CleanupCtx
from bot.config import Config
from bot.keys import CONFIG, SENDERS

from .client import WechatApi
from .replay import replay_ctx
from .sender import WechatSender
from .settings import WechatConfig, check, settings
from .slots import PENDING, Pending
from .tokens import TokenStore
from .webhook import CRYPTO, PATH, arrival, inbound, verify_url


class WechatChannel(BaseChannel):
    name = "wechat"
    medium = "wechat"
    section = "wechat"
    settings = WechatConfig

    def enabled(self, config: Config) -> bool:
        return settings(config).enabled

    def check(self, config: Config) -> None:
        check(config)

    def setup(self, app: web.Application) -> None:
        """Mount the webhook (GET verifies the URL, POST carries messages and events)."""
        wechat = settings(app[CONFIG])
        app[CRYPTO] = (WeChatCrypto(wechat.token, wechat.encoding_aes_key, wechat.app_id)
                       if wechat.mode != "plain" else None)
        app.router.add_get(PATH, verify_url)
        app.router.add_post(PATH, inbound)
        app.cleanup_ctx.append(replay_ctx)
        app.middlewares.insert(0, arrival)  # outermost: the reply budget counts from here

    def contexts(self, app: web.Application) -> Sequence[CleanupCtx]:
        return (sender_ctx,)


async def sender_ctx(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    wechat = settings(config)
    session = aiohttp.ClientSession()  # one for the app's life
    api = WechatApi(session, wechat.api_base, wechat.timeout)
    tokens = TokenStore(wechat, api, postgres=db.is_postgres(config.database.url))
    app[SENDERS]["wechat"] = WechatSender(config, api, tokens)
    app[PENDING] = Pending()
    try:
        yield
    finally:
        await app[PENDING].close()  # before the session and the database they need go away
        await session.close()


CHANNEL = WechatChannel()
