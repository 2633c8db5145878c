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
) -> None:
    payment_id = uuid.uuid4()
    payments.insert(
        conn,
        payment_id=payment_id,
        client_id=payment_id,
        merchant=None,
        currency="AED",
        amount_minor=100,
        metadata={},
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
