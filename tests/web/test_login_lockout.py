"""Issue 15 item 1: the login lockout holds against parallel attempts, and repeated failures are
slowed per account name and per client address."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp
import pytest
from argon2 import PasswordHasher

from bot.keys import CONFIG
from bot.models import AuditEvent, ConsoleSession, Officer
from bot.web import auth, limits
from bot.web.console import LOGIN_CSRF_COOKIE
from tests.helpers import OFFICER_NAMES, OFFICER_PASSWORD, Console

pytestmark = pytest.mark.db
CSRF = "burst-csrf-token"


@pytest.fixture(autouse=True)
async def cheap_hashes(console: Console, monkeypatch: pytest.MonkeyPatch) -> None:
    """argon2 at its real cost takes 0.35 s a check here: these tests check hundreds of passwords.
    What is counted and when does not depend on the cost."""
    cheap = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1)
    dummy = cheap.hash("not-anybody's-password")
    monkeypatch.setattr(auth, "_dummy_hash", lambda: dummy)
    await Officer.all().update(password_hash=cheap.hash(OFFICER_PASSWORD))
    monkeypatch.setattr(auth, "needs_rehash", lambda officer: False)


@pytest.fixture
async def burst(console: Console) -> AsyncIterator[Callable[..., Awaitable[list[int]]]]:
    """Send login attempts all at once, as a script would: its own connections, no cookie jar
    (the login form's CSRF pair is the script's own choice of value)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        url = console.client.make_url("/admin/login")

        async def one(password: str, name: str) -> int:
            async with session.post(url, allow_redirects=False, headers={"Cookie": f"{LOGIN_CSRF_COOKIE}={CSRF}"},
                                    data={"_csrf": CSRF, "name": name, "password": password}) as response:
                await response.read()
                return response.status

        async def send(passwords: list[str], name: str = OFFICER_NAMES["officer"]) -> list[int]:
            return list(await asyncio.gather(*(one(p, name) for p in passwords)))

        yield send


def _lift_throttle(console: Console) -> None:
    """Only the database lockout left: what several web processes see, each with its own limits."""
    limits_ = console.app[limits.LIMITS]
    for limit in (limits_.login_name, limits_.login_address):
        limit.limit = 10_000


async def _officer() -> Officer:
    return await Officer.get(name=OFFICER_NAMES["officer"])


@pytest.mark.parametrize("throttle", ["in-process throttle", "database lockout alone"])
async def test_login_lockout_beaten_by_concurrency_40_wrong_passwords_at_once_lock_the_account(
        console: Console, burst: Any, throttle: str) -> None:
    if throttle == "database lockout alone":
        _lift_throttle(console)
    threshold = console.app[CONFIG].console.max_failed_logins
    statuses = await burst([f"wrong-password-{i}" for i in range(40)])
    assert 303 not in statuses and set(statuses) <= {401, 403, 429}
    # Before the fix every answer was 401 and the counter ended at 2: parallel attempts overwrote it.
    assert statuses.count(401) <= threshold - 1
    officer = await _officer()
    assert officer.failed_logins >= threshold
    assert officer.locked_until is not None and officer.locked_until > datetime.now(UTC)
    assert await AuditEvent.filter(action="login_locked").count() == 1
    assert not await ConsoleSession.exists()
    # And the right password now waits like any other.
    right = await burst([OFFICER_PASSWORD])
    assert right == [403] or (throttle == "in-process throttle" and right == [429])
    assert not await ConsoleSession.exists()


