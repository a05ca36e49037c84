"""Registration of name, township, village and crops: in one line or step by step."""

from __future__ import annotations

import re

from bot.messages import InboundMessage, Reply
from bot.models import Subscriber, pack_set
from bot.routing import Context, Router
from bot.textnorm import keyword_form, split_words
from content.vocab import vocabulary

router = Router("register")
dialog_router = Router("register-dialog")

STEPS = ("name", "township", "village", "crops")
QUESTIONS = {
    "name": "请回复您的姓名。",
    "township": "请回复您所在的乡镇，如“关防乡”。",
    "village": "请回复您所在的村，如“东川村”。",
    "crops": "请回复您种养的作物或牲畜，用空格隔开，如“柑橘 茶叶 生猪”。",
}
SKIP_WORDS = ("跳过", "无", "没有", "不填", "略")
TOWNSHIP = re.compile(r"^.{1,10}(乡|镇|街道|街道办|办事处)$")
VILLAGE = re.compile(r"^.{1,10}(村|社区|居委会)$")
UNSPACED = re.compile(r"^(?P<township>.{2,5}?(?:乡|镇|街道))(?P<village>.{1,8}?(?:村|社区))?$")
QUESTION = re.compile(r"咋|怎么|怎样|么样|吗|啥|什么|哪|如何|为什么|能不能|[?？]")
NAME_LENGTHS = (2, 3, 4, 1)  # most Chinese names have 2 or 3 characters


def split_unspaced(text: str) -> dict[str, str] | None:
    """'李四关防乡东川村' -> name 李四, township 关防乡, village 东川村."""
    for size in NAME_LENGTHS:
        if (m := UNSPACED.match(text[size:])) is not None:
            return {"name": text[:size]} | {k: v for k, v in m.groupdict().items() if v}
    return None
FIELD_LIMIT = 50


def parse_line(words: list[str]) -> dict[str, str | list[str]]:
    """['张三', '关防乡', '东川村', '柑橘'] -> name/township/village/crops."""
    found: dict[str, str | list[str]] = {}
    crops: list[str] = []
    vocab = vocabulary()
    if len(words) == 1 and (parts := split_unspaced(words[0])):
        return dict(parts)
    for word in words:
        if TOWNSHIP.match(word) and "township" not in found:
            found["township"] = word
        elif VILLAGE.match(word) and "village" not in found:
            found["village"] = word
        elif (crop := vocab.crop(word)) is not None:
            crops.append(crop)
        elif "name" not in found:
            found["name"] = word[:FIELD_LIMIT]
    if crops:
        found["crops"] = crops
    return found


def summary(sub: Subscriber) -> str:
    return (
        f"姓名：{sub.name or '未填'}；乡镇：{sub.township or '未填'}；村：{sub.village or '未填'}；"
        f"作物：{'、'.join(sub.crop_list) or '未填'}"
    )


async def _save(sub: Subscriber, values: dict[str, str | list[str]]) -> None:
    for key, value in values.items():
        if key == "crops":
            sub.crops = pack_set(sub.crop_list + list(value))
        else:
            setattr(sub, key, str(value)[:FIELD_LIMIT])
    await sub.save(update_fields=[*values.keys(), "updated_at"])


@router.keyword("登记", "注册", "登记信息", "修改信息")
async def start_registration(msg: InboundMessage, ctx: Context) -> Reply | None:
    """登记 / 注册 (step by step)"""
    sub = ctx.subscriber
    if sub is None:
        return None
    sub.dialog = {"flow": "register", "step": STEPS[0]}
    await sub.save(update_fields=["dialog", "updated_at"])
    return Reply("开始登记，随时回复“跳过”跳过一项。" + QUESTIONS[STEPS[0]])


@router.keyword(prefix=("登记", "注册"))
async def register_line(msg: InboundMessage, ctx: Context) -> Reply | None:
    """登记 张三 关防乡 东川村 [作物…]"""
    sub = ctx.subscriber
    if sub is None or QUESTION.search(msg.text):
        return None  # "登记证号在哪看" asks about a pesticide label; a registration never asks anything
    words = split_words(msg.text)
    if words and keyword_form(words[0]).startswith(("登记", "注册")):
        head = words[0][2:]
        words = ([head] if head else []) + words[1:]
    values = parse_line(words)
    if not values:
        return Reply("没看懂登记内容。请按“登记 姓名 乡镇 村”回复，如“登记 张三 关防乡 东川村”。")
    await _save(sub, values)
    return Reply(f"登记好了。{summary(sub)}。要修改请再发“登记”。")


def _in_registration(msg: InboundMessage, ctx: Context) -> bool:
    return ctx.subscriber is not None and ctx.subscriber.dialog.get("flow") == "register"


@dialog_router.when(_in_registration)
async def registration_step(msg: InboundMessage, ctx: Context) -> Reply | None:
    """(the answer to the current registration question)"""
    sub = ctx.subscriber
    assert sub is not None
    step = sub.dialog.get("step", STEPS[0])
    answer = msg.text.strip()
    if keyword_form(answer) not in SKIP_WORDS and answer:
        if step == "crops":
            vocab = vocabulary()
            crops = [vocab.crop(w) or w for w in split_words(answer)]
            await _save(sub, {"crops": [c[:10] for c in crops]})
        else:
            await _save(sub, {step: answer})
    later = STEPS[STEPS.index(step) + 1 :] if step in STEPS else ()
    if later:
        sub.dialog = {"flow": "register", "step": later[0]}
        await sub.save(update_fields=["dialog", "updated_at"])
        return Reply(QUESTIONS[later[0]])
    sub.dialog = {}
    await sub.save(update_fields=["dialog", "updated_at"])
    return Reply(f"登记完成，谢谢！{summary(sub)}。回复“订阅 技术”接收种养技术推送。")
