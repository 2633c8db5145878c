"""The overview's numbers come from the stored attempts, aggregated by the database: the same
rows give the same report on SQLite and PostgreSQL, whichever process wrote them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from payments_platform.database import Database
from payments_platform.gateway_health import (
    RECENT_MINUTES,
    FailureRun,
    RunState,
    health_report,
    period_start,
)
from payments_platform.lifecycle import AttemptOutcome
from payments_platform.score_refresh import ScoreRefresher
from payments_platform.scoring import ScoreBoard, ScorePolicy, Segment, Tally
from payments_platform.store import attempt_stats, attempts, payments

NOW = datetime(2026, 12, 1, 12, 30, 20, tzinfo=UTC)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, pool_size=0)
    await db.migrate()
    try:
        yield db
    finally:
        await db.dispose()


def _attempt(
    conn: sa.Connection,
    gateway: str,
    outcome: AttemptOutcome,
    started: datetime,
    seconds: float | None,
    *,
    currency: str = "AED",
    amount_minor: int = 100,
    metadata: dict[str, str] | None = None,
) -> None:
    payment_id = uuid.uuid4()
    payments.insert(
        conn,
        payment_id=payment_id,
        client_id=payment_id,
        merchant=None,
        currency=currency,
        amount_minor=amount_minor,
        metadata=metadata or {},
        description=None,
        now=started,
    )
    attempt = attempts.insert(
        conn, payment_id=payment_id, gateway=gateway, reason="test", now=started
    )
    if seconds is not None:
        attempts.finish(conn, attempt, outcome=outcome, now=started + timedelta(seconds=seconds))


async def test_the_hour_of_attempts_is_counted_by_gateway_minute_and_outcome(
    database: Database,
) -> None:
    since = period_start(NOW)

    def write(conn: sa.Connection) -> None:
        minute_ago = NOW - timedelta(minutes=1)
        for _ in range(3):
            _attempt(conn, "json", AttemptOutcome.ACCEPTED, minute_ago, 0.010)
        _attempt(conn, "json", AttemptOutcome.UNAVAILABLE, NOW, 0.002)
        _attempt(conn, "json", AttemptOutcome.UNAVAILABLE, NOW, 0.002)
        _attempt(conn, "soap", AttemptOutcome.ACCEPTED, NOW, 0.200)
        _attempt(conn, "soap", AttemptOutcome.DECLINED, NOW, 0.100)
        _attempt(conn, "soap", AttemptOutcome.IN_FLIGHT, NOW, None)
        # Before the period: not counted.
        _attempt(conn, "json", AttemptOutcome.ACCEPTED, since - timedelta(seconds=1), 0.010)

    await database.write(write)
    minutes = await database.read(lambda conn: attempt_stats.outcomes_by_minute(conn, since))
    latencies = await database.read(
        lambda conn: attempt_stats.latency_histogram(conn, since, period_start(NOW, 5))
    )
    runs = await database.read(lambda conn: attempt_stats.failure_runs(conn, since))
    report = health_report(["json", "soap"], minutes, latencies, now=NOW, runs=runs)

    json, soap = report.gateways
    assert (json.hour.counts.accepted, json.hour.counts.unavailable) == (3, 2)
    assert json.hour.counts.total == 5
    assert (soap.hour.counts.accepted, soap.hour.counts.declined) == (1, 1)
    assert soap.hour.counts.in_flight == 1
    assert json.by_minute[-2].accepted == 3
    assert json.by_minute[-1].unavailable == 2
    # json took 3 payments, soap 3 (the one in flight included).
    assert json.share == pytest.approx(0.5)
    assert json.run is not None
    assert (json.run.first_failure, json.run_state) == (NOW, RunState.FAILING)
    assert soap.run is None
    assert json.hour.p50 == pytest.approx(0.010, rel=0.2)
    assert soap.hour.p99 == pytest.approx(0.200, rel=0.2)
    assert soap.hour.counts.success_rate == pytest.approx(0.5)


async def test_the_last_five_minutes_are_counted_apart_from_the_rest_of_the_hour(
    database: Database,
) -> None:
    """The hour's successes do not hide an outage of the last minutes: the same rows, read on
    either backend, say 75% over the hour and 0% over the last five minutes, and the latencies
    of the last five minutes are those of the failing calls alone."""
    since, recent_since = period_start(NOW), period_start(NOW, RECENT_MINUTES)

    def write(conn: sa.Connection) -> None:
        for _ in range(6):
            _attempt(conn, "json", AttemptOutcome.ACCEPTED, NOW - timedelta(minutes=30), 0.010)
        _attempt(conn, "json", AttemptOutcome.UNAVAILABLE, recent_since, 2.0)
        _attempt(conn, "json", AttemptOutcome.UNKNOWN, NOW, 2.0)
        # Just before the recent window: the hour's only.
        _attempt(conn, "json", AttemptOutcome.ACCEPTED, recent_since - timedelta(seconds=1), 0.01)

    await database.write(write)

    def read(conn: sa.Connection) -> tuple[list[Any], list[Any]]:
        return (
            attempt_stats.outcomes_by_minute(conn, since),
            attempt_stats.latency_histogram(conn, since, recent_since),
        )

    minutes, latencies = await database.read(read)
    [json] = health_report(["json"], minutes, latencies, now=NOW).gateways

    assert json.hour.counts.success_rate == pytest.approx(7 / 9)
    assert (json.recent.counts.total, json.recent.counts.success_rate) == (2, 0)
    assert json.recent.p50 == pytest.approx(2.0, rel=0.2)
    assert json.hour.p50 == pytest.approx(0.010, rel=0.2)


async def test_the_latest_run_of_failures_starts_at_its_first_failure_after_an_answer(
    database: Database,
) -> None:
    since = period_start(NOW)
    ago = {s: NOW - timedelta(seconds=s) for s in (300, 200, 100, 90, 60, 40, 30, 20)}

    def write(conn: sa.Connection) -> None:
        _attempt(conn, "json", AttemptOutcome.UNAVAILABLE, ago[300], 0.001)  # an earlier run
        _attempt(conn, "json", AttemptOutcome.ACCEPTED, ago[200], 0.01)
        _attempt(conn, "json", AttemptOutcome.UNAVAILABLE, ago[100], 0.001)
        _attempt(conn, "json", AttemptOutcome.ACCEPTED, ago[60], 0.01)  # its last answer
        _attempt(conn, "json", AttemptOutcome.UNAVAILABLE, ago[40], 0.001)
        _attempt(conn, "json", AttemptOutcome.UNKNOWN, ago[30], 5.0)
        _attempt(conn, "json", AttemptOutcome.IN_FLIGHT, ago[20], None)  # no answer yet
        # A decline is an answer: the vendor is there. Its first answer after the failures.
        _attempt(conn, "soap", AttemptOutcome.UNAVAILABLE, ago[100], 0.001)
        _attempt(conn, "soap", AttemptOutcome.UNAVAILABLE, ago[90], 0.001)
        _attempt(conn, "soap", AttemptOutcome.DECLINED, ago[60], 0.01)
        _attempt(conn, "soap", AttemptOutcome.ACCEPTED, ago[20], 0.01)
        _attempt(conn, "acme", AttemptOutcome.UNAVAILABLE, ago[100], 0.001)  # never answered
        _attempt(conn, "calm", AttemptOutcome.ACCEPTED, ago[100], 0.01)  # never failed

    await database.write(write)
    runs = await database.read(lambda conn: attempt_stats.failure_runs(conn, since))

    assert sorted(runs, key=lambda run: run.gateway) == [
        FailureRun(
            gateway="acme",
            first_failure=ago[100],
            last_failure=ago[100],
            recovered_at=None,
            last_call=ago[100],
        ),
        FailureRun(
            gateway="json",
            first_failure=ago[40],
            last_failure=ago[30],
            recovered_at=None,
            last_call=ago[20],
        ),
        FailureRun(
            gateway="soap",
            first_failure=ago[100],
            last_failure=ago[90],
            recovered_at=ago[60],
            last_call=ago[20],
        ),
    ]
    states = {run.gateway: run.state(NOW) for run in runs}
    assert states == {
        "acme": RunState.NO_CALLS,  # its only call, 100 s ago, failed: nothing since
        "json": RunState.FAILING,
        "soap": RunState.RECOVERED,
    }


async def test_failures_before_the_hour_are_not_a_run(database: Database) -> None:
    since = period_start(NOW)

    def write(conn: sa.Connection) -> None:
        _attempt(conn, "json", AttemptOutcome.UNAVAILABLE, since - timedelta(seconds=1), 0.001)
        _attempt(conn, "json", AttemptOutcome.ACCEPTED, NOW, 0.01)

    await database.write(write)

    assert await database.read(lambda conn: attempt_stats.failure_runs(conn, since)) == []


async def test_finished_attempts_are_tallied_by_gateway_segment_and_outcome(
    database: Database,
) -> None:
    policy = ScorePolicy(amount_bands=(1_000,), metadata_key="network")
    since, until = NOW - timedelta(seconds=10), NOW

    def write(conn: sa.Connection) -> None:
        at = since - timedelta(seconds=1)
        _attempt(conn, "a", AttemptOutcome.ACCEPTED, at, 2.0, metadata={"network": "visa"})
        _attempt(conn, "a", AttemptOutcome.ACCEPTED, at, 3.0, metadata={"network": "visa"})
        _attempt(conn, "a", AttemptOutcome.DECLINED, at, 3.0, amount_minor=5_000)
        _attempt(conn, "a", AttemptOutcome.UNKNOWN, at, 4.0, amount_minor=5_000)
        _attempt(conn, "b", AttemptOutcome.UNAVAILABLE, at, 5.0, currency="USD")
        # Finished before ``since`` (read by the refresh before) or at ``until`` (by the next),
        # or not finished at all: not counted here.
        _attempt(conn, "a", AttemptOutcome.ACCEPTED, at, 0.5)
        _attempt(conn, "a", AttemptOutcome.ACCEPTED, until - timedelta(seconds=1), 1.0)
        _attempt(conn, "a", AttemptOutcome.ACCEPTED, at, None)

    await database.write(write)
    counted = await database.read(lambda conn: attempt_stats.tallies(conn, policy, since, until))

    assert sorted(counted) == [
        Tally("a", Segment("AED", 0, "visa"), accepted=2, declined=0, failed=0),
        Tally("a", Segment("AED", 1, ""), accepted=0, declined=1, failed=1),
        Tally("b", Segment("USD", 0, ""), accepted=0, declined=0, failed=1),
    ]


async def test_what_one_process_records_every_process_learns_and_a_new_one_starts_warm(
    database: Database,
) -> None:
    policy = ScorePolicy(prior_strength=0, refresh_lag_seconds=1)
    clock = [NOW]
    running = ScoreRefresher(database, ScoreBoard(policy), lambda: clock[0])
    await running.refresh()  # reads the (empty) window
    assert running.board.score("a", Segment("AED", 0)) is None

    def write(conn: sa.Connection) -> None:
        for index in range(10):
            outcome = AttemptOutcome.ACCEPTED if index < 7 else AttemptOutcome.DECLINED
            _attempt(conn, "a", outcome, NOW, 0.1)
        _attempt(conn, "a", AttemptOutcome.ACCEPTED, NOW - timedelta(minutes=2), 0.1)

    await database.write(write)
    clock[0] = NOW + timedelta(seconds=3)
    assert await running.refresh() == 1
    # What finished two minutes before its last read is not read again: only what is new.
    assert running.board.score("a", Segment("AED", 0)) == (0.7, 10, Segment("AED", -1))

    started = ScoreRefresher(database, ScoreBoard(policy), lambda: clock[0])
    await started.refresh()
    warm = started.board.score("a", Segment("AED", 0))
    assert warm is not None
    assert (warm.samples, warm.rate) == (11, pytest.approx(8 / 11))
