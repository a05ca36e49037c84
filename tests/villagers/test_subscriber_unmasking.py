"""Issue 15 item 3: a masked phone (+86137****5678) cannot be unmasked through the subscriber
search, and searching is rate-limited per account."""

from __future__ import annotations

from urllib.parse import quote

import pytest

from bot.models import Subscriber
from bot.web import limits
from tests.helpers import Console

pytestmark = pytest.mark.db
PHONE = "+8613712345678"
MASKED = "+86137****5678"
MIDDLE = "1234"  # the hidden digits


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def villagers(console: Console) -> Subscriber:
    await Subscriber.bulk_create([Subscriber(phone=f"+86137{i:04d}{9000 + i}", name=f"农户{i}", consent_source="demo")
                                  for i in range(20)])
    return await Subscriber.create(phone=PHONE, name="王大山", township="关防乡", consent_source="demo")


def _queries() -> list[str]:
    """What someone who sees +86137****5678 would try to learn the four hidden digits: the middle
    digits alone or next to the digits shown, in every way a number can be written, and wildcards."""
    m = MIDDLE
    forms = [m, m[1:], m[:3], m[2:] + "5", "3" + m[:3], f"{m}5678", f"137{m}", f"137{m}5", f"7{m}56",
             f"86137{m}", f"+86137{m}", f"0086137{m}", f"137 {m}", f"137-{m}", f"(137) {m}", f"137 {m} 567",
             f"{m} 5678", f"+86 137 {m}", "\uff11\uff12\uff13\uff14", f"%{m}%", f"{m}%", f"_{m}",
             f"137{m}567", f"86137{m}567", "3712345678", "712345678", f"1{m}5678"]
    return forms


async def _api_found(console: Console, headers: dict[str, str], q: str) -> bool:
    response = await console.client.get(f"/api/v1/subscribers?q={quote(q)}", headers=headers)
    assert response.status in (200, 400), (q, response.status, await response.text())
    if response.status == 400:
        return False
    return any(s["name"] == "王大山" for s in (await response.json())["subscribers"])


async def _page_found(console: Console, q: str) -> bool:
    response = await console.client.get(f"/admin/subscribers?q={quote(q)}")
    assert response.status in (200, 400), (q, response.status)
    return "王大山" in await response.text()


@pytest.mark.parametrize("role", ["officer", "supervisor"])
async def test_masked_phones_can_be_unmasked_enumerating_middle_digits_finds_nothing(
        console: Console, villagers: Subscriber, role: str) -> None:
    console.app[limits.LIMITS].searches.limit = 10_000  # this test is about what matches, not how often
    headers = await console.token(role)
    await console.login(role)
    for q in _queries():
        assert not await _api_found(console, headers, q), q
        assert not await _page_found(console, q), q
    # Every middle-digit guess next to the digits shown: none finds anybody, only the full number.
    for guess in ("0000", "1233", MIDDLE, "1235", "9999"):
        for q in (f"37{guess}5678", f"137{guess}567", f"86137{guess}567", f"7{guess}5678"):
            assert not await _api_found(console, headers, q), q
    # What the mask shows may be searched: the last 4 digits, and the whole number.
    for q in ("5678", PHONE, "137 1234 5678", "+86-137-1234-5678"):
        assert await _api_found(console, headers, q), q
        assert await _page_found(console, q), q
    data = await (await console.client.get("/api/v1/subscribers?q=5678", headers=headers)).json()
    assert [s["phone"] for s in data["subscribers"]] == [MASKED]


async def test_admins_still_search_any_digits(console: Console, villagers: Subscriber) -> None:
    headers = await console.token("admin")
    assert await _api_found(console, headers, f"137{MIDDLE}")
    assert await _api_found(console, headers, MIDDLE + "56")


async def test_masked_phones_can_be_unmasked_the_61st_search_in_a_minute_gets_429(
        console: Console, villagers: Subscriber) -> None:
    clock = FakeClock()
    console.app[limits.LIMITS].searches.clock = clock
    headers = await console.token("officer")
    for i in range(60):
        response = await console.client.get(f"/api/v1/subscribers?q=农户{i}", headers=headers)
        assert response.status == 200, i
        clock.now += 0.5
    refused = await console.client.get("/api/v1/subscribers?q=王大山", headers=headers)
    assert refused.status == 429 and refused.content_type == "application/json"
    body = await refused.json()
    assert "太频繁" in body["error"] and "60" in body["error"]
    assert int(refused.headers["Retry-After"]) == 30  # when the first of the 60 leaves the minute
    # The same account in the console (its session, another token) shares the count.
    await console.login("officer")
    page = await console.client.get("/admin/subscribers")
    assert page.status == 429 and "太频繁" in await page.text() and "Retry-After" in page.headers
    other_token = await console.token("officer")
    assert (await console.client.get("/api/v1/subscribers", headers=other_token)).status == 429
    assert (await console.client.get("/admin/subscribers/export.csv")).status == 429
    # Other accounts are not affected.
    assert (await console.client.get("/api/v1/subscribers", headers=await console.token("supervisor"))).status == 200
    clock.now += 30
    assert (await console.client.get("/api/v1/subscribers?q=王大山", headers=headers)).status == 200


async def test_full_number_lookups_that_find_nobody_are_limited_per_hour(
        console: Console, villagers: Subscriber) -> None:
    clock = FakeClock()
    console.app[limits.LIMITS].phone_misses.clock = clock
    headers = await console.token("officer")
    for i in range(limits.PHONE_MISSES_PER_HOUR):
        assert await _api_found(console, headers, PHONE)  # lookups that find the person do not count
        assert not await _api_found(console, headers, f"137{i:04d}5678")
    refused = await console.client.get(f"/api/v1/subscribers?q={quote(PHONE)}", headers=headers)
    assert refused.status == 429 and "完整号码" in (await refused.json())["error"]  # found or not
    assert 0 < int(refused.headers["Retry-After"]) <= 3600
    # Names, villages and the last 4 digits go on; so do admins.
    assert await _api_found(console, headers, "5678") and await _api_found(console, headers, "王大山")
    assert await _api_found(console, await console.token("admin"), PHONE)
    clock.now += 3600
    assert await _api_found(console, headers, PHONE)
