"""Weather asks (明天下雨不, 这几天下霜不): an honest short reply until a forecast provider is connected."""

from __future__ import annotations

from bot.messages import InboundMessage, Reply
from bot.routing import Context, Router

router = Router("weather")


@router.intent("weather")
async def weather(msg: InboundMessage, ctx: Context) -> Reply:
    """明天下雨不 / 后天出太阳不 / 这几天会下霜不"""
    return Reply("本服务还查不了天气预报，请看手机自带的天气，或拨打12121听本地预报。"
                 "有霜冻、暴雨等预警时，农技站会发短信提醒。")
