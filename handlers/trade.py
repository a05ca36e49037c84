"""供求 by text: 「卖 柑橘 2000斤 2.5元」 / 「我有两千多斤橘子要卖」 post a listing (a missing piece is asked
for, one question at a time); 我的供求, 取消 1, 延期; 同意 3 / 不要 3 answer a match; 成交 2.3 / 没成."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from bot import inbox
from bot.extend import MARKET_PRICE, ask
from bot.messages import InboundMessage, Reply
from bot.phones import normalise_phone
from bot.routing import Context, Router
from bot.sms import ucs2_capacity
from bot.textnorm import keyword_form
from bot.trade import jobs, listings, proposals
from bot.trade.models import TradeMatch
from bot.trade.parse import Draft, find_goods, merge, normal, parse, price_answer, quantity_answer, side_of
from content.intents import TECHNIQUE, classify

router = Router("trade")  # before subscriptions: "取消 1" / "不要 3" are not "取消 <topic>"
intent_router = Router("trade-intent")  # where the supply intent used to go to an officer

FLOW = "trade"
MINE_WORDS = ("我的供求", "供求", "我的买卖", "我的收购", "供求信息", "查看供求")
STOP_WORDS = ("算了", "不发了", "不卖了", "不买了", "不要了", "不用了")
OPEN_PRICE = ("面议", "不定", "不定价", "价格面议", "再说", "商量", "跳过", "不知道")
# A post written as a command: starts with a side word and names goods, and is not a question.
STARTS = ("卖", "出售", "收", "收购", "求购", "买")
QUESTION = re.compile(r"咋|怎么|什么|啥|如何|为什么|哪种|多少钱|几块|行情|价格多少|要不要|得行不|合适|么样|么事")
DONE = re.compile(r"^(卖|收|买)(了|的|回|来)")  # 买了50只小鸡 … / 买的种子 …: what was bought is the question's setting
MAX_RETRIES = 2


def _today(ctx: Context) -> date:
    return datetime.now(ctx.config.tz).date()


async def _save_dialog(ctx: Context, dialog: dict[str, Any]) -> None:
    """Through the inbox, so it lands with the reply and in order with the text's other writes."""
    if ctx.subscriber is not None and ctx.subscriber.dialog != dialog:
        await inbox.save_dialog(ctx.subscriber, dialog)


def _fit(text: str, ctx: Context, channel: str) -> str:
    if channel != "sms":
        return text
    return text[:ucs2_capacity(ctx.config.sms.max_segments) - len(ctx.config.sms.signature)]


async def _market(ctx: Context, commodity: str) -> str:
    """「十堰批发今日2.41元/斤。」 or ''."""
    today = _today(ctx)
    found = await ask(ctx.app, MARKET_PRICE, commodity, today)
    if found is None:
        return ""
    when = "今日" if found.day == today else f"{found.day.month}月{found.day.day}日"
    return f"{found.market}{when}{found.price:.2f}{found.unit}。"


def _question(draft: Draft, ctx: Context, extra: dict[str, Any]) -> tuple[str, str] | None:
    """The next missing piece, as (field, question); None when the draft is complete."""
    sub = ctx.subscriber
    verb = {"sell": "卖", "buy": "买"}.get(draft.side or "", "卖")
    if draft.bad_price:
        return "price", (f"价格“{draft.bad_price}”不对。请回复每{draft.unit or '斤'}多少元，如“2.5”；"
                         "不定价回复“面议”。")
    if not draft.commodity:
        return "commodity", f"您要{verb}什么？请回复品种，如“柑橘”“核桃”“猪崽”。"
    if not draft.side:
        return "side", f"{draft.commodity}您是要卖还是要买？请回复“卖”或“买”。"
    if draft.quantity is None:
        unit = draft.unit or "斤"
        if draft.vague:
            return "quantity", f"{verb}多少{unit}{draft.commodity}？请回复大概数量，如“2000{unit}”。"
        if draft.bad_quantity:
            return "quantity", f"数量“{draft.bad_quantity}”看不懂，请回复多少{unit}，如“2000{unit}”。"
        return "quantity", f"{verb}多少{unit}{draft.commodity}？请回复数量，如“500{unit}”。"
    if sub is not None and not (sub.township or extra.get("township")):
        return "township", "您在哪个乡镇？请回复乡镇名，如“关防乡”。"
    if sub is not None and not sub.phone and not extra.get("contact"):
        return "contact", "请回复您的手机号。双方都同意后才会把电话给对方。"
    return None


