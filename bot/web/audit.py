"""操作记录: the audit trail read as plain Chinese, one line per officer act (「李农技 批准了群发《…》」),
filtered by officer, kind of act and days, and exported as CSV.

The rows are what bot/web/console.py writes: the route acted on ("POST /admin/broadcasts/{id}/approve"),
its ids ("id=5") and what the handler said it did. Here they are read back: the verb from the route's
last segment, the object from its first, the object's name from whoever owns it (AUDIT_NAMES listeners;
villagers, accounts and articles the core names itself). Previews (typing in a compose box) are not
acts and are not shown."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from aiohttp import web
from tortoise.expressions import Q
from tortoise.queryset import QuerySet

from bot.extend import AUDIT_NAMES, MenuEntry, add_menu, emit
from bot.keys import CONFIG, OFFICER
from bot.models import AuditEvent, Officer, Subscriber
from bot.phones import mask_phone, mask_phones_in
from bot.web import auth, console, export
from bot.web.fields import MAX_ID, Day, Int, Text
from bot.web.params import QUERY, Query, accepts
from bot.web.view import render
from content.models import Article

PAGE = 100
# The first segment of a route after /admin/ or /api/v1/: what was acted on, as officers call it.
OBJECTS = {
    "broadcasts": "群发", "questions": "问题", "answers": "机器人的回答", "subscribers": "农户", "articles": "文章",
    "prices": "价格", "markets": "市场", "jobs": "务工信息", "arrears": "欠薪提醒", "officers": "账号",
    "messages": "消息", "deliveries": "群发消息", "simulate": "模拟手机", "weather": "天气", "trade": "供求",
}
# The last segment of a route acting on one object: the verb (put around the object where it has {}).
VERBS = {
    "approve": "批准了", "reject": "驳回了", "pause": "暂停了", "resume": "恢复了", "cancel": "取消了",
    "delete": "删除了", "confirm": "确认发布了", "verify": "核实了", "withdraw": "撤回了", "edit": "修改了",
    "copy": "复制了", "reply": "回复了", "close": "关闭了", "opt-out": "代为退订了", "optout": "代为退订了",
    "message": "单独发消息给", "unlock": "解锁了", "disable": "停用了", "enable": "启用了",
    "reset-password": "重置了密码：", "new-password": "修改了自己的密码：", "password": "重置了密码：",
    "role": "更改了角色：", "resend": "重发了",
    "wrong": "把{}标为答错", "publish": "发布了", "rollback": "回滚了", "submit": "提交审批了", "send": "发送了",
    "map": "归并了", "drop": "忽略了", "reset": "重新开始了", "upload": "上传了", "import": "导入了",
}
# A POST to a whole list (no id): what it made.
CREATED = {
    "broadcasts": "新建了群发", "prices": "录入了价格", "jobs": "发布了务工信息", "subscribers": "导入了农户",
    "articles": "新建了文章", "officers": "开设了账号", "markets": "添加了市场", "arrears": "发布了欠薪提醒",
    "simulate": "在模拟手机里发了一条消息", "questions": "处理了问题",
}
# Rows written by name rather than by route (console.record).
NAMED = {
    "login": "登录了后台", "login_failed": "登录失败（用户名或密码不对）", "login_locked": "密码错误次数太多，账号被锁定",
    "login_refused_locked": "账号锁定中，登录被拒绝", "subscribers_export": "导出了农户名单",
    "messages_export": "导出了消息记录", "deliveries_export": "导出了群发的送达明细", "questions_export": "导出了问题列表",
    "audit_export": "导出了操作记录",
}
# The filter's kinds of act: label → how the action column is matched.
KINDS = {"login": "登录", "export": "导出", **{k: OBJECTS[k] for k in (
    "broadcasts", "questions", "answers", "subscribers", "articles", "prices", "jobs", "messages", "officers")}}
PREVIEW = "/preview"
AUDIT_QUERY = Query(officer=Text(50, label="账号名"), kind=Text(16, choices=tuple(KINDS), label="哪类操作"),
                    since=Day(label="从哪天"), until=Day(label="到哪天"),
                    action=Text(40, label="操作（其中一段）"),
                    before=Int(1, MAX_ID, label="从这条记录往前（上一页最后一条的 id）"))
EXPORT_QUERY = Query(**{k: v for k, v in AUDIT_QUERY.params.items() if k != "before"})
_ROUTE = re.compile(r"^(GET|POST|PUT|PATCH|DELETE) /(?:admin|api/v1)/([^/]+)(.*)$")


def setup(app: web.Application) -> None:
    add_menu(app, MenuEntry("/admin/audit", "操作记录", role="supervisor", order=80))
    app.router.add_get("/admin/audit", audit_page)
    app.router.add_get("/admin/audit/export.csv", audit_csv)
    app.router.add_get("/api/v1/audit", audit_api)


@dataclass(frozen=True)
class Act:
    """What one audit row says: the object acted on (its kind and id), and the sentence without the name."""

    kind: str
    object_id: int | None
    verb: str  # the sentence after the officer's name; {} is where the object goes
    noun: str = ""


def read(event: AuditEvent) -> Act:
    if event.action in NAMED:
        return Act("", None, NAMED[event.action])
    found = _ROUTE.match(event.action)
    if found is None:
        return Act("", None, f"做了操作“{event.action}”")
    method, kind, rest = found.groups()
    ids = re.findall(r"(?:^|,)id=(\d+)", event.target)
    object_id = int(ids[0]) if ids else None
    parts = [p for p in rest.split("/") if p and not p.startswith("{")]
    noun = OBJECTS.get(kind, "记录")  # a route added later still reads as Chinese
    if kind == "simulate" and parts == ["reset"]:
        return Act(kind, None, "重新开始了模拟手机")
    if kind == "prices" and parts[:1] == ["unmapped"]:
        return Act(kind, None, ("归并了" if parts[-1] == "map" else "忽略了") + "未识别的品名")
    if kind == "jobs" and parts[:1] == ["arrears"]:
        kind, noun, parts = "arrears", OBJECTS["arrears"], parts[1:]
        if not parts and object_id is not None:
            return Act(kind, object_id, "更新了", noun)
    if object_id is None and not parts:
        return Act(kind, None, CREATED.get(kind, f"新建了{noun}"))
    verb = VERBS.get(parts[-1], "") if parts else ""
    if not verb:
        verb = {"DELETE": "删除了", "PUT": "修改了", "PATCH": "修改了"}.get(method, "修改了" if object_id else "操作了")
    return Act(kind, object_id, verb, noun)


async def names(app: web.Application, acts: Iterable[Act], admin: bool) -> dict[tuple[str, int], str]:
    """The name of each object the rows mention: 《群发的第一行》, 「问题」, 农户张三 …"""
    wanted: dict[str, set[int]] = {}
    for act in acts:
        if act.object_id is not None:
            wanted.setdefault(act.kind, set()).add(act.object_id)
    out: dict[tuple[str, int], str] = {}
    for kind, ids in wanted.items():
        listed = sorted(ids)
        found: dict[int, str] = {}
        if kind == "subscribers":
            for s in await Subscriber.filter(id__in=listed):
                phone = s.phone if admin or not s.phone else mask_phone(s.phone)
                found[s.id] = s.name or phone or "（微信用户）"
        elif kind == "officers":
            found = {o.id: o.name for o in await Officer.filter(id__in=listed)}
        elif kind == "articles":
            found = {a.id: f"《{a.title}》" for a in await Article.filter(id__in=listed)}
        else:
            for answered in await emit(app, AUDIT_NAMES, kind, listed):
                found.update(answered or {})
        for key, name in found.items():
            out[(kind, key)] = name if admin else mask_phones_in(name)
    return out


def sentence(event: AuditEvent, act: Act, named: dict[tuple[str, int], str]) -> str:
    who = event.officer_name or "（未知账号）"
    if act.object_id is None:
        return f"{who} {act.verb.replace('{}', act.noun) if '{}' in act.verb else act.verb + act.noun}"
    what = act.noun + named.get((act.kind, act.object_id), f" {act.object_id} 号")
    return f"{who} {act.verb.replace('{}', what) if '{}' in act.verb else act.verb + what}"


def _day_start(app: web.Application, day: date) -> datetime:
    # In UTC: SQLite compares the stored UTC text, so a +08:00 bound would be 8 hours off.
    return datetime.combine(day, time(), tzinfo=app[CONFIG].tz).astimezone(UTC)


def filtered(request: web.Request) -> QuerySet[AuditEvent]:
    asked = request[QUERY]
    query = AuditEvent.exclude(action__endswith=PREVIEW)
    if name := (asked["officer"] or "").strip():
        query = query.filter(officer_name=name)
    if kind := asked["kind"]:
        if kind == "login":
            query = query.filter(Q(action__startswith="login") | Q(action__endswith="/logout"))
        elif kind == "export":
            query = query.filter(action__endswith="_export")
        else:
            query = query.filter(Q(action__contains=f"/{kind}") | Q(action__startswith=f"{kind}_"))
    if action := (asked["action"] or "").strip():
        query = query.filter(action__icontains=action)
    if since := asked["since"]:
        query = query.filter(created_at__gte=_day_start(request.app, since))
    if until := asked["until"]:
        query = query.filter(created_at__lt=_day_start(request.app, until + timedelta(days=1)))
    return query


def is_admin(request: web.Request) -> bool:
    return bool(request[OFFICER].role == "admin")


@dataclass(frozen=True)
class Line:
    """One row as the page, the API and the export show it."""

    event: AuditEvent
    text: str
    detail: str


async def lines(request: web.Request, events: list[AuditEvent]) -> list[Line]:
    admin = is_admin(request)
    acts = [read(e) for e in events]
    named = await names(request.app, acts, admin)
    return [Line(e, sentence(e, act, named), e.detail if admin else mask_phones_in(e.detail))
            for e, act in zip(events, acts, strict=True)]


@auth.page("supervisor")
@accepts(query=AUDIT_QUERY)
async def audit_page(request: web.Request) -> web.Response:
    events = await filtered(request).filter(
        **({"id__lt": request[QUERY]["before"]} if request[QUERY]["before"] else {})).order_by("-id").limit(PAGE)
    asked = {k: v for k, v in request.query.items() if k in AUDIT_QUERY.params and k != "before" and v}
    return render(request, "audit.html", {
        "rows": await lines(request, events), "asked": asked, "kinds": KINDS,
        "officers": await Officer.all().order_by("name").values_list("name", flat=True),
        "older": events[-1].id if len(events) == PAGE else 0,
    })


@auth.page("supervisor")
@accepts(query=EXPORT_QUERY)
async def audit_csv(request: web.Request) -> web.StreamResponse:
    query = filtered(request)
    described = ", ".join(f"{k}={v}" for k, v in request.query.items() if k in EXPORT_QUERY.params and v) or "none"
    await console.record(request, "audit_export", officer=request[OFFICER], detail=f"filters: {described}")
    tz = request.app[CONFIG].tz

    async def batches() -> AsyncIterator[list[list[object]]]:
        last = MAX_ID  # ids run up to it; MAX_ID + 1 would not fit PostgreSQL's integer
        while True:
            events = await query.filter(id__lte=last).order_by("-id").limit(1000)
            yield [[line.event.created_at.astimezone(tz).strftime("%Y-%m-%d %H:%M:%S"), line.text, line.detail,
                    line.event.ip] for line in await lines(request, events)]
            if len(events) < 1000:
                return
            last = events[-1].id - 1

    return await export.stream(request, "audit", ["时间", "操作", "说明", "来源 IP"], batches())


@auth.requires("supervisor")
@accepts(query=AUDIT_QUERY)
async def audit_api(request: web.Request) -> web.Response:
    """Audit trail, newest first (100 per page), each act also as one Chinese sentence ("text").

    Query: officer=NAME, kind=login|export|broadcasts|questions|answers|subscribers|articles|prices|jobs|
    messages|officers, since=YYYY-MM-DD, until=YYYY-MM-DD, action=TEXT (part of it), before=ID (the next page)."""
    before = request[QUERY]["before"]
    events = await filtered(request).filter(**({"id__lt": before} if before else {})).order_by("-id").limit(PAGE)
    return web.json_response({"events": [
        {"id": line.event.id, "at": line.event.created_at.isoformat(), "officer": line.event.officer_name,
         "action": line.event.action, "target": line.event.target, "text": line.text, "detail": line.detail,
         "ip": line.event.ip} for line in await lines(request, events)]})
