"""Labour notices by text: 找工作 / 务工 建筑 武汉 / 详情 2 / 登记务工 电工 十堰 / 多推 / 维权 欠薪."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from bot import consent, inbox
from bot.labour.arrears import active_arrears
from bot.labour.matching import LOCAL_WORDS, PLACES, find_jobs, local_places, place_stem
from bot.labour.models import Job, WorkerProfile
from bot.labour.notices import open_job
from bot.labour.workers import active_profile, register_worker, set_daily_pushes, split_profile_words
from bot.messages import InboundMessage, Reply
from bot.models import unpack_set
from bot.routing import Context, Router
from bot.sms import ucs2_capacity
from bot.textnorm import keyword_form, split_words

router = Router("labour")

LIST_WORDS = ("找工作", "找活", "找活干", "找事做", "招工", "招聘", "务工", "工作", "打工", "务工信息", "招工信息",
              "工作信息", "招工启事", "有没有活干")
LIST_PREFIXES = ("找工作", "找活", "务工", "工作", "招工", "招聘")
REGISTER_WORDS = ("登记务工", "务工登记", "求职登记")
RIGHTS_WORDS = ("维权", "欠薪", "讨薪", "拖欠工资", "欠工资", "工资拖欠", "劳动维权", "欠薪名单", "欠薪预警", "黑名单")
MORE_PUSH = ("多推", "多推点", "多推一点")
LESS_PUSH = ("少推", "少推点", "只推一条")
SMS_LIST = 3
WECHAT_LIST = 8
# A question about work ("打工被骗咋办") belongs to the knowledge base, not to the notice board.
QUESTION = re.compile(r"咋|怎么|怎样|么样|吗|啥|什么|多少|如何|哪里|为什么|能不能|可不可以|要不要|不给|被骗|受伤")
FLOW = "jobs"


def _budget(ctx: Context, channel: str) -> int | None:
    if channel != "sms":
        return None
    return ucs2_capacity(ctx.config.sms.max_segments) - len(ctx.config.sms.signature)


def _fit(lines: list[str], tail: str, budget: int | None) -> str:
    """Drop listed lines from the end until the text fits one reply; the tail always stays."""
    while budget is not None and len("\n".join([*lines, tail])) > budget and len(lines) > 1:
        lines = lines[:-1]
    text = "\n".join([*lines, tail]) if tail else "\n".join(lines)
    return text[:budget] if budget is not None else text


def _today(ctx: Context) -> date:
    return datetime.now(ctx.config.tz).date()


def _local(ctx: Context) -> tuple[str, ...]:
    sub = ctx.subscriber
    return local_places(ctx.config.bot.county, sub.township if sub is not None else "")


async def _save_dialog(ctx: Context, dialog: dict[str, Any]) -> None:
    """Through the inbox, so it lands with the reply and in order with the text's other writes."""
    if ctx.subscriber is not None and ctx.subscriber.dialog != dialog:
        await inbox.save_dialog(ctx.subscriber, dialog)


def _split_unspaced(word: str, county: str) -> list[str]:
    """'建筑武汉' -> ['建筑', '武汉']: cut around a place name we know."""
    known = sorted({*PLACES, *LOCAL_WORDS, place_stem(county)} - {""}, key=len, reverse=True)
    for place in known:
        at = word.find(place)
        if at >= 0 and len(word) > len(place):
            end = at + len(place)
            if word[end:end + 1] in ("市", "县", "区"):
                end += 1
            return [p for p in (word[:at], word[at:end], word[end:]) if p]
    return [word]


def query_words(text: str, county: str) -> list[str] | None:
    """'务工 建筑 武汉' -> ['建筑', '武汉']; None when it reads like a question for the knowledge base."""
    words = split_words(text)
    if words:
        first = words[0]
        for keyword in sorted(LIST_PREFIXES, key=len, reverse=True):
            if first.startswith(keyword):
                rest = first[len(keyword):]
                words = ([rest] if rest else []) + words[1:]
                break
    if any(QUESTION.search(w) for w in words) or len(words) > 3 or any(len(w) > 8 for w in words):
        return None
    out: list[str] = []
    for word in words:
        if word in ("的", "信息", "招工", "有没有", "有吗"):
            continue
        out.extend(_split_unspaced(word, county))
    return out


def _job_line(number: int, job: Job, wechat: bool) -> str:
    who = f"{job.employer}：" if wechat else ""
    return f"{number}.{who}{job.place}{job.work_type}，{job.wage}，招{job.headcount}人"