async def _ask_next(msg: InboundMessage, ctx: Context, draft: Draft, extra: dict[str, Any], retries: int = 0,
                    lead: str = "") -> Reply:
    question = _question(draft, ctx, extra)
    assert question is not None
    await _save_dialog(ctx, {"flow": FLOW, "draft": draft.to_json(), "ask": question[0], "retries": retries,
                             **extra})
    return Reply(_fit(lead + question[1], ctx, msg.channel))


async def _post(msg: InboundMessage, ctx: Context, draft: Draft, extra: dict[str, Any] | None = None,
                text: str = "") -> Reply | None:
    sub = ctx.subscriber
    if sub is None:
        return None
    extra = dict(extra or {})
    today = _today(ctx)
    if not extra.get("checked"):
        try:
            await listings.check_limits(sub, ctx.config.trade, today)
        except listings.Refused as refused:
            await _save_dialog(ctx, {})
            return Reply(str(refused))
        extra["checked"] = True
        extra["text"] = (text or msg.text)[:200]
    if _question(draft, ctx, extra) is not None:
        return await _ask_next(msg, ctx, draft, extra)
    contact = sub.phone or str(extra.get("contact", ""))
    township = sub.township or str(extra.get("township", ""))
    try:
        posted = await listings.post(sub, draft, township=township, village=sub.village, contact=contact,
                                     text=str(extra.get("text", msg.text)), config=ctx.config.trade, today=today)
    except listings.Refused as refused:
        await _save_dialog(ctx, {})
        return Reply(str(refused))
    await _save_dialog(ctx, {})
    listing = posted.listing
    what = listings.describe(listing)
    place = f"，{listing.township}" if listing.township else ""
    until = f"{listing.expires_on.month}月{listing.expires_on.day}日前有效"
    other = "买家" if listing.side == "sell" else "货源"
    if posted.moderated:
        head = f"已收到供求{listing.number}号：{what}{place}，{until}。农技员看过后发布，"
    else:
        head = f"已登记供求{listing.number}号：{what}{place}，{until}。"
        await jobs.match_pass(ctx.app, commodities=[listing.commodity], verified_only=True)
    text = (f"{head}{await _market(ctx, listing.commodity)}有合适的{other}会短信告诉您，"
            f"双方都回复“同意”才交换电话。查看发“我的供求”，撤下发“取消 {listing.number}”。")
    return Reply(_fit(text, ctx, msg.channel))


def _posts(msg: InboundMessage, ctx: Context) -> bool:
    form = normal(msg.text)
    return (len(form) <= 60 and form.startswith(STARTS) and find_goods(form) is not None
            and not QUESTION.search(form) and not DONE.match(form))


@router.keyword(*MINE_WORDS)
async def my_listings(msg: InboundMessage, ctx: Context) -> Reply | None:
    """我的供求 (your listings, their numbers and state)"""
    sub = ctx.subscriber
    if sub is None:
        return None
    found = await listings.mine(sub.id, _today(ctx))
    if not found:
        return Reply("您还没有供求信息。要卖发“卖 品种 数量 价格”，如“卖 柑橘 2000斤 2.5元”；要买发“收 核桃 500斤”。")
    lines = ["您的供求："]
    for item in found:
        state = listings.STATES.get(item.state, item.state)
        lines.append(f"{item.number}.{listings.describe(item)}，{state}，"
                     f"{item.expires_on.month}月{item.expires_on.day}日到期")
    lines.append("撤下发“取消 1”，延长发“延期 1”。")
    return Reply(_fit("\n".join(lines), ctx, msg.channel))


def _number(args: str) -> int | None:
    return int(args) if args.isdecimal() and len(args) <= 9 else None


NO_SUCH_NUMBER = Reply("没有这个编号。发“我的供求”看您的供求和编号。")


@router.keyword(prefix=("取消", "撤下", "撤销"))
async def withdraw(msg: InboundMessage, ctx: Context) -> Reply | None:
    """取消 1 / 撤下 1 (withdraw your listing number 1)"""
    sub = ctx.subscriber
    number = _number(ctx.args)
    if sub is None or number is None:
        return NO_SUCH_NUMBER if sub is not None and ctx.args.isdecimal() else None
    listing = await listings.withdraw(sub.id, number)
    if listing is None:
        return Reply(f"没有在挂的供求{number}号。发“我的供求”看编号。")
    return Reply(f"已撤下供求{number}号：{listings.describe(listing, with_price=False)}。")


