"""The recorder of a process's breakers: it writes when a breaker changes or when the regular
record is due, and nothing in between; it deletes the rows of processes gone silent, and its
own when it stops."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from payments_platform.breaker import BreakerPolicy, BreakerState, CircuitBreaker, WindowSnapshot
from payments_platform.breaker_recorder import BreakerRecorder
from payments_platform.database import Database
from payments_platform.process_breakers import (
    DROPPED_AFTER,
    HEARD_EVERY,
    BreakerReport,
    ProcessBreakers,
    ProcessIdentity,
)
from payments_platform.routing import Route
from payments_platform.store import process_breakers

NOW = datetime(2026, 12, 1, 12, 30, 20, tzinfo=UTC)
THIS = ProcessIdentity("web-1", 4242, NOW)
GONE = ProcessIdentity("web-0", 7, NOW - timedelta(days=1))


class Clocks:
    def __init__(self) -> None:
        self.monotonic = 100.0
        self.wall = NOW

    def advance(self, seconds: float) -> None:
        self.monotonic += seconds
        self.wall += timedelta(seconds=seconds)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url, pool_size=0)
    await db.migrate()
    try:
        yield db
    finally:
        await db.dispose()


@pytest.fixture
def clocks() -> Clocks:
    return Clocks()


@pytest.fixture
def breaker(clocks: Clocks) -> CircuitBreaker:
    return CircuitBreaker(BreakerPolicy(minimum_calls=2), lambda: clocks.monotonic)


@pytest.fixture
def recorder(database: Database, clocks: Clocks, breaker: CircuitBreaker) -> BreakerRecorder:
    route = Route(name="json", currencies=frozenset({"AED"}), weight=1, breaker=breaker)
    breakers = ProcessBreakers(THIS, [route], lambda: clocks.monotonic, lambda: clocks.wall)
    return BreakerRecorder(database, breakers, check_seconds=0.01)


async def _stored(database: Database) -> list[BreakerReport]:
    return await database.read(
        lambda conn: process_breakers.heard_since(conn, NOW - timedelta(days=2))
    )


async def test_it_writes_at_once_then_only_on_a_change_or_when_the_regular_record_is_due(
    recorder: BreakerRecorder, database: Database, clocks: Clocks, breaker: CircuitBreaker
) -> None:
    assert await recorder.record_if_due()  # heard from as soon as it starts
    clocks.advance(1)
    assert not await recorder.record_if_due()

    breaker.record_failure()  # one more failure in a row
    assert await recorder.record_if_due()
    breaker.record_failure()  # and the breaker opens
    clocks.advance(1)
    assert await recorder.record_if_due()
    [stored] = await _stored(database)
    assert (stored.state, stored.consecutive_failures) == (BreakerState.OPEN, 2)
    assert stored.since == NOW + timedelta(seconds=1)

    clocks.advance(1)
    assert not await recorder.record_if_due()
    clocks.advance(HEARD_EVERY.total_seconds())
    assert await recorder.record_if_due()
    [stored] = await _stored(database)
    assert stored.reported_at == clocks.wall
    assert stored.window == WindowSnapshot(2, 2)


async def test_its_regular_record_deletes_the_rows_of_processes_gone_silent(
    recorder: BreakerRecorder, database: Database
) -> None:
    def gone(conn: sa.Connection) -> None:
        process_breakers.record(
            conn,
            [
                BreakerReport(
                    process=GONE,
                    gateway="json",
                    state=BreakerState.OPEN,
                    since=NOW - DROPPED_AFTER * 2,
                    consecutive_failures=9,
                    window=WindowSnapshot(9, 9),
                    reported_at=NOW - DROPPED_AFTER - timedelta(seconds=1),
                )
            ],
        )

    await database.write(gone)

    await recorder.record_if_due()

    assert [report.process for report in await _stored(database)] == [THIS]


async def test_a_stopped_recorder_deletes_its_own_rows(
    recorder: BreakerRecorder, database: Database
) -> None:
    await recorder.record_if_due()
    running = asyncio.create_task(recorder.run_forever())

    recorder.stop()
    await asyncio.wait_for(running, 5)

    assert await _stored(database) == []