async def _list(msg: InboundMessage, ctx: Context, words: list[str]) -> Reply:
    found = await find_jobs(words, _today(ctx), _local(ctx), limit=WECHAT_LIST + 1)
    what = "、".join(words)
    if not found:
        await _save_dialog(ctx, {})
        lead = f"暂时没有{what}的招工信息。" if words else "暂时没有招工信息。"
        return Reply(lead + "发“登记务工 工种 想去的地方”（如“登记务工 电工 十堰”），有合适的会通知您。")
    wechat = msg.channel != "sms"
    shown = found[: WECHAT_LIST if wechat else SMS_LIST]
    more = "共" if len(found) <= len(shown) else "最新"
    head = f"{what}招工，{more}{len(shown)}条：" if words else f"招工信息，{more}{len(shown)}条："
    lines = [head] + [_job_line(i, job, wechat) for i, job in enumerate(shown, 1)]
    tail = "回复“详情1”看电话和条件。"
    text = _fit(lines, tail, _budget(ctx, msg.channel))
    kept = text.count("\n") - 1  # lines that survived fitting, without the head and the tail
    await _save_dialog(ctx, {"flow": FLOW, "choices": [job.id for job in shown[:max(kept, 1)]]})
    return Reply(text)


@router.keyword(*LIST_WORDS)
async def list_jobs(msg: InboundMessage, ctx: Context) -> Reply | None:
    """找工作 招工 务工 工作 打工 (every current notice, newest first)"""
    return await _list(msg, ctx, [])


@router.keyword(prefix=LIST_PREFIXES)
async def search_jobs(msg: InboundMessage, ctx: Context) -> Reply | None:
    """务工 建筑 武汉 / 工作 本地 / 找工作 电工 (work type and/or place)"""
    words = query_words(msg.text, ctx.config.bot.county)
    if words is None:
        return None
    return await _list(msg, ctx, words)


def _details(job: Job, budget: int | None) -> str:
    when = ""
    if job.start_date or job.end_date:
        start = job.start_date.isoformat() if job.start_date else "即日"
        end = job.end_date.isoformat() if job.end_date else "不定"
        when = f"\n时间：{start}至{end}"
    terms = f"，{job.pay_terms}" if job.pay_terms else ""
    verified = f"（{job.verified_by}核实）" if job.verified_by else ""
    lines = [
        f"{job.employer}招{job.work_type}{job.headcount}人{verified}",
        f"地点：{job.place}",
        f"工资：{job.wage}{terms}{when}",
        f"电话：{job.contact}",
        f"{job.expires_on.month}月{job.expires_on.day}日前有效。",
    ]
    tail = "提醒：不交押金，先签劳动合同。"
    text = "\n".join([*lines, tail])
    if budget is not None and len(text) > budget:
        text = "\n".join(lines)[:budget]
    return text


async def _show_choice(msg: InboundMessage, ctx: Context, number: int) -> Reply:
    dialog = ctx.subscriber.dialog if ctx.subscriber is not None else {}
    choices = dialog.get("choices", []) if dialog.get("flow") == FLOW else []
    if not choices:
        return Reply("请先发“找工作”查看招工信息，再回复“详情1”这样的编号。")
    if not 1 <= number <= len(choices):
        return Reply(f"没有第{number}条。请回复“详情1”到“详情{len(choices)}”。")
    job = await open_job(choices[number - 1], _today(ctx))
    if job is None:
        return Reply("这条招工已经过期或撤下了。发“找工作”看最新的。")
    return Reply(_details(job, _budget(ctx, msg.channel)))


@router.keyword("详情", prefix=("详情", "查看"))
async def job_details(msg: InboundMessage, ctx: Context) -> Reply | None:
    """详情 2 (contact and terms of the second job listed)"""
    args = keyword_form(ctx.args)
    if not args:
        dialog = ctx.subscriber.dialog if ctx.subscriber is not None else {}
        if dialog.get("flow") == FLOW and len(dialog.get("choices", [])) == 1:
            return await _show_choice(msg, ctx, 1)
        return Reply("请回复“详情”加编号，如“详情1”。")
    if not args.isdigit():
        return None  # "查看订阅" and the like are not ours
    return await _show_choice(msg, ctx, int(args))


def _picks_job(msg: InboundMessage, ctx: Context) -> bool:
    form = keyword_form(msg.text)
    dialog = ctx.subscriber.dialog if ctx.subscriber is not None else {}
    return form.isdigit() and dialog.get("flow") == FLOW and 0 < int(form) <= len(dialog.get("choices", []))


