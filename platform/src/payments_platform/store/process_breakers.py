"""The ``process_breakers`` table: each running process's circuit breakers, as the process last
recorded them (:mod:`payments_platform.process_breakers` says when it does).

A handful of rows, one per process and gateway, each written only by its own process; the
recorders delete the rows of processes no longer heard from.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from payments_platform.breaker import BreakerState, WindowSnapshot
from payments_platform.process_breakers import BreakerReport, ProcessIdentity
from payments_platform.schema import process_breakers

_KEY = ("host", "pid", "started_at", "gateway")
_RECORDED = ("state", "state_since", "consecutive_failures", "window_calls", "window_failures")


def _upsert(dialect: str) -> Any:
    insert = (postgresql if dialect == "postgresql" else sqlite).insert(process_breakers)
    recorded = (*_RECORDED, "reported_at")
    return insert.on_conflict_do_update(
        index_elements=list(_KEY), set_={name: insert.excluded[name] for name in recorded}
    )


_UPSERT = {dialect: _upsert(dialect) for dialect in ("postgresql", "sqlite")}


def record(conn: sa.Connection, reports: Sequence[BreakerReport]) -> None:
    """Write the breakers of a process as reported (each replaces its earlier row)."""
    if not reports:
        return
    conn.execute(
        _UPSERT[conn.dialect.name],
        [
            {
                "host": report.process.host,
                "pid": report.process.pid,
                "started_at": report.process.started_at,
                "gateway": report.gateway,
                "state": report.state.value,
                "state_since": report.since,
                "consecutive_failures": report.consecutive_failures,
                "window_calls": report.window.calls,
                "window_failures": report.window.failures,
                "reported_at": report.reported_at,
            }
            for report in reports
        ],
    )


def forget_process(conn: sa.Connection, process: ProcessIdentity) -> None:
    """Delete the rows of ``process`` (it stops)."""
    conn.execute(
        sa.delete(process_breakers).where(
            process_breakers.c.host == process.host,
            process_breakers.c.pid == process.pid,
            process_breakers.c.started_at == process.started_at,
        )
    )


def forget_silent(conn: sa.Connection, *, before: datetime) -> int:
    """Delete the rows last recorded before ``before`` (their processes are gone); return how
    many."""
    result = conn.execute(
        sa.delete(process_breakers).where(process_breakers.c.reported_at < before)
    )
    return result.rowcount


def heard_since(conn: sa.Connection, since: datetime) -> list[BreakerReport]:
    """Every breaker recorded at or after ``since``, by process and gateway."""
    table = process_breakers.c
    rows = conn.execute(
        sa.select(process_breakers)
        .where(table.reported_at >= since)
        .order_by(table.host, table.pid, table.started_at, table.gateway)
    )
    return [
        BreakerReport(
            process=ProcessIdentity(row.host, row.pid, row.started_at),
            gateway=row.gateway,
            state=BreakerState(row.state),
            since=row.state_since,
            consecutive_failures=row.consecutive_failures,
            window=WindowSnapshot(row.window_calls, row.window_failures),
            reported_at=row.reported_at,
        )
        for row in rows
    ]
