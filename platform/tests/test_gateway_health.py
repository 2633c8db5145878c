"""The overview's numbers from aggregated attempts: counts and success rate over the hour and
the last five minutes, routing share, the latest run of failures (failing, no calls since,
recovered), and latency percentiles read from the histogram."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from payments_platform.gateway_health import (
    LATENCY_BOUNDS,
    QUIET_AFTER,
    FailureRun,
    LatencyCount,
    MinuteCount,
    OutcomeCounts,
    RunState,
    health_report,
    period_start,
    quantile,
)

NOW = datetime(2026, 12, 1, 12, 30, 20, tzinfo=UTC)
SINCE = period_start(NOW)
FIRST = int(SINCE.timestamp()) // 60


def at(minutes_ago: int) -> int:
    """The minute number ``minutes_ago`` before the current one."""
    return FIRST + 59 - minutes_ago


def test_the_period_is_the_last_sixty_whole_minutes_including_the_current_one() -> None:
    assert period_start(NOW) == datetime(2026, 12, 1, 11, 31, tzinfo=UTC)


def test_counts_follow_the_outcomes_and_the_success_rate_is_accepted_over_finished() -> None:
    rows = [
        MinuteCount("json", at(3), "accepted", 6),
        MinuteCount("json", at(3), "declined", 2),
        MinuteCount("json", at(2), "unknown", 1),
        MinuteCount("json", at(1), "unavailable", 1),
        MinuteCount("json", at(0), "in_flight", 4),
    ]

    [json] = health_report(["json"], rows, [], now=NOW).gateways

    assert json.hour.counts == OutcomeCounts(
        accepted=6, declined=2, unavailable=1, unknown=1, in_flight=4
    )
    assert json.hour.counts.success_rate == pytest.approx(6 / 10)
    assert [m.total for m in json.by_minute[-4:]] == [8, 1, 1, 4]


def test_rows_outside_the_period_or_of_gateways_not_enabled_are_left_out() -> None:
    rows = [
        MinuteCount("json", FIRST - 1, "accepted", 5),
        MinuteCount("json", at(0) + 1, "accepted", 5),
        MinuteCount("retired", at(0), "accepted", 5),
        MinuteCount("json", at(0), "accepted", 1),
    ]

    report = health_report(["json"], rows, [LatencyCount("retired", 3, 9)], now=NOW)

    assert [g.gateway for g in report.gateways] == ["json"]
    assert report.gateways[0].hour.counts.total == 1


def test_the_share_is_of_payments_taken_so_an_unavailable_gateway_takes_none() -> None:
    rows = [
        MinuteCount("json", at(5), "accepted", 2),
        MinuteCount("json", at(1), "unavailable", 10),
        MinuteCount("soap", at(1), "accepted", 5),
        MinuteCount("soap", at(1), "unknown", 1),
    ]

    json, soap = health_report(["json", "soap"], rows, [], now=NOW).gateways

    assert json.share == pytest.approx(2 / 8)
    assert soap.share == pytest.approx(6 / 8)


def test_no_payment_means_no_share() -> None:
    [json] = health_report(["json"], [], [], now=NOW).gateways

    assert json.share == 0
    assert json.hour.counts.success_rate is None
    assert json.hour.p50 is None
    assert json.recent.counts.success_rate is None


def test_the_last_five_minutes_show_an_outage_the_hour_dilutes() -> None:
    """A gateway that answered all hour and fails every call now: the hour says 50%, the last
    five minutes (the current one and the four before it) say 0%."""
    rows = [
        MinuteCount("json", at(30), "accepted", 40),
        MinuteCount("json", at(5), "accepted", 10),  # six minutes ago: the hour only
        MinuteCount("json", at(4), "unavailable", 20),
        MinuteCount("json", at(0), "unknown", 30),
    ]

    [json] = health_report(["json"], rows, [], now=NOW).gateways

    assert json.hour.counts.success_rate == pytest.approx(50 / 100)
    assert json.recent.counts == OutcomeCounts(unavailable=20, unknown=30)
    assert json.recent.counts.success_rate == 0
    assert json.recent.counts.total == sum(m.total for m in json.by_minute[-5:])


def test_the_recent_latencies_are_those_counted_as_recent_the_hour_counts_them_all() -> None:
    rows = [
        LatencyCount("json", 4, 98),
        LatencyCount("json", 30, 2),
        LatencyCount("json", 30, 5, recent=True),
    ]

    [json] = health_report(["json"], [], rows, now=NOW).gateways

    assert json.hour.latency[4] == 98
    assert json.hour.latency[30] == 7
    assert json.recent.latency[4] == 0
    recent_p50, hour_p50 = json.recent.p50, json.hour.p50
    assert recent_p50 is not None
    assert hour_p50 is not None
    assert LATENCY_BOUNDS[29] < recent_p50 <= LATENCY_BOUNDS[30]
    assert hour_p50 < LATENCY_BOUNDS[4]


def _run(*, last_call: datetime, recovered_at: datetime | None = None) -> FailureRun:
    return FailureRun(
        gateway="json",
        first_failure=NOW - timedelta(minutes=8),
        last_failure=NOW - timedelta(minutes=7),
        recovered_at=recovered_at,
        last_call=last_call,
    )


@pytest.mark.parametrize(
    ("run", "state"),
    [
        # Its last call, a moment ago, failed: failing.
        (_run(last_call=NOW - timedelta(seconds=5)), RunState.FAILING),
        # Its last call failed longer ago than QUIET_AFTER, none since: nothing tells.
        (_run(last_call=NOW - QUIET_AFTER), RunState.NO_CALLS),
        (_run(last_call=NOW - timedelta(minutes=7)), RunState.NO_CALLS),
        # A call was answered after the failures, however long ago: recovered.
        (
            _run(last_call=NOW - timedelta(minutes=6), recovered_at=NOW - timedelta(minutes=6)),
            RunState.RECOVERED,
        ),
    ],
    ids=["failing", "no-calls-at-the-limit", "no-calls", "recovered"],
)
def test_a_run_of_failures_says_failing_only_while_calls_still_fail(
    run: FailureRun, state: RunState
) -> None:
    assert run.state(NOW) is state


def test_each_gateway_gets_its_run_of_failures_and_what_it_says_now() -> None:
    run = _run(last_call=NOW - timedelta(minutes=7))

    json, soap = health_report(["json", "soap"], [], [], now=NOW, runs=[run]).gateways

    assert (json.run, json.run_state) == (run, RunState.NO_CALLS)
    assert (soap.run, soap.run_state) == (None, None)


def test_busiest_minute_sets_the_scale_every_chart_shares() -> None:
    rows = [MinuteCount("json", at(1), "accepted", 3), MinuteCount("soap", at(2), "accepted", 7)]

    assert health_report(["json", "soap"], rows, [], now=NOW).busiest_minute == 7


def _histogram(counts: dict[int, int]) -> list[int]:
    histogram = [0] * (len(LATENCY_BOUNDS) + 1)
    for bucket, count in counts.items():
        histogram[bucket] = count
    return histogram


def test_a_quantile_is_interpolated_within_its_bucket() -> None:
    # 100 calls, all in the bucket (LATENCY_BOUNDS[9], LATENCY_BOUNDS[10]].
    histogram = _histogram({10: 100})
    low, high = LATENCY_BOUNDS[9], LATENCY_BOUNDS[10]

    assert quantile(histogram, 0.5) == pytest.approx(low + (high - low) * 0.5)
    assert quantile(histogram, 0.99) == pytest.approx(low + (high - low) * 0.99)


def test_p99_lands_in_the_tail_bucket() -> None:
    histogram = _histogram({4: 98, 30: 2})

    median, p99 = quantile(histogram, 0.5), quantile(histogram, 0.99)
    assert median is not None
    assert p99 is not None
    assert median < LATENCY_BOUNDS[4]
    assert LATENCY_BOUNDS[29] < p99 <= LATENCY_BOUNDS[30]


def test_calls_longer_than_the_last_bound_are_reported_as_at_least_it() -> None:
    histogram = _histogram({len(LATENCY_BOUNDS): 3})

    assert quantile(histogram, 0.5) == LATENCY_BOUNDS[-1]


def test_the_buckets_are_narrow_enough_for_a_percentile_to_mean_something() -> None:
    ratios = [high / low for low, high in itertools.pairwise(LATENCY_BOUNDS)]

    assert LATENCY_BOUNDS[0] == pytest.approx(0.001)
    assert LATENCY_BOUNDS[-1] > 120
    assert max(ratios) < 1.2