@router.keyword("延期", prefix=("延期",))
async def extend(msg: InboundMessage, ctx: Context) -> Reply | None:
    """延期 / 延期 1 (keep your listings up another week)"""
    sub = ctx.subscriber
    if sub is None:
        return None
    number = _number(ctx.args) if ctx.args else None
    if ctx.args and number is None:
        return NO_SUCH_NUMBER if ctx.args.isdecimal() else None
    found = await listings.extend(sub.id, number, ctx.config.trade, _today(ctx))
    if not found:
        return Reply("没有可以延期的供求。发“我的供求”看看。")
    until = found[0].expires_on
    numbers = "、".join(str(f.number) for f in found)
    return Reply(f"供求{numbers}号已延期到{until.month}月{until.day}日。")


async def _waiting_for(subscriber_id: int) -> list[int]:
    """Match numbers proposed to this villager that still wait for their answer."""
    found = await TradeMatch.filter(state="proposed").filter(
        sell__subscriber_id=subscriber_id, sell_answer="").values_list("id", flat=True)
    found2 = await TradeMatch.filter(state="proposed").filter(
        buy__subscriber_id=subscriber_id, buy_answer="").values_list("id", flat=True)
    return sorted({int(str(i)) for i in [*found, *found2]})


async def _consent(msg: InboundMessage, ctx: Context, yes: bool) -> Reply | None:
    sub = ctx.subscriber
    if sub is None:
        return None
    number = _number(keyword_form(ctx.args)) if ctx.args else None
    if ctx.args and number is None:
        return NO_SUCH_NUMBER if ctx.args.isdecimal() else None
    if number is None:
        waiting = await _waiting_for(sub.id)
        if len(waiting) != 1:
            return None if not waiting else Reply(
                f"请带上编号回复，如“{'同意' if yes else '不要'} {waiting[0]}”。")
        number = waiting[0]
    answered = await proposals.answer(sub.id, number, yes, datetime.now(ctx.config.tz))
    return Reply(answered.text)


@router.keyword("同意", prefix=("同意",))
async def agree(msg: InboundMessage, ctx: Context) -> Reply | None:
    """同意 3 (share phones for match 3 once the other side agrees too)"""
    return await _consent(msg, ctx, True)


@router.keyword("不要", "不同意", prefix=("不要", "不同意"))
async def decline(msg: InboundMessage, ctx: Context) -> Reply | None:
    """不要 3 (no thanks to match 3: nothing is shared)"""
    return await _consent(msg, ctx, False)


def _outcome_args(args: str) -> tuple[int | None, str]:
    """'3 2.3' -> (3, '2.3'); '2.3' -> (None, '2.3'); '2块5' -> (None, '2块5')."""
    parts = normal(args).split()
    if len(parts) >= 2 and parts[0].isdecimal() and len(parts[0]) <= 9:
        return int(parts[0]), " ".join(parts[1:])
    return None, " ".join(parts)


@router.keyword("成交", "成交了", prefix=("成交", "成交了"))
async def dealt(msg: InboundMessage, ctx: Context) -> Reply | None:
    """成交 2.3 / 成交 3 2.3 (you dealt at this price per unit)"""
    sub = ctx.subscriber
    if sub is None:
        return None
    raw = msg.text.strip()
    for word in ("成交了", "成交"):
        if normal(raw).startswith(word):
            raw = normal(raw)[len(word):]
            break
    number, rest = _outcome_args(raw)
    price = price_answer(rest, Draft(unit="斤")) if rest else None
    return Reply(await proposals.record_outcome(sub.id, number, True, price, _today(ctx)))


@router.keyword("没成", "没成交", "没有成交", "没谈成", "未成交", prefix=("没成", "没成交", "未成交"))
async def no_deal(msg: InboundMessage, ctx: Context) -> Reply | None:
    """没成 / 没成 3 (no deal)"""
    sub = ctx.subscriber
    if sub is None:
        return None
    number = _number(ctx.args) if ctx.args else None
    if ctx.args and number is None:
        return NO_SUCH_NUMBER if ctx.args.isdecimal() else None
    return Reply(await proposals.record_outcome(sub.id, number, False, None, _today(ctx)))


