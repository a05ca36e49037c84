"""Weather over the real inbound pipeline and the real broadcasts engine, against the fake QWeather
(tests/fakes/qweather.py, a real local HTTP server): forecasts on request, the township asked once,
outages, warnings turned into pushes (dedupe, updates, auto-send, quiet hours, cancellations), the
{天气} placeholder, the console page, the API and the dashboard card."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from bot.config import Config, ConfigError, WeatherConfig, load_config
from bot.keys import SENDERS
from bot.models import Subscriber, pack_set
from bot.sms import segments
from bot.weather import places, push, service, warnings
from bot.weather.models import Forecast, WarningBroadcast, WeatherAlert
from bot.weather.provider import ProviderError
from bot.weather.qweather import QWeather
from broadcasts import audience, dispatcher
from broadcasts import service as broadcasts
from broadcasts.dispatcher import BULK, Dispatcher
from broadcasts.models import Broadcast, BroadcastRun, Delivery
from broadcasts.placeholders import render
from handlers.weather import ASK_TOWNSHIP, NO_PROVIDER
from tests.conftest import ROOT, make_config
from tests.fakes.clock import FakeClock
from tests.fakes.qweather import API_KEY, FakeQWeather, alert
from tests.fakes.sender import InMemorySender
from tests.helpers import Console, reply_text

TZ = ZoneInfo("Asia/Shanghai")
GUANFANG = places.find("关防乡")
SHANGJIN = places.find("上津镇")
assert GUANFANG is not None and SHANGJIN is not None
PHONE = "+8613800138000"


@pytest.fixture
async def fake(aiohttp_server: Any) -> tuple[FakeQWeather, TestServer]:
    qweather = FakeQWeather()
    qweather.forecast_from(datetime.now(TZ).date(), "多云", "小雨", "多云")
    return qweather, await aiohttp_server(qweather.app())


def weather_config(db_url: str, server: TestServer, **weather: Any) -> Config:
    sections: dict[str, Any] = {"weather": {"provider": "qweather", "api_base": str(server.make_url("")).rstrip("/"),
                                            "api_key": API_KEY, "timeout": 2.0, **weather}}
    return make_config(db_url, **sections)


@pytest.fixture
def config(db_url: str, fake: tuple[FakeQWeather, TestServer]) -> Config:
    return weather_config(db_url, fake[1])


@pytest.fixture
def qweather(fake: tuple[FakeQWeather, TestServer]) -> FakeQWeather:
    return fake[0]


async def villager(phone: str, township: str, *crops: str, **kw: Any) -> Subscriber:
    return await Subscriber.create(phone=phone, township=township, crops=pack_set(list(crops)), **kw)


# --- forecasts on request ----------------------------------------------------------------------


async def test_a_registered_villager_gets_their_townships_forecast_in_one_sms(
        quick_app: web.Application, qweather: FakeQWeather, config: Config) -> None:
    await villager(PHONE, "关防乡", "柑橘")
    reply = await reply_text(quick_app, "明天下雨不")
    assert reply == "关防乡 明天 小雨 3～9℃，后天 多云。有雨别打药，已打的看标签是否要补喷。"
    assert segments(config.sms.signature + reply) == 1
    assert qweather.calls[-1] == ("/v7/weather/3d", {"location": f"{GUANFANG.lon:.2f},{GUANFANG.lat:.2f}",
                                                      "lang": "zh"})
    # within weather.forecast_minutes the stored forecast answers: no second call
    assert await reply_text(quick_app, "后天出太阳不") == "关防乡 后天 多云 3～9℃。"
    assert len(qweather.calls) == 1


async def test_wechat_gets_three_days(quick_app: web.Application, qweather: FakeQWeather) -> None:
    await Subscriber.create(wechat_openid="o-weather-1", wechat_followed=True, township="关防乡",
                            preferred_channel="wechat")
    reply = await reply_text(quick_app, "这几天天气咋样", address="o-weather-1", channel="wechat")
    lines = reply.splitlines()
    assert lines[0] == "关防乡天气预报："
    assert [line[:2] for line in lines[1:4]] == ["今天", "明天", "后天"]
    assert "小雨，3～9℃，东北风3-4级" in lines[2]
    assert lines[4].startswith("有雨别打药")


async def test_an_unregistered_villager_is_asked_the_township_once_and_it_is_remembered(
        quick_app: web.Application, qweather: FakeQWeather) -> None:
    assert await reply_text(quick_app, "明天下雨不") == ASK_TOWNSHIP
    assert await reply_text(quick_app, "关防") == "关防乡 明天 小雨 3～9℃，后天 多云。有雨别打药，已打的看标签是否要补喷。"
    sub = await Subscriber.get(phone=PHONE)
    assert sub.township == "关防乡" and sub.dialog == {}
    assert (await reply_text(quick_app, "明天下雨不")).startswith("关防乡 明天 小雨")


async def test_other_texts_in_between_are_answered_as_usual(quick_app: web.Application,
                                                           qweather: FakeQWeather) -> None:
    assert await reply_text(quick_app, "明天下雨不") == ASK_TOWNSHIP
    reply = await reply_text(quick_app, "帮助")
    assert reply != ASK_TOWNSHIP and "关防乡" not in reply
    assert (await reply_text(quick_app, "关防乡")).startswith("关防乡 明天 小雨")
    assert (await Subscriber.get(phone=PHONE)).dialog == {}


async def test_a_township_named_in_the_question_wins(quick_app: web.Application, qweather: FakeQWeather) -> None:
    await villager(PHONE, "关防乡")
    assert (await reply_text(quick_app, "上津明天下雨不")).startswith("上津镇 明天 小雨")


@pytest.mark.parametrize("fault", ["500", "429", "401", "code402", "garbage", "timeout"])
async def test_an_outage_answers_with_the_last_forecast_and_its_time(
        quick_app: web.Application, qweather: FakeQWeather, fault: str) -> None:
    await villager(PHONE, "关防乡")
    first = await reply_text(quick_app, "明天下雨不")
    fetched = datetime.now(UTC) - timedelta(minutes=45)
    await Forecast.filter(township="关防乡").update(fetched_at=fetched)  # older than forecast_minutes
    qweather.hang_seconds = 3.0  # beyond weather.timeout
    qweather.faults.append(fault)
    local = fetched.astimezone(TZ)
    assert await reply_text(quick_app, "明天下雨不") == (
        f"天气服务暂时连不上，这是{local.month}月{local.day}日{local:%H:%M}的预报：" + first)


async def test_an_outage_with_nothing_stored_is_said_plainly(quick_app: web.Application,
                                                             qweather: FakeQWeather) -> None:
    await villager(PHONE, "关防乡")
    qweather.down = True
    assert await reply_text(quick_app, "明天下雨不") == service.DOWN
    qweather.down = False
    assert (await reply_text(quick_app, "明天下雨不")).startswith("关防乡 明天")


async def test_with_no_provider_the_honest_reply_stays(quick_app: web.Application, db_url: str) -> None:
    quick_app_config = make_config(db_url)
    assert quick_app_config.weather.provider == ""
    from bot.keys import CONFIG
    quick_app[CONFIG] = quick_app_config
    await villager(PHONE, "关防乡")
    assert await reply_text(quick_app, "明天下雨不") == NO_PROVIDER


async def test_frost_hint_and_jwt_authentication(aiohttp_server: Any, db_url: str) -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()).decode()
    qweather = FakeQWeather(public_key=key.public_key(), project_id="3A8XXXXXXX", key_id="C7BXXXXXXX")
    qweather.forecast_from(datetime.now(TZ).date(), "晴", "晴", "多云", low=-3, high=8)
    server = await aiohttp_server(qweather.app())
    client = QWeather(WeatherConfig(provider="qweather", api_base=str(server.make_url("")).rstrip("/"),
                                    project_id="3A8XXXXXXX", key_id="C7BXXXXXXX", private_key=pem))
    try:
        days = await client.forecast(GUANFANG.lat, GUANFANG.lon)
        assert [d.temp_min for d in days] == [-3, -3, -3]
        assert service.hint_for(days[1:3], "sms") == "夜里防霜冻，菜苗盖膜，果树熏烟。"
        qweather.key_id = "someone-else"
        with pytest.raises(ProviderError, match="401"):
            await client.forecast(GUANFANG.lat, GUANFANG.lon)
    finally:
        await client.close()


def test_weather_config_is_checked_and_secrets_come_from_the_environment(tmp_path: Any) -> None:
    base = ROOT / "config.toml"
    with pytest.raises(ConfigError, match=r"weather\.api_key"):
        load_config(base, env={"NONGBOT_WEATHER_PROVIDER": "qweather", "NONGBOT_WEATHER_API_BASE": "https://x.qweatherapi.com"})
    with pytest.raises(ConfigError, match=r"weather\.auto_send_from"):
        load_config(base, env={"NONGBOT_WEATHER_AUTO_SEND_FROM": "purple"})
    path = tmp_path / "c.toml"
    path.write_text('[weather]\napi_key = "abc"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match="NONGBOT_WEATHER_API_KEY"):
        load_config(path, env={})
    cfg = load_config(base, env={"NONGBOT_WEATHER_PROVIDER": "qweather", "NONGBOT_WEATHER_API_KEY": "k",
                                 "NONGBOT_WEATHER_API_BASE": "https://x.qweatherapi.com"})
    assert cfg.weather.api_key == "k" and "k'" not in repr(cfg.weather)


def test_every_township_has_coordinates_in_the_county() -> None:
    towns = places.townships()
    assert len(towns) >= 17 and len({t.name for t in towns}) == len(towns)
    for town in towns:
        assert 32.6 <= town.lat <= 33.5 and 109.4 <= town.lon <= 111.0, town
    assert places.find("我在湖北口回族乡") == places.find("湖北口")


# --- warnings ----------------------------------------------------------------------------------


async def _broadcasts() -> list[Broadcast]:
    return await Broadcast.filter(kind="warning").order_by("id")


async def _recipients(broadcast: Broadcast) -> set[str]:
    found = audience.matching(audience.Audience.from_json(broadcast.audience))
    return {str(p) for p in await found.values_list("phone", flat=True)}


async def test_a_frost_warning_drafts_a_pending_warning_for_that_township_with_advice_for_their_crops(
        quick_app: web.Application, qweather: FakeQWeather) -> None:
    await villager("+8613800000001", "关防乡", "柑橘", "茶叶")
    await villager("+8613800000002", "关防乡", "玉米")
    await villager("+8613800000003", "上津镇", "柑橘")
    frost = alert("霜冻", "blue")
    qweather.set_alerts(GUANFANG.lat, GUANFANG.lon, frost)
    done = await warnings.poll(quick_app)
    assert done.new == [frost["id"]] and done.drafted == 2 and not done.failed
    made = await _broadcasts()
    assert [b.state for b in made] == ["pending_approval", "pending_approval"]
    by_ref = {b.article_ref: b for b in made}
    citrus, general = by_ref["citrus-freeze-protection"], by_ref["disaster-frost-cold-spring"]
    for b in made:
        assert b.audience["townships"] == ["关防乡"]
        assert b.text.startswith("关防乡：郧西县气象台发布霜冻蓝色预警（一般）。预计今天夜间")
    assert await _recipients(citrus) == {"+8613800000001"}
    assert await _recipients(general) == {"+8613800000002"}
    assert "种柑橘的：柑橘怕零下5℃以下的冻。" in citrus.text
    assert "降温前1～2天浇透水" in general.text
    assert all(len(b.text) <= 201 - 6 for b in made)

    # the same warning polled again: nothing new
    again = await warnings.poll(quick_app)
    assert again.new == [] and again.drafted == 0
    assert len(await _broadcasts()) == 2
    assert await WeatherAlert.filter(state="active").count() == 1


async def test_an_update_is_no_duplicate_but_a_higher_level_is_pushed_again(
        quick_app: web.Application, qweather: FakeQWeather) -> None:
    await villager("+8613800000001", "关防乡", "柑橘")
    first = alert("霜冻", "blue")
    qweather.set_alerts(GUANFANG.lat, GUANFANG.lon, first)
    await warnings.poll(quick_app)
    update = alert("霜冻", "blue", message_type="update", supersedes=(first["id"],))
    qweather.set_alerts(GUANFANG.lat, GUANFANG.lon, update)
    done = await warnings.poll(quick_app)
    assert done.new == [update["id"]] and done.drafted == 0
    assert len(await _broadcasts()) == 1
    assert (await WeatherAlert.get(alert_id=first["id"])).state == "superseded"
    raised = alert("霜冻", "orange", message_type="update", supersedes=(update["id"],))
    qweather.set_alerts(GUANFANG.lat, GUANFANG.lon, raised)
    assert (await warnings.poll(quick_app)).drafted == 1
    assert "橙色预警（严重）" in (await _broadcasts())[-1].text


async def test_one_warning_over_several_townships_is_drafted_once(quick_app: web.Application,
                                                                  qweather: FakeQWeather) -> None:
    await villager("+8613800000001", "关防乡", "柑橘")
    await villager("+8613800000003", "上津镇", "柑橘")
    county = alert("寒潮", "yellow")
    qweather.set_alerts(GUANFANG.lat, GUANFANG.lon, county)
    qweather.set_alerts(SHANGJIN.lat, SHANGJIN.lon, county)
    await warnings.poll(quick_app)
    made = await _broadcasts()
    assert len(made) == 1
    assert sorted(made[0].audience["townships"]) == ["上津镇", "关防乡"]
    assert await _recipients(made[0]) == {"+8613800000001", "+8613800000003"}


async def test_a_township_the_provider_fails_for_is_tried_again_next_round(
        quick_app: web.Application, qweather: FakeQWeather) -> None:
    await villager("+8613800000001", "关防乡", "柑橘")
    qweather.set_alerts(GUANFANG.lat, GUANFANG.lon, alert("冰雹", "yellow"))
    qweather.down = True
    done = await warnings.poll(quick_app)
    assert len(done.failed) == len(places.townships()) and done.drafted == 0
    qweather.down = False
    assert (await warnings.poll(quick_app)).drafted == 1
    hail = (await _broadcasts())[0]
    assert hail.article_ref == "disaster-hail-recovery" and "冰雹打过别急着毁种" in hail.text


async def test_auto_send_from_a_level_up(quick_app: web.Application, qweather: FakeQWeather,
                                         db_url: str, fake: tuple[FakeQWeather, TestServer]) -> None:
    from bot.keys import CONFIG
    quick_app[CONFIG] = weather_config(db_url, fake[1], auto_send_from="orange")
    await villager("+8613800000001", "关防乡", "柑橘")
    qweather.set_alerts(GUANFANG.lat, GUANFANG.lon, alert("霜冻", "yellow"))
    await warnings.poll(quick_app)
    qweather.set_alerts(SHANGJIN.lat, SHANGJIN.lon, alert("暴雨", "red"))
    await villager("+8613800000003", "上津镇", "玉米")
    await warnings.poll(quick_app)
    yellow, red = await _broadcasts()
    assert yellow.state == "pending_approval" and yellow.approved_by_id is None
    assert red.state == "scheduled" and red.approved_at is not None
    assert (await red.approved_by).name == "系统"  # type: ignore[union-attr]


EVENING = datetime(2026, 12, 6, 22, 30, tzinfo=TZ)  # inside quiet hours 21:00-07:30


@pytest.mark.parametrize(("passes_from", "sent"), [("red", 1), ("", 0)])
async def test_red_warnings_pass_quiet_hours_only_when_the_county_says_so(
        quick_app: web.Application, qweather: FakeQWeather, db_url: str, fake: tuple[FakeQWeather, TestServer],
        clock: FakeClock, monkeypatch: pytest.MonkeyPatch, passes_from: str, sent: int) -> None:
    from bot.keys import CONFIG
    cfg = weather_config(db_url, fake[1], auto_send_from="red", quiet_hours_pass_from=passes_from)
    cfg = cfg.replace(sms={"quiet_hours": "21:00-07:30"})
    quick_app[CONFIG] = cfg
    clock.install(monkeypatch, dispatcher)
    clock.set(EVENING)
    await villager("+8613800000001", "关防乡", "柑橘")
    qweather.set_alerts(GUANFANG.lat, GUANFANG.lon, alert("暴雨", "red"))
    await warnings.poll(quick_app)
    (red,) = await _broadcasts()
    assert red.state == "scheduled"
    await broadcasts.fire(red.id, EVENING, cfg)  # what the scheduler does at its approval time
    await warnings.expedite(quick_app)
    engine = Dispatcher(quick_app)
    assert await engine.tick() == sent
    sender = quick_app[SENDERS]["sms"]
    assert isinstance(sender, InMemorySender)
    assert len(sender.sent) == sent
    if sent:
        assert sender.sent[0].address == "+8613800000001" and "暴雨" in sender.sent[0].text
    else:
        assert await Delivery.filter(state="queued", priority=BULK).count() == 1


async def test_a_lifted_warning_is_told_to_those_who_got_it(quick_app: web.Application, qweather: FakeQWeather,
                                                            db_url: str, fake: tuple[FakeQWeather, TestServer]) -> None:
    from bot.keys import CONFIG
    cfg = weather_config(db_url, fake[1], auto_send_from="blue", send_cancellations=True)
    quick_app[CONFIG] = cfg
    got = await villager("+8613800000001", "关防乡", "柑橘")
    await villager("+8613800000002", "关防乡", "柑橘")  # the warning did not reach them
    first = alert("霜冻", "blue")
    qweather.set_alerts(GUANFANG.lat, GUANFANG.lon, first)
    await warnings.poll(quick_app)
    (warning,) = await _broadcasts()
    run = await broadcasts.fire(warning.id, datetime.now(UTC), cfg)
    assert run is not None
    await Delivery.filter(run_id=run.id, subscriber_id=got.id).update(state="delivered")
    await Delivery.filter(run_id=run.id).exclude(subscriber_id=got.id).update(state="failed")
    qweather.set_alerts(GUANFANG.lat, GUANFANG.lon,
                        alert("霜冻", "blue", message_type="cancel", supersedes=(first["id"],)))
    await warnings.poll(quick_app)
    lifted = (await _broadcasts())[-1]
    assert lifted.text == "关防乡的霜冻预警已解除。"
    assert lifted.audience == {"subscriber_ids": [got.id]}
    assert (await WeatherAlert.get(alert_id=first["id"])).state == "cancelled"
    assert await WarningBroadcast.filter(purpose="cancel").count() == 1
    await warnings.poll(quick_app)  # polled again: no second 解除
    assert await WarningBroadcast.filter(purpose="cancel").count() == 1


async def test_a_warning_no_longer_listed_has_ended(quick_app: web.Application, qweather: FakeQWeather) -> None:
    qweather.set_alerts(GUANFANG.lat, GUANFANG.lon, alert("大雾", "yellow"))
    await warnings.poll(quick_app)
    qweather.alerts.clear()
    await warnings.poll(quick_app)
    assert await WeatherAlert.filter(state="ended").count() == 1


# --- digest, console, API ----------------------------------------------------------------------


async def test_the_weather_placeholder_fills_a_townships_forecast(quick_app: web.Application,
                                                                  qweather: FakeQWeather, config: Config) -> None:
    from bot.app import create_app

    create_app(config, role="cli")  # its setup registers {天气} (placeholders are process-wide)
    await warnings.poll(quick_app)  # the poller stores every township's forecast
    today = datetime.now(TZ).date()
    text = await render("早上好！{天气:关防乡}", today)
    assert text == "早上好！关防乡今天多云3～9℃，明天小雨3～9℃。有雨别打药，已打的看标签是否要补喷。"
    assert (await render("{天气:不存在乡}", today)) == "（没有“不存在乡”的天气预报）"


async def _console(aiohttp_client: Any, config: Config, password_hash: str) -> Console:
    from bot.app import create_app
    from bot.models import Officer
    from tests.helpers import OFFICER_NAMES

    client = await aiohttp_client(create_app(config, role="web"))
    officers = {role: await Officer.create(name=name, role=role, password_hash=password_hash)
                for role, name in OFFICER_NAMES.items()}
    return Console(client, officers)


@pytest.fixture
async def weather_console(aiohttp_client: Any, config: Config, officer_password_hash: str) -> Console:
    return await _console(aiohttp_client, config, officer_password_hash)


@pytest.fixture
async def plain_console(aiohttp_client: Any, db_url: str, officer_password_hash: str) -> Console:
    return await _console(aiohttp_client, make_config(db_url), officer_password_hash)


async def test_api_console_page_and_dashboard(weather_console: Console, qweather: FakeQWeather) -> None:
    console = weather_console
    await villager("+8613800000001", "关防乡", "柑橘")
    qweather.set_alerts(GUANFANG.lat, GUANFANG.lon, alert("霜冻", "blue"))
    await warnings.poll(console.app)
    headers = await console.token("officer")
    response = await console.client.get("/api/v1/weather/关防", headers=headers)
    assert response.status == 200
    body = await response.json()
    assert body["township"] == "关防乡" and body["forecast"]["stale"] is False
    assert body["forecast"]["sms"].startswith("关防乡 明天 小雨")
    (warning,) = body["warnings"]
    assert warning["event"] == "霜冻" and warning["level"] == "蓝色预警（一般）"
    assert warning["pushed"][0]["state"] == "pending_approval"
    assert (await console.client.get("/api/v1/weather/不存在乡", headers=headers)).status == 404
    assert (await console.client.get("/api/v1/weather/关防乡")).status == 401
    spec = await (await console.client.get("/api/v1/openapi.json", headers=headers)).json()
    assert spec["paths"]["/api/v1/weather/{township}"]["get"]["x-required-role"] == "officer"

    await console.login("officer")
    page = await console.client.get("/admin/weather")
    html = await page.text()
    assert page.status == 200 and "关防乡" in html and "郧西县气象台发布霜冻蓝色预警" in html
    home = await (await console.client.get("/admin/")).text()
    assert "生效中的天气预警" in home and "关防乡" in home
    assert 'href="/admin/weather"' in home
    console.client.session.cookie_jar.clear()
    assert (await console.client.get("/admin/weather", allow_redirects=False)).status == 303


async def test_expedite_leaves_lower_levels_and_other_broadcasts_alone(
        quick_app: web.Application, qweather: FakeQWeather, config: Config) -> None:
    await villager("+8613800000001", "关防乡", "柑橘")
    qweather.set_alerts(GUANFANG.lat, GUANFANG.lon, alert("霜冻", "orange"))
    await warnings.poll(quick_app)
    (orange,) = await _broadcasts()
    orange.state = "scheduled"
    await orange.save(update_fields=["state"])
    await broadcasts.fire(orange.id, datetime.now(UTC), config)
    assert await push.expedite(config) == 0
    assert await Delivery.filter(priority=BULK).count() == 1
    assert await BroadcastRun.filter(broadcast_id=orange.id).count() == 1


async def test_frost_in_the_forecast_gives_the_frost_hint(quick_app: web.Application, qweather: FakeQWeather) -> None:
    await villager(PHONE, "关防乡", "柑橘")
    qweather.forecast_from(datetime.now(TZ).date(), "晴", "晴", "霜冻", low=-2, high=8)
    reply = await reply_text(quick_app, "这几天会不会下霜")
    assert reply == "关防乡 明天 晴 -2～8℃，后天 霜冻。夜里防霜冻，菜苗盖膜，果树熏烟。"


def test_the_poller_runs_in_workers_only_when_a_provider_is_set(config: Config, db_url: str) -> None:
    from bot.app import create_app
    from bot.extend import extensions

    worker = create_app(config, role="worker")
    assert {"weather-warnings", "weather-urgent"} <= {p.name for p in extensions(worker).periodic}
    assert next(p for p in extensions(worker).periodic if p.name == "weather-warnings").seconds == 900.0
    off = create_app(make_config(db_url), role="all")
    assert not {p.name for p in extensions(off).periodic} & {"weather-warnings", "weather-urgent"}
    assert "/admin/weather" not in {m.path for m in extensions(off).menu}
    assert "weather_warnings" not in {c.name for c in extensions(off).cards}


async def test_with_no_provider_the_page_and_the_api_say_so(plain_console: Console) -> None:
    console = plain_console
    headers = await console.token("officer")
    body = await (await console.client.get("/api/v1/weather/关防乡", headers=headers)).json()
    assert body["provider"] is None and body["forecast"] is None and body["warnings"] == []
    await console.login("officer")
    html = await (await console.client.get("/admin/weather")).text()
    assert "还没有接入天气服务" in html


async def test_a_township_outside_the_file_is_told_plainly(quick_app: web.Application, qweather: FakeQWeather) -> None:
    await villager(PHONE, "白河镇")
    assert await reply_text(quick_app, "明天下雨不") == "暂时查不到白河镇的天气预报，请拨打12121听本地预报。"
    assert qweather.calls == []


async def test_daily_digests_for_every_township_with_villagers(weather_console: Console,
                                                               qweather: FakeQWeather) -> None:
    from bot.models import AuditEvent

    console = weather_console
    await villager("+8613800000001", "关防乡", "柑橘", topics=pack_set(["技术", "天气"]))
    await villager("+8613800000003", "上津镇", "玉米", topics=pack_set(["天气"]))
    await villager("+8613800000005", "夹河镇", "玉米", topics=pack_set(["技术"]))  # no 天气: no digest there
    await console.login("officer")
    refused = await console.post_form("/admin/weather/digests", {"time": "25:00"})
    assert refused.status == 303 and "err=" in refused.headers["Location"]
    done = await console.post_form("/admin/weather/digests", {"time": "06:30"})
    assert done.status == 303 and "ok=" in done.headers["Location"]
    made = await Broadcast.filter(kind="weather").order_by("id")
    assert sorted(b.text for b in made) == ["{天气:上津镇}", "{天气:关防乡}"]
    assert all(b.state == "pending_approval" and b.schedule == {"daily": "06:30"} for b in made)
    assert {tuple(b.audience["townships"]) for b in made} == {("关防乡",), ("上津镇",)}
    assert all(b.audience["topics"] == ["天气"] for b in made)
    await console.post_form("/admin/weather/digests", {"time": "07:00"})  # again: nothing new
    assert await Broadcast.filter(kind="weather").count() == 2
    audit = await AuditEvent.filter(action__contains="/admin/weather/digests").order_by("id")
    assert len(audit) == 3 and "daily weather digests at 06:30" in audit[1].detail
    # each firing fills in its township's forecast, frozen on the run
    await warnings.poll(console.app)
    guanfang = next(b for b in made if b.text == "{天气:关防乡}")
    guanfang.state = "scheduled"
    await guanfang.save(update_fields=["state"])
    run = await broadcasts.fire(guanfang.id, datetime.now(UTC), _cfg(console))
    assert run is not None and run.text is not None and run.text.startswith("关防乡今天多云3～9℃，明天小雨")


def _cfg(console: Console) -> Config:
    from bot.keys import CONFIG

    return console.app[CONFIG]
