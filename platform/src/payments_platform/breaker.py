"""A circuit breaker over a sliding time window of call outcomes. Pure: the clock is injected.

closed -> open when, after at least ``minimum_calls`` in the window, the failure rate reaches the
threshold; open -> half-open once ``open_seconds`` have passed; half-open lets
``half_open_calls`` trial calls through: all succeed -> closed, any fails -> open again.
Declines are not failures: only "unavailable" and "outcome unknown" count against a gateway.

Besides its state, a breaker tells since when it has been in it and how many calls have failed
in a row, which is what the console shows of every process's breakers
(:mod:`payments_platform.process_breakers`).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from typing import Annotated

import msgspec

Clock = Callable[[], float]


class BreakerState(enum.StrEnum):
    """Whether a gateway's calls are let through."""

    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class BreakerPolicy(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """Thresholds of every gateway's circuit breaker."""

    failure_rate_threshold: Annotated[float, msgspec.Meta(gt=0, le=1)] = 0.5
    minimum_calls: Annotated[int, msgspec.Meta(ge=1, le=100_000)] = 10
    window_seconds: Annotated[float, msgspec.Meta(gt=0, le=86_400)] = 60.0
    window_buckets: Annotated[int, msgspec.Meta(ge=1, le=600)] = 12
    open_seconds: Annotated[float, msgspec.Meta(ge=0, le=86_400)] = 30.0
    half_open_calls: Annotated[int, msgspec.Meta(ge=1, le=1000)] = 3


class WindowSnapshot(msgspec.Struct, frozen=True):
    """Calls and failures recorded in the current window."""

    calls: int
    failures: int

    @property
    def failure_rate(self) -> float:
        """Failures over calls; 0 for an empty window."""
        return self.failures / self.calls if self.calls else 0.0

    @property
    def health(self) -> float:
        """Recent success rate, smoothed so that one early failure does not zero the share."""
        return (self.calls - self.failures + 1) / (self.calls + 1)


class SlidingWindow:
    """Outcome counts over the last ``seconds``, kept in ``buckets`` time buckets.

    Recording and reading touch a fixed number of buckets, however many calls were made.
    """

    def __init__(self, seconds: float, buckets: int) -> None:
        self._bucket_seconds = seconds / buckets
        self._epochs = [-1] * buckets
        self._calls = [0] * buckets
        self._failures = [0] * buckets

    def _slot(self, now: float) -> int:
        epoch = int(now // self._bucket_seconds)
        slot = epoch % len(self._epochs)
        if self._epochs[slot] != epoch:
            self._epochs[slot] = epoch
            self._calls[slot] = 0
            self._failures[slot] = 0
        return slot

    def record(self, now: float, *, failed: bool) -> None:
        """Count one call that ended at ``now``."""
        slot = self._slot(now)
        self._calls[slot] += 1
        self._failures[slot] += failed

    def snapshot(self, now: float) -> WindowSnapshot:
        """Totals over the buckets still inside the window at ``now``."""
        oldest = int(now // self._bucket_seconds) - len(self._epochs) + 1
        calls = failures = 0
        for slot, epoch in enumerate(self._epochs):
            if epoch >= oldest:
                calls += self._calls[slot]
                failures += self._failures[slot]
        return WindowSnapshot(calls, failures)

    def clear(self) -> None:
        """Forget every outcome."""
        self._epochs = [-1] * len(self._epochs)


class CircuitBreaker:
    """The breaker of one gateway."""

    def __init__(self, policy: BreakerPolicy, clock: Clock) -> None:
        self.policy = policy
        self._clock = clock
        self._window = SlidingWindow(policy.window_seconds, policy.window_buckets)
        self._state = BreakerState.CLOSED
        self._since = clock()
        self._opened_at = 0.0
        self._trials_started = 0
        self._trials_succeeded = 0
        self._failures_in_a_row = 0

    @property
    def state(self) -> BreakerState:
        """The state now; an open breaker whose cool-down has passed reads as half-open."""
        if (
            self._state is BreakerState.OPEN
            and self._clock() - self._opened_at >= self.policy.open_seconds
        ):
            self._state = BreakerState.HALF_OPEN
            self._since = self._opened_at + self.policy.open_seconds
            self._trials_started = self._trials_succeeded = 0
        return self._state

    @property
    def state_since(self) -> float:
        """When (on the breaker's clock) it entered its current state: when it was made, for
        one that has been closed since."""
        _ = self.state  # an open breaker whose cool-down has passed is half-open since then
        return self._since

    @property
    def consecutive_failures(self) -> int:
        """Calls that failed since the last one that was answered (or since it was made)."""
        return self._failures_in_a_row

    def snapshot(self) -> WindowSnapshot:
        """Outcomes in the current window."""
        return self._window.snapshot(self._clock())

    def allows_calls(self) -> bool:
        """Tell, without taking a permit, whether a call could be let through now."""
        state = self.state
        if state is BreakerState.HALF_OPEN:
            return self._trials_started < self.policy.half_open_calls
        return state is BreakerState.CLOSED

    def try_acquire(self) -> bool:
        """Take a permit for one call; False means the gateway must not be called."""
        if not self.allows_calls():
            return False
        if self._state is BreakerState.HALF_OPEN:
            self._trials_started += 1
        return True

    def record_success(self) -> None:
        """The call got a definitive answer (an acceptance or a decline)."""
        now = self._clock()
        self._failures_in_a_row = 0
        if self._state is BreakerState.HALF_OPEN:
            self._trials_succeeded += 1
            if self._trials_succeeded >= self.policy.half_open_calls:
                self._close(now)
            return
        self._window.record(now, failed=False)

    def record_failure(self) -> None:
        """The call found the vendor unavailable or got no usable answer."""
        now = self._clock()
        self._failures_in_a_row += 1
        if self._state is BreakerState.HALF_OPEN:
            self._open(now)
            return
        self._window.record(now, failed=True)
        if self._state is BreakerState.CLOSED:
            snapshot = self._window.snapshot(now)
            if (
                snapshot.calls >= self.policy.minimum_calls
                and snapshot.failure_rate >= self.policy.failure_rate_threshold
            ):
                self._open(now)

    def _open(self, now: float) -> None:
        self._state = BreakerState.OPEN
        self._opened_at = self._since = now

    def _close(self, now: float) -> None:
        self._state = BreakerState.CLOSED
        self._since = now
        self._window.clear()
