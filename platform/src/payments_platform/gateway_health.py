"""How each gateway has done over the last hour and the last five minutes, from the attempts
every process stored. Pure.

This is the health the operator sees: it is read from the database, so every replica shows
the same. A circuit breaker's state is another matter: each process keeps its own (see
:mod:`payments_platform.breaker`), and records it for the console
(:mod:`payments_platform.process_breakers`).

* **the windows**: the hour is the last sixty whole minutes, the current one included (a bar
  each on the chart); the recent window is the last :data:`RECENT_MINUTES` of them, the sum of
  the last five bars, so that an outage shows in minutes, not diluted by an hour of successes.
* **success rate**: accepted calls over finished calls.
* **share**: of the payments the gateways took (accepted, declined, or sent with no usable
  answer), how many this gateway took; an unavailable gateway took none, the traffic went
  elsewhere.
* **the latest run of failures** (:class:`FailureRun`): the calls that failed (unavailable or
  no usable answer) after the last answered one (accepted or declined) before them, within the
  hour. It is *failing* while no call has been answered since; *recovered* at the first answered
  call after it; and while its latest call is more than :data:`QUIET_AFTER` old, with none
  answered, nothing is known of it now (its breakers keep calls away, or no payment came):
  the console says "no calls since" rather than "failing".
* **p50, p99**: latency percentiles of finished calls, interpolated within the histogram bucket
  the percentile falls in.
"""

from __future__ import annotations

import enum
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from payments_platform.lifecycle import AttemptOutcome

PERIOD_MINUTES = 60
RECENT_MINUTES = 5
"""The recent window: the last five of the hour's minutes (the current one included)."""
QUIET_AFTER = timedelta(minutes=1)
"""A failing gateway none of whose calls is this recent is said to have had no calls since its
last, not to be failing: nothing tells how it is now."""
LATENCY_BOUNDS: tuple[float, ...] = tuple(0.001 * 2 ** (k / 4) for k in range(69))
"""Upper bounds of the latency buckets, in seconds: 1 ms to 131 s, each a fifth wider than the
one before, so a percentile read from them is off by less than that."""


class MinuteCount(NamedTuple):
    """Attempts of one gateway that started in one minute with one outcome."""

    gateway: str
    minute: int
    """Minutes since the Unix epoch."""
    outcome: str
    attempts: int


class LatencyCount(NamedTuple):
    """Finished attempts of one gateway whose duration falls in one bucket."""

    gateway: str
    bucket: int
    """Index into :data:`LATENCY_BOUNDS`; ``len(LATENCY_BOUNDS)`` for longer calls."""
    attempts: int
    recent: bool = False
    """Attempts that started in the recent window (the hour's histogram counts them too)."""


@dataclass
class OutcomeCounts:
    """Attempts by how they ended."""

    accepted: int = 0
    declined: int = 0
    unavailable: int = 0
    unknown: int = 0
    in_flight: int = 0

    def add(self, outcome: str, count: int) -> None:
        """Count ``count`` more attempts that ended with ``outcome``."""
        name = AttemptOutcome(outcome).value
        setattr(self, name, getattr(self, name) + count)

    @property
    def total(self) -> int:
        """Every attempt, finished or not."""
        return self.accepted + self.declined + self.unavailable + self.unknown + self.in_flight

    @property
    def finished(self) -> int:
        """Attempts with a recorded end."""
        return self.total - self.in_flight

    @property
    def taken(self) -> int:
        """Payments the gateway took on (everything but unavailable)."""
        return self.total - self.unavailable

    @property
    def success_rate(self) -> float | None:
        """Accepted over finished attempts; None without any."""
        return self.accepted / self.finished if self.finished else None


@dataclass
class WindowHealth:
    """One gateway over one window: its calls by outcome and how long the finished ones took."""

    counts: OutcomeCounts = field(default_factory=OutcomeCounts)
    latency: list[int] = field(default_factory=lambda: [0] * (len(LATENCY_BOUNDS) + 1))

    @property
    def p50(self) -> float | None:
        """Median latency in seconds; None without finished calls."""
        return quantile(self.latency, 0.50)

    @property
    def p99(self) -> float | None:
        """99th percentile latency in seconds; None without finished calls."""
        return quantile(self.latency, 0.99)


class RunState(enum.StrEnum):
    """What the latest run of failures says of a gateway now."""

    FAILING = "failing"
    """Its latest calls failed, the last of them within :data:`QUIET_AFTER`."""
    NO_CALLS = "no_calls"
    """Its latest calls failed, and none was made since for :data:`QUIET_AFTER` or more."""
    RECOVERED = "recovered"
    """A call was answered after them."""


