"""Signing operators in: sessions every process shares, lock-outs per account and per address,
each guard on its own."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from payments_platform.operators import ConsoleSettings, OperatorAccounts, hash_password
from payments_platform.runtime import Runtime
from payments_platform.usecases.operator_sign_in import (
    SignInLocked,
    SignInRefused,
    session_of,
    sign_in,
    sign_out,
)

from .conftest import RuntimeFactory, WallClock

PASSWORD = "alices long password"
ACCOUNTS = OperatorAccounts.of(
    {"alice": hash_password(PASSWORD, n=2**10), "bob": hash_password(PASSWORD, n=2**10)}
)
POLICY = ConsoleSettings(
    max_failures=3,
    max_failures_per_address=5,
    lockout_minutes=10,
    session_minutes=60,
    idle_minutes=15,
)


@pytest.fixture
async def runtime(scripted_runtime: RuntimeFactory) -> AsyncIterator[Runtime]:
    async with scripted_runtime({}) as opened:
        yield opened


async def _sign_in(runtime: Runtime, name: str, password: str, address: str = "10.0.0.1") -> str:
    signed_in = await sign_in(
        runtime.platform, ACCOUNTS, POLICY, name=name, password=password, address=address
    )
    return signed_in.token


async def _fail(runtime: Runtime, name: str, address: str = "10.0.0.1", times: int = 1) -> None:
    for _ in range(times):
        with pytest.raises(SignInRefused):
            await _sign_in(runtime, name, "wrong guess", address)


async def test_the_right_password_opens_a_session_found_by_its_token(runtime: Runtime) -> None:
    token = await _sign_in(runtime, "alice", PASSWORD)

    session = await session_of(runtime.platform, POLICY, token)

    assert session is not None
    assert session.operator == "alice"
    assert len(session.csrf_token) >= 40
    assert session.token_sha256 != token  # only a digest of the token is stored
    assert await session_of(runtime.platform, POLICY, token + "x") is None
    assert await session_of(runtime.platform, POLICY, None) is None


async def test_a_wrong_password_or_an_unknown_name_is_refused_alike(runtime: Runtime) -> None:
    await _fail(runtime, "alice")
    await _fail(runtime, "nobody")


async def test_an_account_is_locked_after_its_failures_even_for_the_right_password(
    runtime: Runtime, wall_clock: WallClock
) -> None:
    await _fail(runtime, "alice", times=2)
    await _sign_in(runtime, "bob", PASSWORD)  # another account is not affected
    await _fail(runtime, "alice", address="10.0.0.2")  # the third, from elsewhere

    with pytest.raises(SignInLocked):
        await _sign_in(runtime, "alice", PASSWORD, address="10.0.0.3")
    wall_clock.advance(10 * 60 + 1)
    assert await _sign_in(runtime, "alice", PASSWORD)


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
    assert await session_of(runtime.platform, POLICY, token) is not None  # and now used again
    wall_clock.advance(14 * 60)
    assert await session_of(runtime.platform, POLICY, token) is not None
    wall_clock.advance(15 * 60 + 1)

    assert await session_of(runtime.platform, POLICY, token) is None


async def test_a_session_ends_after_its_lifetime_however_busy(
    runtime: Runtime, wall_clock: WallClock
) -> None:
    token = await _sign_in(runtime, "alice", PASSWORD)
    for _ in range(5):
        wall_clock.advance(10 * 60)
        assert await session_of(runtime.platform, POLICY, token) is not None
    wall_clock.advance(10 * 60)  # an hour after signing in

    assert await session_of(runtime.platform, POLICY, token) is None


async def test_signing_out_ends_the_session(runtime: Runtime) -> None:
    token = await _sign_in(runtime, "alice", PASSWORD)
    other = await _sign_in(runtime, "alice", PASSWORD)

    await sign_out(runtime.platform, token)

    assert await session_of(runtime.platform, POLICY, token) is None
    assert await session_of(runtime.platform, POLICY, other) is not None
