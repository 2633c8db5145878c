"""The overview's numbers come from the stored attempts, aggregated by the database: the same
rows give the same report on SQLite and PostgreSQL, whichever process wrote them."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from payments_platform.database import Database
from payments_platform.gateway_health import health_report, period_start
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
    latencies = await database.read(lambda conn: attempt_stats.latency_histogram(conn, since))
    failing = await database.read(lambda conn: attempt_stats.failing_since(conn, since))
    report = health_report(["json", "soap"], minutes, latencies, now=NOW, failing_since=failing)

    json, soap = report.gateways
    assert (json.counts.accepted, json.counts.unavailable, json.counts.total) == (3, 2, 5)
    assert (soap.counts.accepted, soap.counts.declined, soap.counts.in_flight) == (1, 1, 1)
    assert json.by_minute[-2].accepted == 3
    assert json.by_minute[-1].unavailable == 2
    # json took 3 payments, soap 3 (the one in flight included).
    assert json.share == pytest.approx(0.5)
    assert json.failing_since == NOW
    assert soap.failing_since is None
    assert json.p50 == pytest.approx(0.010, rel=0.2)
    assert soap.p99 == pytest.approx(0.200, rel=0.2)
    assert soap.counts.success_rate == pytest.approx(0.5)


async def test_a_gateway_fails_since_its_first_failure_after_its_last_answer(
    database: Database,
) -> None:
    since = period_start(NOW)
    first_failure = NOW - timedelta(seconds=40)

    def write(conn: sa.Connection) -> None:
        ago = [NOW - timedelta(seconds=s) for s in (300, 200, 100, 60, 40, 30, 20)]
        _attempt(conn, "json", AttemptOutcome.UNAVAILABLE, ago[0], 0.001)  # an earlier outage
        _attempt(conn, "json", AttemptOutcome.ACCEPTED, ago[1], 0.01)
        _attempt(conn, "json", AttemptOutcome.UNAVAILABLE, ago[2], 0.001)
        _attempt(conn, "json", AttemptOutcome.ACCEPTED, ago[3], 0.01)  # its last answer
        _attempt(conn, "json", AttemptOutcome.UNAVAILABLE, ago[4], 0.001)
        _attempt(conn, "json", AttemptOutcome.UNKNOWN, ago[5], 5.0)
        # Then no calls at all (its breaker is open): still failing.
        _attempt(conn, "soap", AttemptOutcome.UNAVAILABLE, ago[3], 0.001)
        _attempt(conn, "soap", AttemptOutcome.DECLINED, ago[6], 0.01)  # a decline is an answer
        _attempt(conn, "acme", AttemptOutcome.UNAVAILABLE, ago[2], 0.001)  # never answered

    await database.write(write)
    failing = await database.read(lambda conn: attempt_stats.failing_since(conn, since))

    assert failing == {"json": first_failure, "acme": NOW - timedelta(seconds=100)}


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
        _attempt(conn, "a", AttemptOutcome.ACCEPTED, NOW - timedelta(minutes=5), 0.1)

    await database.write(write)
    clock[0] = NOW + timedelta(seconds=3)
    assert await running.refresh() == 1
    # What finished five minutes before its last read is not read again: only what is new.
    assert running.board.score("a", Segment("AED", 0)) == (0.7, 10, Segment("AED", -1))

    started = ScoreRefresher(database, ScoreBoard(policy), lambda: clock[0])
    await started.refresh()
    warm = started.board.score("a", Segment("AED", 0))
    assert warm is not None
    assert (warm.samples, warm.rate) == (11, pytest.approx(8 / 11))
