"""Every process's breakers as the console shows them: this process's read in memory and dated
on the wall clock, the others' as recorded, stale when not heard from lately, then gone."""

from datetime import UTC, datetime, timedelta

import pytest
from payments_platform.breaker import BreakerPolicy, BreakerState, CircuitBreaker, WindowSnapshot
from payments_platform.process_breakers import (
    DROPPED_AFTER,
    STALE_AFTER,
    BreakerReport,
    ProcessBreakers,
    ProcessIdentity,
    changes,
    open_breakers,
    shown_breakers,
)
from payments_platform.routing import Route

NOW = datetime(2026, 12, 1, 12, 30, 20, tzinfo=UTC)
THIS = ProcessIdentity("web-1", 4242, NOW - timedelta(hours=2))
POLICY = BreakerPolicy(minimum_calls=2, open_seconds=30)


class Clocks:
    """The breakers' monotonic clock and the wall clock, moved together."""

    def __init__(self) -> None:
        self.monotonic = 500.0
        self.wall = NOW

    def advance(self, seconds: float) -> None:
        self.monotonic += seconds
        self.wall += timedelta(seconds=seconds)


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


def _breakers(clocks: Clocks, *names: str) -> ProcessBreakers:
    routes = [
        Route(
            name=name,
            currencies=frozenset({"AED"}),
            weight=1,
            breaker=CircuitBreaker(POLICY, lambda: clocks.monotonic),
        )
        for name in names
    ]
    return ProcessBreakers(THIS, routes, lambda: clocks.monotonic, lambda: clocks.wall)


def test_this_process_reports_each_breaker_with_its_state_dated_on_the_wall_clock(
    clocks: Clocks,
) -> None:
    breakers = _breakers(clocks, "json", "soap")
    clocks.advance(60)
    json = breakers.routes[0].breaker
    json.record_failure()
    json.record_failure()  # 2 of 2 failed: open
    clocks.advance(10)

    json_report, soap_report = breakers.reports()

    assert json_report == BreakerReport(
        process=THIS,
        gateway="json",
        state=BreakerState.OPEN,
        since=NOW + timedelta(seconds=60),
        consecutive_failures=2,
        window=WindowSnapshot(2, 2),
        reported_at=NOW + timedelta(seconds=70),
    )
    assert (soap_report.state, soap_report.since) == (BreakerState.CLOSED, NOW)


def test_a_state_s_start_reads_the_same_in_every_report_until_it_changes(
    clocks: Clocks,
) -> None:
    breakers = _breakers(clocks, "json")
    first = breakers.reports()
    clocks.monotonic += 5.000_001  # the two clocks drift apart by a microsecond
    clocks.wall += timedelta(seconds=5)

    second = breakers.reports()

    assert [changes(report) for report in second] == [changes(report) for report in first]
    breakers.routes[0].breaker.record_failure()
    assert [changes(report) for report in breakers.reports()] != [
        changes(report) for report in first
    ]


def _recorded(
    process: ProcessIdentity,
    gateway: str,
    state: BreakerState,
    *,
    silent: timedelta = timedelta(seconds=2),
) -> BreakerReport:
    return BreakerReport(
        process=process,
        gateway=gateway,
        state=state,
        since=NOW - timedelta(minutes=5),
        consecutive_failures=0,
        window=WindowSnapshot(0, 0),
        reported_at=NOW - silent,
    )


WEB_2 = ProcessIdentity("web-2", 17, NOW - timedelta(hours=1))
WORKER = ProcessIdentity("worker-1", 99, NOW - timedelta(hours=3))
# The same host and pid, started again: another process.
WEB_2_BEFORE = ProcessIdentity("web-2", 17, NOW - timedelta(days=1))


def test_this_process_comes_first_as_it_is_now_then_the_others_as_recorded() -> None:
    own = [_recorded(THIS, "json", BreakerState.OPEN, silent=timedelta(0))]
    recorded = [
        _recorded(WORKER, "json", BreakerState.HALF_OPEN),
        _recorded(THIS, "json", BreakerState.CLOSED),  # what it recorded a second ago
        _recorded(WEB_2, "json", BreakerState.CLOSED, silent=STALE_AFTER),
        _recorded(WEB_2_BEFORE, "json", BreakerState.OPEN, silent=DROPPED_AFTER),
        _recorded(WEB_2, "soap", BreakerState.CLOSED),
    ]

    shown = shown_breakers(recorded, own, now=NOW)

    assert [(b.report.process, b.report.state, b.this_process, b.stale) for b in shown["json"]] == [
        (THIS, BreakerState.OPEN, True, False),
        (WEB_2, BreakerState.CLOSED, False, True),
        (WORKER, BreakerState.HALF_OPEN, False, False),
    ]
    assert [b.report.process for b in shown["soap"]] == [WEB_2]
    # Stale breakers are shown, not counted: their processes may be gone.
    assert open_breakers(shown["json"]) == (1, 2)


def test_the_label_names_a_process_as_ps_and_the_logs_do() -> None:
    assert THIS.label == "web-1:4242"