@router.when(_picks_job)
async def job_by_number(msg: InboundMessage, ctx: Context) -> Reply:
    """1 / 2 / 3 after a job list (same as 详情 1)"""
    return await _show_choice(msg, ctx, int(keyword_form(msg.text)))


def _describe(profile: WorkerProfile) -> str:
    skills = "、".join(unpack_set(profile.skills)) or "不限"
    places = "、".join(unpack_set(profile.destinations)) or "不限"
    return f"工种：{skills}；地方：{places}"


@router.keyword(*REGISTER_WORDS)
async def register_usage(msg: InboundMessage, ctx: Context) -> Reply | None:
    """登记务工 (alone: how to register, or what is registered)"""
    sub = ctx.subscriber
    if sub is None:
        return None
    profile = await active_profile(sub.id)
    now = f"您已登记，{_describe(profile)}。" if profile is not None else ""
    return Reply(now + "请按“登记务工 工种 想去的地方”回复，如“登记务工 电工 十堰”；只找本地的写“本地”。")


@router.keyword(prefix=REGISTER_WORDS)
async def register_worker_profile(msg: InboundMessage, ctx: Context) -> Reply | None:
    """登记务工 电工 十堰 (skills and places; opts in to matching job notices)"""
    sub = ctx.subscriber
    if sub is None:
        return None
    words = split_words(msg.text)
    if words:
        for keyword in REGISTER_WORDS:
            if words[0].startswith(keyword):
                rest = words[0][len(keyword):]
                words = ([rest] if rest else []) + words[1:]
                break
    pieces = [p for w in words for p in _split_unspaced(w, ctx.config.bot.county)]
    skills, places = split_profile_words(pieces[:10], ctx.config.bot.county)
    source = f"keyword:登记务工:{msg.channel}"
    if not await consent.opt_in(sub, msg.channel, source, msg.text):
        await consent.record(sub, "opt_in", msg.channel, source, msg.text)
    profile, created = await register_worker(sub, skills, places)
    head = "务工登记好了" if created else "务工登记已更新"
    return Reply(f"{head}。{_describe(profile)}。有核实过的合适招工会短信通知您，每天最多"
                 f"{profile.max_pushes_per_day}条（回复“多推”可多收）。不想收了回复“退订 务工”。")


@router.keyword(*MORE_PUSH, *LESS_PUSH, prefix=("多推",))
async def push_limit(msg: InboundMessage, ctx: Context) -> Reply | None:
    """多推 [N] / 少推: how many job notices a day (1 to 5)"""
    sub = ctx.subscriber
    if sub is None:
        return None
    profile = await active_profile(sub.id)
    if profile is None:
        return Reply("您还没有务工登记。请先发“登记务工 工种 想去的地方”，如“登记务工 电工 十堰”。")
    form = keyword_form(msg.text)
    digits = "".join(ch for ch in ctx.args if ch.isdigit())
    wanted = await set_daily_pushes(profile, 1 if form in LESS_PUSH else int(digits) if digits else 3)
    return Reply(f"好的，合适的招工每天最多推{wanted}条。回复“少推”改回每天1条。")


def _amount(yuan: float) -> str:
    return f"{yuan / 10000:.1f}万元" if yuan >= 10000 else f"{yuan:.0f}元"


@router.keyword(*RIGHTS_WORDS)
async def labour_rights(msg: InboundMessage, ctx: Context) -> Reply:
    """维权 欠薪 讨薪 拖欠工资 (the hotline and the current arrears warnings)"""
    hotline = ctx.config.bot.labour_hotline
    county = ctx.config.bot.county
    head = (f"被欠工资、工伤等请打{hotline}，或到{county}人社局劳动监察投诉。"
            "留好合同、考勤、工资条和聊天记录。")
    notices = await active_arrears(limit=10)
    if not notices:
        return Reply(head + "目前没有欠薪预警。")
    lines = [head, "欠薪预警（找活避开）："]
    for i, notice in enumerate(notices, 1):
        status = f"，{notice.case_status}" if notice.case_status else ""
        owed = f"欠薪{_amount(notice.amount)}" if notice.amount else "欠薪"
        lines.append(f"{i}.{notice.employer}{owed}{status}")
    return Reply(_fit(lines, "", _budget(ctx, msg.channel)))


# Last: the keyword routes above (务工 建筑 武汉, 登记务工 …) read more out of a text than its intent does.
@router.intent("labour")
async def jobs_in_other_words(msg: InboundMessage, ctx: Context) -> Reply:
    """有没有活干 / 想进厂 / 哪里招小工 (looking for work in everyday words)"""
    return await _list(msg, ctx, [])
