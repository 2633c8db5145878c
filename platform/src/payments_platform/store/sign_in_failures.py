"""The ``sign_in_failures`` table: failed sign-ins to the console, counted per account and per
network address, and the lock-outs they led to.

A subject (``operator:<name>``, ``address:<ip>``) counts its failures from the first one; a
count older than the lock-out period starts again. When the count reaches its limit the subject
is locked until the period has passed. Every process shares the counts.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from payments_platform.schema import sign_in_failures

_INSERT = {
    "postgresql": postgresql.insert(sign_in_failures).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(sign_in_failures).on_conflict_do_nothing(),
}


def locked_until(conn: sa.Connection, subjects: Sequence[str], now: datetime) -> datetime | None:
    """The latest lock-out still in force on any of ``subjects``, if one is."""
    latest = conn.execute(
        sa.select(sa.func.max(sign_in_failures.c.locked_until)).where(
            sign_in_failures.c.subject.in_(list(subjects)),
            sign_in_failures.c.locked_until > now,
        )
    ).scalar_one_or_none()
    return None if latest is None else _utc(latest)


def record_failure(
    conn: sa.Connection, subject: str, *, now: datetime, limit: int, lockout: timedelta
) -> bool:
    """Count a failed sign-in against ``subject``; True if it is locked out from now on."""
    conn.execute(
        _INSERT[conn.dialect.name],
        {"subject": subject, "failures": 0, "first_failed_at": now, "locked_until": None},
    )
    row = conn.execute(
        sa.select(sign_in_failures.c.failures, sign_in_failures.c.first_failed_at)
        .where(sign_in_failures.c.subject == subject)
        .with_for_update()
    ).one()
    failures, first = row.failures, _utc(row.first_failed_at)
    if first <= now - lockout:
        # The earlier failures are too old to count: this one starts a new count.
        failures, first = 0, now
    failures += 1
    locked = bool(failures >= limit)
    conn.execute(
        sa.update(sign_in_failures)
        .where(sign_in_failures.c.subject == subject)
        .values(
            failures=0 if locked else failures,
            first_failed_at=first,
            locked_until=now + lockout if locked else None,
        )
    )
    return locked


def _utc(value: datetime) -> datetime:
    # SQLite keeps no time zone; every timestamp the platform writes is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def clear(conn: sa.Connection, subject: str) -> None:
    """Forget the failures of ``subject`` (it signed in)."""
    conn.execute(sa.delete(sign_in_failures).where(sign_in_failures.c.subject == subject))
