"""The ``process_breakers`` table on both backends: a process's rows replaced by its next record,
read back as recorded, deleted when it stops or goes silent."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from payments_platform.breaker import BreakerState, WindowSnapshot
from payments_platform.process_breakers import BreakerReport, ProcessIdentity
from payments_platform.store import process_breakers

from store.payment_rows import InTransaction

NOW = datetime(2026, 12, 1, 12, 30, 20, 123456, tzinfo=UTC)
WEB = ProcessIdentity("web-1", 4242, NOW - timedelta(hours=2, microseconds=7))
WORKER = ProcessIdentity("worker-1", 99, NOW - timedelta(hours=3))


def _report(
    process: ProcessIdentity, gateway: str, state: BreakerState, at: datetime
) -> BreakerReport:
    return BreakerReport(
        process=process,
        gateway=gateway,
        state=state,
        since=at - timedelta(seconds=30),
        consecutive_failures=3 if state is BreakerState.OPEN else 0,
        window=WindowSnapshot(10, 6),
        reported_at=at,
    )


async def test_a_process_s_next_record_replaces_its_rows_and_is_read_back_as_written(
    in_transaction: InTransaction,
) -> None:
    def body(conn: sa.Connection) -> None:
        earlier = NOW - timedelta(seconds=10)
        process_breakers.record(
            conn,
            [
                _report(WEB, "json", BreakerState.CLOSED, earlier),
                _report(WEB, "soap", BreakerState.CLOSED, earlier),
            ],
        )
        process_breakers.record(conn, [_report(WORKER, "json", BreakerState.CLOSED, earlier)])
        latest = [
            _report(WEB, "json", BreakerState.OPEN, NOW),
            _report(WEB, "soap", BreakerState.CLOSED, NOW),
        ]
        process_breakers.record(conn, latest)

        found = process_breakers.heard_since(conn, NOW - timedelta(minutes=1))
        assert found == [*latest, _report(WORKER, "json", BreakerState.CLOSED, earlier)]
        assert process_breakers.heard_since(conn, NOW - timedelta(seconds=5)) == latest

    await in_transaction(body)


async def test_a_process_that_stops_or_goes_silent_has_its_rows_deleted(
    in_transaction: InTransaction,
) -> None:
    def body(conn: sa.Connection) -> None:
        process_breakers.record(conn, [_report(WEB, "json", BreakerState.OPEN, NOW)])
        silent = NOW - timedelta(minutes=20)
        process_breakers.record(conn, [_report(WORKER, "json", BreakerState.OPEN, silent)])

        assert process_breakers.forget_silent(conn, before=NOW - timedelta(minutes=10)) == 1
        assert [r.process for r in process_breakers.heard_since(conn, silent)] == [WEB]
        process_breakers.forget_process(conn, WEB)
        assert process_breakers.heard_since(conn, silent) == []

    await in_transaction(body)
