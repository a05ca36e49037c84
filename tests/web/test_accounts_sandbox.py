"""The console simulator speaks as each officer's sandbox identity (bot/sandbox.py), never as a villager:
what an officer types there is in no villager count, export or audience (the 首页, 农户, 群发 cases are in
tests/web/test_console_simulator.py); here the exports and counts added with the message log and the
answers review."""

from __future__ import annotations

import pytest

from bot import sandbox
from bot.models import Message, Subscriber
from bot.questions.models import Question
from broadcasts.audience import Audience, matching
from tests.helpers import Console, say

pytestmark = pytest.mark.db
SANDBOX_TEXT = "核桃树干流黑水咋个治"
VILLAGER_TEXT = "板栗树叶子上长白点点咋办"


async def test_sandbox_questions_and_messages_are_no_villagers(console: Console) -> None:
    await console.login("officer")
    simulated = await console.api("POST", "/api/v1/simulate", json={"channel": "sms", "text": SANDBOX_TEXT})
    assert simulated.status == 200 and (await simulated.json())["handed_to_officer"]
    await say(console.app, VILLAGER_TEXT, address="+8613900000002")
    me = await Subscriber.get(wechat_openid=sandbox.address_for(console.officers["officer"].id))
    assert await Question.filter(subscriber=me, text=SANDBOX_TEXT).exists()

    questions = await (await console.client.get("/admin/questions/export.csv", params={"tab": "open"})).text()
    assert VILLAGER_TEXT in questions and SANDBOX_TEXT not in questions
    messages = await (await console.client.get("/admin/messages/export.csv")).text()
    assert VILLAGER_TEXT in messages and SANDBOX_TEXT not in messages and "sim:" not in messages
    log = await (await console.client.get("/admin/messages")).text()
    assert VILLAGER_TEXT in log and SANDBOX_TEXT not in log
    assert await Message.filter(body=SANDBOX_TEXT).exists()  # kept, only not counted as a villager's

    ids = await matching(Audience()).values_list("id", flat=True)
    assert me.id not in ids and len(ids) == 1
    home = await (await console.client.get("/admin/")).text()
    assert "sim:" not in home