async def test_login_lockout_beaten_by_concurrency_29_wrong_and_the_right_one_in_one_burst(
        console: Console, burst: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    """The right password read the account before the lock and is checked after it: refused."""
    _lift_throttle(console)
    threshold = console.app[CONFIG].console.max_failed_logins
    real_check = auth.check_password

    async def right_one_arrives_late(officer: Officer | None, password: str) -> bool:
        if password == OFFICER_PASSWORD:
            for _ in range(500):
                if (await _officer()).failed_logins >= threshold:
                    break
                await asyncio.sleep(0.01)
        return await real_check(officer, password)

    monkeypatch.setattr(auth, "check_password", right_one_arrives_late)
    passwords = [f"wrong-password-{i}" for i in range(29)]
    passwords.insert(10, OFFICER_PASSWORD)
    statuses = await burst(passwords)
    # Before the fix the right one logged in (and wiped the lock) whatever came before it.
    assert statuses[10] == 403 and 303 not in statuses
    assert not await ConsoleSession.exists()
    officer = await _officer()
    assert officer.failed_logins >= threshold and officer.locked_until is not None
    assert await AuditEvent.filter(action="login_refused_locked").exists()
    assert not await AuditEvent.filter(action="login").exists()


async def test_a_burst_with_the_right_password_never_logs_in_once_the_threshold_is_reached(
        console: Console, burst: Any) -> None:
    """No hook this time: wherever the right one falls in the burst, it is either accepted before
    the threshold (and starts the count again) or refused; the account ends locked."""
    _lift_throttle(console)
    threshold = console.app[CONFIG].console.max_failed_logins
    for position in (0, 15, 29):
        await Officer.filter(name=OFFICER_NAMES["officer"]).update(failed_logins=0, locked_until=None)
        await ConsoleSession.all().delete()
        passwords = [f"wrong-password-{i}" for i in range(29)]
        passwords.insert(position, OFFICER_PASSWORD)
        statuses = await burst(passwords)
        wrong = statuses[:position] + statuses[position + 1:]
        if statuses[position] == 303:  # then it came first: at most threshold − 1 wrong before it
            assert wrong.count(401) <= 2 * (threshold - 1)
        else:
            assert statuses[position] == 403 and not await ConsoleSession.exists()
            assert wrong.count(401) <= threshold - 1
        officer = await _officer()
        assert officer.failed_logins >= threshold and officer.locked_until is not None


async def test_repeated_failures_are_slowed_per_account_name(console: Console, burst: Any) -> None:
    threshold = console.app[CONFIG].console.max_failed_logins
    limit = console.app[limits.LIMITS].login_name.limit
    assert limit == 2 * threshold
    statuses = await burst([f"wrong-{i}" for i in range(limit + 5)], name="nobody-by-this-name")
    assert statuses.count(401) == limit and statuses.count(429) == 5
    response = await console.client.post("/admin/login", allow_redirects=False, headers={
        "Cookie": f"{LOGIN_CSRF_COOKIE}={CSRF}"}, data={"_csrf": CSRF, "name": "nobody-by-this-name",
                                                         "password": "x"})
    assert response.status == 429 and "太频繁" in await response.text()
    assert 0 < int(response.headers["Retry-After"]) <= console.app[CONFIG].console.lockout_minutes * 60
    # Another name from the same address still gets its turn.
    assert await burst(["wrong"], name="somebody-else") == [401]


async def test_repeated_failures_are_slowed_per_client_address(console: Console, burst: Any) -> None:
    limit = console.app[limits.LIMITS].login_address.limit
    names = [f"guess-{i}" for i in range(limit)]  # one try per name: only the address limit applies
    statuses = [s for name in names for s in await burst(["wrong-password"], name=name)]
    assert statuses == [401] * limit
    assert await burst(["wrong-password"], name="one-more-name") == [429]
    assert await burst([OFFICER_PASSWORD]) == [429]  # from this address, even a real account waits


async def test_successful_logins_do_not_use_up_the_limits(console: Console) -> None:
    for _ in range(console.app[limits.LIMITS].login_address.limit + 1):
        await console.login("officer")


async def test_an_admin_unlock_also_lifts_the_name_limit(console: Console, burst: Any) -> None:
    limit = console.app[limits.LIMITS].login_name.limit
    statuses = await burst([f"wrong-{i}" for i in range(limit + 1)])
    assert statuses.count(429) == 1
    await console.login("admin")
    officer = await _officer()
    assert (await console.post_form(f"/admin/officers/{officer.id}/unlock")).status == 303
    assert await burst([OFFICER_PASSWORD]) == [303]


async def test_an_expired_lock_starts_the_count_again(console: Console, burst: Any) -> None:
    threshold = console.app[CONFIG].console.max_failed_logins
    await Officer.filter(name=OFFICER_NAMES["officer"]).update(
        failed_logins=threshold + 3, locked_until=datetime.now(UTC) - timedelta(seconds=1))
    assert await burst(["wrong-password"]) == [401]  # counted from zero, not locked again at once
    assert (await _officer()).failed_logins == 1
    assert await burst([OFFICER_PASSWORD]) == [303]
    officer = await _officer()
    assert officer.failed_logins == 0 and officer.locked_until is None


async def test_a_lock_from_before_the_fix_still_holds(console: Console, burst: Any) -> None:
    """Locks set by the old code reset the count to 0: the lock time alone must keep them."""
    await Officer.filter(name=OFFICER_NAMES["officer"]).update(
        failed_logins=0, locked_until=datetime.now(UTC) + timedelta(minutes=5))
    assert await burst([OFFICER_PASSWORD]) == [403]
