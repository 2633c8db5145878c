"""The circuit breaker as a pure state machine, driven by an injected clock."""

import pytest
from payments_platform.breaker import BreakerPolicy, BreakerState, CircuitBreaker, SlidingWindow


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


POLICY = BreakerPolicy(
    failure_rate_threshold=0.5,
    minimum_calls=4,
    window_seconds=10,
    window_buckets=10,
    open_seconds=30,
    half_open_calls=2,
)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def breaker(clock: FakeClock) -> CircuitBreaker:
    return CircuitBreaker(POLICY, clock)


def test_stays_closed_below_minimum_calls_even_if_all_fail(breaker: CircuitBreaker) -> None:
    for _ in range(POLICY.minimum_calls - 1):
        assert breaker.try_acquire()
        breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_opens_when_failure_rate_reaches_threshold_after_minimum_calls(
    breaker: CircuitBreaker,
) -> None:
    breaker.record_success()
    breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()  # 2 of 4 failed: 50%
    assert breaker.state is BreakerState.OPEN
    assert not breaker.try_acquire()


def test_declines_do_not_count_as_failures(breaker: CircuitBreaker) -> None:
    # A decline is recorded as a success: the vendor answered definitively.
    for _ in range(10):
        breaker.record_success()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_open_becomes_half_open_after_cool_down(breaker: CircuitBreaker, clock: FakeClock) -> None:
    for _ in range(4):
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += POLICY.open_seconds - 0.001
    assert breaker.state is BreakerState.OPEN
    clock.now += 0.001
    assert breaker.state is BreakerState.HALF_OPEN


def test_half_open_lets_a_fixed_number_of_trials_through(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    for _ in range(4):
        breaker.record_failure()
    clock.now += POLICY.open_seconds
    assert breaker.try_acquire()
    assert breaker.try_acquire()
    assert not breaker.try_acquire()


def test_half_open_closes_when_every_trial_succeeds(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    for _ in range(4):
        breaker.record_failure()
    clock.now += POLICY.open_seconds
    for _ in range(POLICY.half_open_calls):
        assert breaker.try_acquire()
        breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.snapshot().calls == 0


def test_half_open_reopens_on_a_failed_trial(breaker: CircuitBreaker, clock: FakeClock) -> None:
    for _ in range(4):
        breaker.record_failure()
    clock.now += POLICY.open_seconds
    assert breaker.try_acquire()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += POLICY.open_seconds - 1
    assert breaker.state is BreakerState.OPEN


def test_each_state_is_dated_from_when_the_breaker_entered_it(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    made = clock.now
    clock.now += 5
    breaker.record_failure()
    assert (breaker.state, breaker.state_since) == (BreakerState.CLOSED, made)
    for _ in range(3):
        breaker.record_failure()
    opened = clock.now
    assert (breaker.state, breaker.state_since) == (BreakerState.OPEN, opened)
    # Read long after its cool-down ended: half-open since the end of the cool-down.
    clock.now += POLICY.open_seconds + 100
    assert breaker.state_since == opened + POLICY.open_seconds
    assert breaker.state is BreakerState.HALF_OPEN
    for _ in range(POLICY.half_open_calls):
        assert breaker.try_acquire()
        breaker.record_success()
    assert (breaker.state, breaker.state_since) == (BreakerState.CLOSED, clock.now)


def test_failures_in_a_row_are_counted_until_a_call_is_answered(
    breaker: CircuitBreaker, clock: FakeClock
) -> None:
    breaker.record_failure()
    breaker.record_success()
    assert breaker.consecutive_failures == 0
    for _ in range(4):
        breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += POLICY.open_seconds
    assert breaker.try_acquire()
    breaker.record_failure()  # a failed trial: open again, and one more in a row
    assert breaker.consecutive_failures == 5
    clock.now += POLICY.open_seconds
    assert breaker.try_acquire()
    breaker.record_success()
    assert breaker.consecutive_failures == 0


def test_old_outcomes_slide_out_of_the_window(breaker: CircuitBreaker, clock: FakeClock) -> None:
    for _ in range(3):
        breaker.record_failure()
    clock.now += POLICY.window_seconds
    assert breaker.snapshot().calls == 0
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED


def test_window_counts_only_buckets_inside_it() -> None:
    window = SlidingWindow(seconds=10, buckets=10)
    window.record(100.0, failed=True)
    window.record(105.5, failed=False)
    assert window.snapshot(105.9).calls == 2
    assert window.snapshot(109.99).calls == 2
    snapshot = window.snapshot(110.0)  # the bucket of t=100 has left the window
    assert (snapshot.calls, snapshot.failures) == (1, 0)


@pytest.mark.parametrize(
    ("successes", "failures", "expected"),
    [(0, 0, 1.0), (1, 0, 1.0), (0, 1, 0.5), (9, 1, 10 / 11), (5, 5, 6 / 11)],
)
def test_health_is_a_smoothed_success_rate(successes: int, failures: int, expected: float) -> None:
    window = SlidingWindow(seconds=60, buckets=6)
    for _ in range(successes):
        window.record(0.0, failed=False)
    for _ in range(failures):
        window.record(0.0, failed=True)
    assert window.snapshot(0.0).health == pytest.approx(expected)
