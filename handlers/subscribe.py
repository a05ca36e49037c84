"""Subscriptions by topic and crop: "订阅 价格 柑橘", "退订 价格", "取消 务工"."""

from __future__ import annotations

from dataclasses import dataclass

from bot import consent
from bot.messages import InboundMessage, Reply
from bot.models import TOPICS, pack_set
from bot.routing import Context, Router
from content.vocab import vocabulary

router = Router("subscribe")

TOPIC_WORDS = {
    "技术": ("技术", "农技", "农业技术", "种植", "养殖", "技术推送"),
    "价格": ("价格", "行情", "价钱", "市场价", "菜价", "市场"),
    "务工": ("务工", "工作", "招工", "打工", "就业", "用工", "招聘"),
    "天气": ("天气预报", "天气", "预报"),
}
FILLER = ("我要", "我想", "帮我", "一下", "的", "和", "还有", "及", "信息", "消息", "推送")
TOPIC_LIST = "、".join(TOPICS)


@dataclass(frozen=True)
class Wanted:
    topics: tuple[str, ...]
    crops: tuple[str, ...]
    unknown: tuple[str, ...]


def parse_wanted(text: str) -> Wanted:
    """Greedy longest-match over topic words, crop names and their dialect aliases."""
    vocab = vocabulary()
    table: dict[str, tuple[str, str]] = {}
    for topic, words in TOPIC_WORDS.items():
        table.update(dict.fromkeys(words, ("topic", topic)))
    for crop in vocab.crops:
        table[crop] = ("crop", crop)
    for alias, standard in vocab.aliases.items():
        if standard in vocab.crops:
            table.setdefault(alias, ("crop", standard))
    table.update(dict.fromkeys(FILLER, ("filler", "")))
    longest = max(map(len, table))
    topics: list[str] = []
    crops: list[str] = []
    unknown: list[str] = []
    stray = ""
    i = 0
    while i < len(text):
        for size in range(min(longest, len(text) - i), 0, -1):
            hit = table.get(text[i : i + size])
            if hit:
                break
        else:
            stray += text[i]
            i += 1
            continue
        if stray:
            unknown.append(stray)
            stray = ""
        kind, name = hit
        bucket = topics if kind == "topic" else crops if kind == "crop" else None
        if bucket is not None and name not in bucket:
            bucket.append(name)
        i += size
    if stray:
        unknown.append(stray)
    return Wanted(tuple(topics), tuple(crops), tuple(unknown))


def _describe(topics: list[str], crops: list[str]) -> str:
    text = "、".join(topics) if topics else "（无）"
    return text + (f"；作物：{'、'.join(crops)}" if crops else "")


@router.keyword(prefix=("订阅", "关注", "开通"))
async def subscribe_topic(msg: InboundMessage, ctx: Context) -> Reply | None:
    """订阅 技术|价格|务工|天气 [作物…]   e.g. 订阅 价格 柑橘"""
    sub = ctx.subscriber
    if sub is None:
        return None
    wanted = parse_wanted(ctx.args)
    if wanted.unknown and not (wanted.topics or wanted.crops):
        return Reply(f"没认出“{''.join(wanted.unknown)}”。可订阅：{TOPIC_LIST}，如“订阅 价格 柑橘”。")
    topics = wanted.topics or ("技术",)  # a crop alone means tips for that crop
    await consent.opt_in(sub, msg.channel, f"keyword:订阅:{msg.channel}", msg.text)
    sub.topics = pack_set(sub.topic_list + list(topics))
    sub.crops = pack_set(sub.crop_list + list(wanted.crops))
    await sub.save(update_fields=["topics", "crops", "updated_at"])
    added = "、".join(topics) + (f"（{'、'.join(wanted.crops)}）" if wanted.crops else "")
    note = f"没认出“{'、'.join(wanted.unknown)}”，已忽略。" if wanted.unknown else ""
    return Reply(
        f"已订阅：{added}。{note}现在订阅的：{_describe(sub.topic_list, sub.crop_list)}。"
        "取消某类请回复“退订 价格”，全部退订回复TD。"
    )


@router.keyword(prefix=("退订", "取消", "不要"))
async def unsubscribe_topic(msg: InboundMessage, ctx: Context) -> Reply | None:
    """退订 技术|价格|务工|天气|作物   e.g. 退订 价格 (plain 退订 is a full opt-out, see optout)"""
    sub = ctx.subscriber
    if sub is None:
        return None
    wanted = parse_wanted(ctx.args)
    if not (wanted.topics or wanted.crops):
        return Reply(f"没认出要退订哪一类。可退订：{TOPIC_LIST}，如“退订 价格”；全部退订请回复TD。")
    sub.topics = pack_set([t for t in sub.topic_list if t not in wanted.topics])
    sub.crops = pack_set([c for c in sub.crop_list if c not in wanted.crops])
    await sub.save(update_fields=["topics", "crops", "updated_at"])
    removed = "、".join(wanted.topics + wanted.crops)
    return Reply(f"已退订：{removed}。现在订阅的：{_describe(sub.topic_list, sub.crop_list)}。")