@dataclass(frozen=True, kw_only=True)
class FailureRun:
    """A gateway's latest run of failed calls within the hour, and what followed it."""

    gateway: str
    first_failure: datetime
    """When the first call of the run started: the first failure after the last answered
    call before it (or after the start of the hour)."""
    last_failure: datetime
    recovered_at: datetime | None
    """When the first call answered after the run started; None while none has been."""
    last_call: datetime
    """When the gateway's latest call started, whatever became of it."""

    def state(self, now: datetime) -> RunState:
        """Failing, recovered, or with no call since its last for too long to tell."""
        if self.recovered_at is not None:
            return RunState.RECOVERED
        if now - self.last_call >= QUIET_AFTER:
            return RunState.NO_CALLS
        return RunState.FAILING


@dataclass
class GatewayHealth:
    """One gateway over the hour and the recent window."""

    gateway: str
    hour: WindowHealth = field(default_factory=WindowHealth)
    recent: WindowHealth = field(default_factory=WindowHealth)
    """The last :data:`RECENT_MINUTES` minutes."""
    by_minute: list[OutcomeCounts] = field(default_factory=list)
    """One entry per minute of the period, oldest first."""
    share: float = 0.0
    run: FailureRun | None = None
    """Its latest run of failures within the hour; None if no call failed."""
    run_state: RunState | None = None
    """What that run says of it when the report was made."""


@dataclass(frozen=True)
class HealthReport:
    """Every gateway over the period that ends at ``until``."""

    since: datetime
    until: datetime
    gateways: list[GatewayHealth]

    @property
    def recent_since(self) -> datetime:
        """The start of the recent window."""
        return period_start(self.until, RECENT_MINUTES)

    @property
    def busiest_minute(self) -> int:
        """The most attempts any gateway had in one minute (charts share this scale)."""
        return max((m.total for g in self.gateways for m in g.by_minute), default=0)


def period_start(now: datetime, minutes: int = PERIOD_MINUTES) -> datetime:
    """The start of the period ending now: whole minutes, so that each bar is a full minute
    but the current one."""
    current = now.astimezone(UTC).replace(second=0, microsecond=0)
    return current - timedelta(minutes=minutes - 1)


def health_report(
    gateways: Sequence[str],
    minutes_rows: Iterable[MinuteCount],
    latency_rows: Iterable[LatencyCount],
    *,
    now: datetime,
    runs: Iterable[FailureRun] = (),
    minutes: int = PERIOD_MINUTES,
) -> HealthReport:
    """The report for ``gateways`` (in that order) from the aggregated attempts, and the latest
    run of failures of each gateway that had one; a gateway that is not listed but had attempts
    in the period is left out."""
    since = period_start(now, minutes)
    first_minute = int(since.timestamp()) // 60
    first_recent = minutes - RECENT_MINUTES
    health = {
        name: GatewayHealth(name, by_minute=[OutcomeCounts() for _ in range(minutes)])
        for name in gateways
    }
    for row in minutes_rows:
        found = health.get(row.gateway)
        position = row.minute - first_minute
        if found is None or not 0 <= position < minutes:
            continue
        found.hour.counts.add(row.outcome, row.attempts)
        found.by_minute[position].add(row.outcome, row.attempts)
        if position >= first_recent:
            found.recent.counts.add(row.outcome, row.attempts)
    for latency_row in latency_rows:
        found = health.get(latency_row.gateway)
        if found is not None:
            found.hour.latency[latency_row.bucket] += latency_row.attempts
            if latency_row.recent:
                found.recent.latency[latency_row.bucket] += latency_row.attempts
    taken = sum(found.hour.counts.taken for found in health.values())
    for found in health.values():
        found.share = found.hour.counts.taken / taken if taken else 0.0
    for run in runs:
        found = health.get(run.gateway)
        if found is not None:
            found.run, found.run_state = run, run.state(now)
    return HealthReport(since=since, until=now, gateways=list(health.values()))


def quantile(histogram: Sequence[int], q: float) -> float | None:
    """The ``q`` quantile (0-1) of the latencies counted in ``histogram`` (buckets bounded by
    :data:`LATENCY_BOUNDS`), interpolated linearly within its bucket; None when empty."""
    total = sum(histogram)
    if not total:
        return None
    rank = q * total
    seen = 0
    for index, count in enumerate(histogram):
        if count and seen + count >= rank:
            if index == len(LATENCY_BOUNDS):
                # Longer than the last bound: all that can be said is "at least".
                return LATENCY_BOUNDS[-1]
            low = LATENCY_BOUNDS[index - 1] if index else 0.0
            high = LATENCY_BOUNDS[index]
            return low + (high - low) * (rank - seen) / count
        seen += count
    return LATENCY_BOUNDS[-1]  # pragma: no cover - the loop always reaches the rank
