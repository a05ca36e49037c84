"""Weather asks (明天下雨不, 这几天下霜不): the forecast for the villager's township from bot/weather, asking
which township once when none is registered; with no provider configured, an honest short reply."""

from __future__ import annotations

from bot.messages import InboundMessage, Reply
from bot.routing import Context, Router
from bot.weather import places, service

router = Router("weather")
NO_PROVIDER = ("本服务还查不了天气预报，请看手机自带的天气，或拨打12121听本地预报。"
               "有霜冻、暴雨等预警时，农技站会发短信提醒。")
ASK_TOWNSHIP = "您在哪个乡镇？请回复乡镇名，如“关防乡”，以后问天气就直接告诉您当地的预报。"


def _awaiting_township(msg: InboundMessage, ctx: Context) -> bool:
    return ctx.subscriber is not None and ctx.subscriber.dialog.get("flow") == "weather"


@router.when(_awaiting_township)
async def township_answer(msg: InboundMessage, ctx: Context) -> Reply | None:
    """(the township, answering 您在哪个乡镇)"""
    sub = ctx.subscriber
    assert sub is not None
    question = str(sub.dialog.get("question", ""))
    sub.dialog = {}
    town = places.find(msg.text, ctx.config.weather.townships)
    if town is None:  # not an answer (asked once): handled as any other text
        await sub.save(update_fields=["dialog", "updated_at"])
        return None
    sub.township = town.name  # remembered: registered as their township
    await sub.save(update_fields=["dialog", "township", "updated_at"])
    return Reply(await service.forecast_reply(ctx.app, ctx.config, town, msg.channel, question))


@router.intent("weather")
async def weather(msg: InboundMessage, ctx: Context) -> Reply:
    """明天下雨不 / 后天出太阳不 / 这几天会下霜不"""
    if not service.enabled(ctx.config):
        return Reply(NO_PROVIDER)
    sub = ctx.subscriber
    path = ctx.config.weather.townships
    town = places.find(msg.text, path) or (places.find(sub.township, path) if sub else None)
    if town is None and sub is not None and sub.township:
        return Reply(f"暂时查不到{sub.township}的天气预报，请拨打12121听本地预报。")
    if town is None:
        if sub is None:
            return Reply("请先回复您所在的乡镇名，如“关防乡明天下雨不”。")
        sub.dialog = {"flow": "weather", "question": msg.text[:50]}
        await sub.save(update_fields=["dialog", "updated_at"])
        return Reply(ASK_TOWNSHIP)
    return Reply(await service.forecast_reply(ctx.app, ctx.config, town, msg.channel, msg.text))
