"""Failed sign-ins hold back the next ones: an address that fails too often is locked out, a
name that fails too often from one address is delayed there, longer with each failure (issue
19: nobody can lock an operator out everywhere by guessing at their name)."""

from datetime import UTC, datetime, timedelta

import pytest
from payments_platform.operators import ConsoleSettings
from payments_platform.sign_in_limits import (
    FailureCount,
    after_address_failure,
    after_name_failure,
    name_delay,
)

SETTINGS = ConsoleSettings(
    max_failures=3, delay_seconds=30, max_failures_per_address=5, lockout_minutes=10
)
NOW = datetime(2026, 12, 8, 12, 0, tzinfo=UTC)


def _failures(times: int, *, every: float = 0.0) -> tuple[FailureCount, datetime]:
    """A name's count after ``times`` failures from one address, ``every`` seconds apart."""
    now, count = NOW, after_name_failure(None, NOW, SETTINGS)
    for _ in range(times - 1):
        now += timedelta(seconds=every)
        count = after_name_failure(count, now, SETTINGS)
    return count, now


def _until(count: FailureCount) -> datetime:
    assert count.locked_until is not None, count
    return count.locked_until


@pytest.mark.parametrize(
    ("failures", "delay_seconds"),
    [(1, None), (2, None), (3, 30), (4, 60), (5, 120), (6, 240), (7, 480), (8, 600), (50, 600)],
)
def test_a_names_delay_starts_at_the_limit_and_doubles_up_to_the_lockout_period(
    failures: int, delay_seconds: int | None
) -> None:
    """Issue 19, lock-outs: the delay grows, and is capped."""
    expected = None if delay_seconds is None else timedelta(seconds=delay_seconds)

    assert name_delay(failures, SETTINGS) == expected


def test_a_huge_count_is_still_capped() -> None:
    assert name_delay(10**9, SETTINGS) == timedelta(minutes=10)


def test_a_guesser_coming_back_as_each_delay_ends_keeps_it_growing() -> None:
    """Issue 19, lock-outs: the count outlives the lockout period while the guessing goes on."""
    count, now = _failures(3)
    waits = []
    for _ in range(6):
        waits.append((_until(count) - now).total_seconds())
        now = _until(count)
        count = after_name_failure(count, now, SETTINGS)

    assert waits == [30, 60, 120, 240, 480, 600]
    assert count.failures == 9


def test_a_names_failures_are_forgotten_once_the_lockout_period_passed_after_the_last_delay() -> (
    None
):
    count, _ = _failures(8)  # delayed by the longest delay, ten minutes

    still_kept = after_name_failure(count, _until(count) + timedelta(minutes=9), SETTINGS)
    forgotten = after_name_failure(count, _until(count) + timedelta(minutes=10), SETTINGS)

    assert still_kept.failures == 9
    assert (forgotten.failures, forgotten.locked_until) == (1, None)


def test_failures_below_the_limit_are_forgotten_after_the_lockout_period() -> None:
    count, _ = _failures(2, every=60)

    later = after_name_failure(count, NOW + timedelta(minutes=10), SETTINGS)

    assert (later.failures, later.locked_until) == (1, None)


def test_an_address_is_locked_out_at_its_limit_for_the_lockout_period_then_counts_anew() -> None:
    count: FailureCount | None = None
    for _ in range(4):
        count = after_address_failure(count, NOW, SETTINGS)
        assert not count.is_locked(NOW)

    locked = after_address_failure(count, NOW, SETTINGS)

    assert locked.locked_until == NOW + timedelta(minutes=10)
    assert locked.is_locked(NOW + timedelta(minutes=9))
    assert not locked.is_locked(NOW + timedelta(minutes=10))
    after = after_address_failure(locked, NOW + timedelta(minutes=10), SETTINGS)
    assert (after.failures, after.locked_until) == (1, None)
