"""The overview's numbers from aggregated attempts: counts, success rate, routing share, since
when a gateway fails, and latency percentiles read from the histogram."""

import itertools
from datetime import UTC, datetime, timedelta

import pytest
from payments_platform.gateway_health import (
    LATENCY_BOUNDS,
    LatencyCount,
    MinuteCount,
    OutcomeCounts,
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

    assert json.counts == OutcomeCounts(
        accepted=6, declined=2, unavailable=1, unknown=1, in_flight=4
    )
    assert json.counts.success_rate == pytest.approx(6 / 10)
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
    assert report.gateways[0].counts.total == 1


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
    assert json.counts.success_rate is None
    assert json.p50 is None


def test_each_gateway_is_failing_since_when_the_database_says() -> None:
    started = NOW - timedelta(minutes=4)

    json, soap = health_report(
        ["json", "soap"], [], [], now=NOW, failing_since={"json": started}
    ).gateways

    assert json.failing_since == started
    assert soap.failing_since is None


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
