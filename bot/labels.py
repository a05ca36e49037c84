"""The Chinese words officers and villagers read for each enumeration: channels, roles, broadcast kinds, states.

One place each, so a page, a chart and a message can never name the same thing two ways. The keys are
the values stored in the database and used in the API; only the words here are shown."""

from __future__ import annotations

CHANNEL_NAMES = {"sms": "短信", "wechat": "微信"}
ROLE_NAMES = {"officer": "农技员", "supervisor": "审核员", "admin": "管理员"}

# The kinds of broadcast, in the order the compose form offers them. The kind's name picks the provider
# template (aliyun.template_<kind>, wechat.template_<kind>), and its label is the WeChat template's
# first field, which is why the channels, below broadcasts/, read it here. 市场价格 is the word the prices
# page and WeChat villagers already see (the console once said 价格行情 for the same kind).
BROADCAST_KINDS = {"tip": "农技提示", "price": "市场价格", "labour": "务工信息", "notice": "通知",
                   "trade": "收购信息", "warning": "天气预警", "weather": "天气预报"}
BROADCAST_STATES = {"draft": "草稿", "pending_approval": "待审批", "scheduled": "已排期", "sending": "发送中",
                    "paused": "已暂停", "done": "已完成", "cancelled": "已取消", "rejected": "已驳回"}
RUN_STATES = {"enqueuing": "准备名单", "sending": "发送中", "paused": "已暂停", "done": "已完成",
              "cancelled": "已取消", "skipped": "未发送"}

# A message's state as a villager's history shows it (inbound: processing/answered/failed; outbound: the rest).
MESSAGE_STATES = {"processing": "处理中", "answered": "已回复", "failed": "失败", "queued": "排队中",
                  "sending": "发送中", "sent": "已发送", "delivered": "已送达", "undelivered": "未送达"}
# What became of one outbound message or broadcast delivery, told to the officer who sent it.
DELIVERY_STATES = {"queued": "排队中", "sending": "发送中", "sent": "已发送", "delivered": "已送达",
                   "undelivered": "未送达", "failed": "发送失败"}

# What villagers texted, by the handler module that answered (Message.handler is "module.function").
HANDLER_GROUPS = {
    "search.answer_question": "技术提问", "search.more": "看下一页", "search.open_choice": "看下一页",
    "prices": "价格行情", "labour": "务工", "trade": "供求", "help": "帮助菜单", "subscribe": "订阅设置", "optout": "退订/恢复",
    "register": "登记信息", "profile": "查看登记", "weather": "天气", "smalltalk": "打招呼", "handoff": "转农技员",
    "feedback": "意见", "rating": "评价回答", "error": "系统出错", "": "未回复",
}
