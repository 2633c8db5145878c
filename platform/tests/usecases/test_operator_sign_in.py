"""Signing operators in: sessions every process shares and bound to their operator's
credentials, failed sign-ins held back per address and per name from an address, each guard on
its own."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import timedelta

import msgspec
import pytest
import sqlalchemy as sa
from core_fixtures import RuntimeFactory, WallClock
from payments_platform.operators import ConsoleSettings, OperatorAccounts, hash_password
from payments_platform.runtime import Runtime
from payments_platform.schema import operator_sessions
from payments_platform.store import audit
from payments_platform.store.audit import ActionFilter
from payments_platform.store.operator_sessions import OperatorSession
from payments_platform.usecases.operator_sign_in import (
    SignInLocked,
    SignInRefused,
    session_of,
    sign_in,
    sign_out,
)

PASSWORD = "alices long password"
ACCOUNTS = OperatorAccounts.of(
    {"alice": hash_password(PASSWORD, n=2**10), "bob": hash_password(PASSWORD, n=2**10)}
)
POLICY = ConsoleSettings(
    max_failures=3,
    delay_seconds=30,
    max_failures_per_address=5,
    lockout_minutes=10,
    session_minutes=60,
    idle_minutes=15,
)


@pytest.fixture
async def runtime(scripted_runtime: RuntimeFactory) -> AsyncIterator[Runtime]:
    async with scripted_runtime({}) as opened:
        yield opened


async def _sign_in(
    runtime: Runtime,
    name: str,
    password: str,
    address: str = "10.0.0.1",
    *,
    policy: ConsoleSettings = POLICY,
) -> str:
    signed_in = await sign_in(
        runtime.deps, ACCOUNTS, policy, name=name, password=password, address=address
    )
    return signed_in.token


async def _fail(runtime: Runtime, name: str, address: str = "10.0.0.1", times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(SignInRefused):
            await _sign_in(runtime, name, "wrong guess", address)


async def _session(
    runtime: Runtime, token: str | None, accounts: OperatorAccounts = ACCOUNTS
) -> OperatorSession | None:
    return await session_of(runtime.deps, accounts, POLICY, token)


async def test_the_right_password_opens_a_session_found_by_its_token(runtime: Runtime) -> None:
    token = await _sign_in(runtime, "alice", PASSWORD)

    session = await _session(runtime, token)

    assert session is not None
    assert session.operator == "alice"
    assert len(session.csrf_token) >= 40
    assert session.token_sha256 != token  # only a digest of the token is stored
    assert await _session(runtime, token + "x") is None
    assert await _session(runtime, None) is None


async def test_a_wrong_password_or_an_unknown_name_is_refused_alike(runtime: Runtime) -> None:
    await _fail(runtime, "alice")
    await _fail(runtime, "nobody")


async def test_a_name_is_delayed_from_the_address_its_failures_came_from_right_password_or_not(
    runtime: Runtime,
) -> None:
    """Issue 19, lock-outs: the failures are counted per name and address together."""
    await _fail(runtime, "alice", times=3)

    with pytest.raises(SignInLocked) as locked:
        await _sign_in(runtime, "alice", PASSWORD)
    assert not locked.value.whole_address
    assert await _sign_in(runtime, "bob", PASSWORD)  # another name from the same address
    assert await _sign_in(runtime, "alice", PASSWORD, address="10.0.0.2")


async def _guess(
    runtime: Runtime,
    wall_clock: WallClock,
    address: str,
    *,
    policy: ConsoleSettings = POLICY,
) -> timedelta | None:
    """A wrong password for alice from ``address``; when it is refused unchecked, wait the
    delay out as a patient guesser would, and return it."""
    try:
        await _sign_in(runtime, "alice", "wrong guess", address, policy=policy)
    except SignInRefused:
        return None
    except SignInLocked as locked:
        wall_clock.advance(locked.wait.total_seconds())
        return locked.wait
    raise AssertionError("a wrong password opened a session")


async def test_an_attackers_failures_from_one_address_never_delay_the_operator_at_another(
    runtime: Runtime, wall_clock: WallClock
) -> None:
    """Issue 19, lock-outs: guessing at a name from address A, however long, never holds its
    operator back at address B (before, three failures locked the name everywhere)."""
    await _fail(runtime, "alice", address="192.0.2.66", times=3)  # the limit, from A
    assert await _sign_in(runtime, "alice", PASSWORD, address="10.0.0.2")

    delays = []
    for _ in range(20):
        delays.append(await _guess(runtime, wall_clock, "192.0.2.66"))
        assert await _sign_in(runtime, "alice", PASSWORD, address="10.0.0.2")
    assert any(delays)  # the attacker was held back all along


async def test_each_failure_past_the_limit_doubles_the_delay_up_to_the_lockout_period(
    runtime: Runtime, wall_clock: WallClock
) -> None:
    """Issue 19, lock-outs: a growing delay rather than a fixed lock-out."""
    policy = msgspec.structs.replace(POLICY, max_failures_per_address=1000)
    delays = []
    for _ in range(16):
        delay = await _guess(runtime, wall_clock, "192.0.2.66", policy=policy)
        if delay is not None:
            delays.append(delay.total_seconds())

    assert delays == [30, 60, 120, 240, 480, 600, 600]
    # Once the delay is over, the right password opens a session even from there.
    assert await _sign_in(runtime, "alice", PASSWORD, "192.0.2.66", policy=policy)


async def test_a_sign_in_refused_while_delayed_checks_no_password(
    runtime: Runtime, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Issue 19, lock-outs: while delayed, not even the right password is checked, so guessing
    on learns nothing."""
    await _fail(runtime, "alice", times=3)
    checked: list[str] = []
    verify = OperatorAccounts.verify

    def counted(accounts: OperatorAccounts, name: str, password: str) -> bool:
        checked.append(name)
        return verify(accounts, name, password)

    monkeypatch.setattr(OperatorAccounts, "verify", counted)

    with pytest.raises(SignInLocked) as locked:
        await _sign_in(runtime, "alice", PASSWORD)

    assert checked == []
    assert locked.value.wait == timedelta(seconds=30)