@router.when(_posts)
async def post_listing(msg: InboundMessage, ctx: Context) -> Reply | None:
    """卖 柑橘 2000斤 2.5元 / 收 核桃 500斤 / 买 猪崽 10头"""
    return await _post(msg, ctx, parse(msg.text))


def _in_dialog(msg: InboundMessage, ctx: Context) -> bool:
    sub = ctx.subscriber
    return sub is not None and sub.dialog.get("flow") == FLOW and bool(sub.dialog.get("ask"))


def _something_else(text: str) -> bool:
    """Not an answer but another request (我要找农技员, 你好, 明天下雨不, 苞谷叶子发黄咋办): the villager must never
    be held in a listing's questions."""
    return classify(text).name not in (TECHNIQUE, "noise") or bool(QUESTION.search(normal(text)))


@router.when(_in_dialog)
async def answer_question(msg: InboundMessage, ctx: Context) -> Reply | None:
    """The answer to the last question about a listing (数量, 乡镇, 电话 …)"""
    sub = ctx.subscriber
    assert sub is not None
    dialog = dict(sub.dialog)
    draft = Draft.from_json(dialog.get("draft", {}))
    asked = str(dialog.get("ask"))
    extra = {k: v for k, v in dialog.items() if k not in ("flow", "draft", "ask", "retries")}
    retries = int(dialog.get("retries", 0))
    form = normal(msg.text)
    if keyword_form(msg.text) in STOP_WORDS:
        await _save_dialog(ctx, {})
        return Reply("好的，这条供求不发了。")
    if _something_else(msg.text):
        await _save_dialog(ctx, {})
        return None  # let the other handlers read it
    fresh = parse(msg.text)
    if asked != "commodity" and fresh.commodity and fresh.commodity != draft.commodity and fresh.side:
        return await _post(msg, ctx, fresh)  # a new post instead of an answer
    ok = True
    if asked == "price":
        if keyword_form(msg.text) in OPEN_PRICE:
            draft = Draft.from_json({**draft.to_json(), "bad_price": ""})
        elif (price := price_answer(msg.text, draft)) is not None:
            draft = Draft.from_json({**draft.to_json(), "bad_price": "", "price": price,
                                     "price_unit": draft.price_unit or draft.unit})
        else:
            ok = False
    elif asked == "commodity":
        ok = fresh.commodity is not None
        if ok:
            draft = merge(draft, fresh)
    elif asked == "side":
        side = side_of(form) or ("buy" if form in ("收", "要", "买进") else None)
        ok = side is not None
        if ok:
            draft = Draft.from_json({**draft.to_json(), "side": side})
    elif asked == "quantity":
        quantity, unit, _bad = quantity_answer(msg.text, draft)
        ok = quantity is not None
        if ok:
            draft = Draft.from_json({**draft.to_json(), "quantity": quantity, "unit": unit, "vague": False,
                                     "bad_quantity": ""})
            if fresh.price is not None and draft.price is None:
                draft = Draft.from_json({**draft.to_json(), "price": fresh.price, "price_unit": fresh.price_unit})
    elif asked == "township":
        place = form.replace(" ", "")
        ok = 2 <= len(place) <= 12 and not QUESTION.search(place)
        if ok:
            extra["township"] = place
            if not sub.township:
                sub.township = place[:50]
                await sub.save(update_fields=["township", "updated_at"])
    elif asked == "contact":
        phone = normalise_phone(form.replace(" ", ""))
        ok = phone is not None
        if ok:
            extra["contact"] = phone
    if not ok:
        if retries >= MAX_RETRIES or len(form) > 20:
            await _save_dialog(ctx, {})
            return None  # not an answer: let the other handlers read it
        return await _ask_next(msg, ctx, draft, extra, retries + 1, lead="没看懂。")
    return await _post(msg, ctx, draft, extra)


@intent_router.intent("supply")
async def supply_in_other_words(msg: InboundMessage, ctx: Context) -> Reply | None:
    """我有两千斤柑橘要卖 / 哪里收魔芋 / 想买点脱毒洋芋种 (a listing in everyday words)"""
    return await _post(msg, ctx, parse(msg.text))