async def test_every_lock_out_is_logged_at_warning_level_with_the_address(
    runtime: Runtime, wall_clock: WallClock, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 19, lock-outs: the operator learns who is guessing, from where."""
    with caplog.at_level(logging.WARNING, logger="payments_platform.usecases.operator_sign_in"):
        await _fail(runtime, "alice", address="192.0.2.66", times=3)
        wall_clock.advance(30)
        await _fail(runtime, "alice", address="192.0.2.66")
        await _fail(runtime, "carol", address="192.0.2.66")

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3, warnings
    first, second, address = warnings
    assert "operator alice from address 192.0.2.66 delayed by 30 s" in first
    assert "operator alice from address 192.0.2.66 delayed by 60 s" in second
    assert address.startswith("console sign-ins from address 192.0.2.66 locked out until")


async def test_failures_older_than_the_lockout_period_no_longer_count(
    runtime: Runtime, wall_clock: WallClock
) -> None:
    await _fail(runtime, "alice", times=2)
    wall_clock.advance(10 * 60 + 1)
    await _fail(runtime, "alice", times=2)

    assert await _sign_in(runtime, "alice", PASSWORD)


async def test_signing_in_forgets_the_accounts_failures(runtime: Runtime) -> None:
    await _fail(runtime, "alice", times=2)
    await _sign_in(runtime, "alice", PASSWORD)
    await _fail(runtime, "alice", times=2)

    assert await _sign_in(runtime, "alice", PASSWORD)


async def test_an_address_is_locked_after_its_failures_whatever_the_names(
    runtime: Runtime,
) -> None:
    for name in ("carol", "dave", "erin", "frank", "grace"):
        await _fail(runtime, name, address="192.0.2.7")

    with pytest.raises(SignInLocked):
        await _sign_in(runtime, "alice", PASSWORD, address="192.0.2.7")
    assert await _sign_in(runtime, "alice", PASSWORD, address="192.0.2.8")


async def test_a_session_ends_when_left_idle(runtime: Runtime, wall_clock: WallClock) -> None:
    token = await _sign_in(runtime, "alice", PASSWORD)
    wall_clock.advance(14 * 60)
    assert await _session(runtime, token) is not None  # and now used again
    wall_clock.advance(14 * 60)
    assert await _session(runtime, token) is not None
    wall_clock.advance(15 * 60 + 1)

    assert await _session(runtime, token) is None


async def test_a_session_ends_after_its_lifetime_however_busy(
    runtime: Runtime, wall_clock: WallClock
) -> None:
    token = await _sign_in(runtime, "alice", PASSWORD)
    for _ in range(5):
        wall_clock.advance(10 * 60)
        assert await _session(runtime, token) is not None
    wall_clock.advance(10 * 60)  # an hour after signing in

    assert await _session(runtime, token) is None


async def test_signing_out_ends_the_session(runtime: Runtime) -> None:
    token = await _sign_in(runtime, "alice", PASSWORD)
    other = await _sign_in(runtime, "alice", PASSWORD)

    await sign_out(runtime.deps, token, address="10.0.0.1")

    assert await _session(runtime, token) is None
    assert await _session(runtime, other) is not None


async def test_signing_in_and_out_are_in_the_operators_audit_failures_are_not(
    runtime: Runtime,
) -> None:
    await _fail(runtime, "alice", address="10.0.0.9")
    token = await _sign_in(runtime, "alice", PASSWORD, address="10.0.0.1")
    await sign_out(runtime.deps, token, address="10.0.0.2")
    await sign_out(runtime.deps, token, address="10.0.0.2")  # ended already: nothing to record

    found = await runtime.database.read(
        lambda conn: audit.operator_actions(conn, ActionFilter(), below=None, limit=10)
    )

    assert [
        (event.payment_id, event.detail, event.reason) for event in reversed(found.actions)
    ] == [
        (
            None,
            {"operator": "alice", "action": "sign_in", "address": "10.0.0.1"},
            "alice signed in to the console from 10.0.0.1",
        ),
        (
            None,
            {"operator": "alice", "action": "sign_out", "address": "10.0.0.2"},
            "alice signed out of the console from 10.0.0.2",
        ),
    ]


async def test_a_session_ends_when_its_operator_is_removed_from_the_config(
    runtime: Runtime,
) -> None:
    """Issue 19, removed operators: a session is valid only while its operator exists."""
    token = await _sign_in(runtime, "alice", PASSWORD)
    without_alice = OperatorAccounts.of({"bob": ACCOUNTS.hashes["bob"].text()})

    assert await _session(runtime, token, without_alice) is None
    # Ended, not just refused: putting the operator back does not bring the session back.
    assert await _session(runtime, token) is None


async def test_a_session_ends_when_its_operators_password_changes(runtime: Runtime) -> None:
    """Issue 19, changed passwords: a session is valid only with the password hash it was
    opened with."""
    token = await _sign_in(runtime, "alice", PASSWORD)
    bobs = await _sign_in(runtime, "bob", PASSWORD)
    new_password = OperatorAccounts.of(
        {"alice": hash_password(PASSWORD, n=2**10), "bob": ACCOUNTS.hashes["bob"].text()}
    )

    assert await _session(runtime, token, new_password) is None
    assert await _session(runtime, token) is None
    assert await _session(runtime, bobs, new_password) is not None


async def test_a_session_outlives_a_restart_with_the_same_operators(runtime: Runtime) -> None:
    """Issue 19, removed operators: what ties a session to its credentials depends on the
    configured hash alone, not on anything a process makes up when it starts."""
    token = await _sign_in(runtime, "alice", PASSWORD)
    restarted = OperatorAccounts.of({name: h.text() for name, h in ACCOUNTS.hashes.items()})

    assert await _session(runtime, token, restarted) is not None


async def test_the_sessions_table_holds_neither_the_token_nor_the_password_hash(
    runtime: Runtime,
) -> None:
    """Issue 19, changed passwords: the session keeps a keyed digest of the hash, never the
    hash itself."""
    token = await _sign_in(runtime, "alice", PASSWORD)

    rows = await runtime.database.read(
        lambda conn: [dict(row._mapping) for row in conn.execute(sa.select(operator_sessions))]
    )

    [row] = rows
    stored = " ".join(str(value) for value in row.values())
    configured = ACCOUNTS.hashes["alice"]
    assert token not in stored
    assert configured.text() not in stored
    assert configured.text().rsplit("$", 1)[1] not in stored  # nor the derived key alone
