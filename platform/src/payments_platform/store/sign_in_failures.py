"""The ``sign_in_failures`` table: failed sign-ins to the console, counted per network address
(``address:<ip>``) and per operator name from an address (``operator:<name>@<ip>``), and the
lock-outs and delays they led to (decided by :mod:`payments_platform.sign_in_limits`).

Every process shares the counts, so spreading guesses over replicas gains nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from payments_platform.schema import sign_in_failures
from payments_platform.sign_in_limits import FailureCount

_INSERT = {
    "postgresql": postgresql.insert(sign_in_failures).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(sign_in_failures).on_conflict_do_nothing(),
}


def address_subject(address: str) -> str:
    """The subject failures from ``address`` are counted against, whatever the names."""
    return f"address:{address}"


def name_subject(name: str, address: str) -> str:
    """The subject failures to operator ``name`` from ``address`` are counted against."""
    return f"operator:{name}@{address}"


def latest_lock(
    conn: sa.Connection, subjects: Sequence[str], now: datetime
) -> tuple[str, datetime] | None:
    """The subject whose lock-out or delay in force ends last, and when, if one is."""
    row = conn.execute(
        sa.select(sign_in_failures.c.subject, sign_in_failures.c.locked_until)
        .where(
            sign_in_failures.c.subject.in_(list(subjects)),
            sign_in_failures.c.locked_until > now,
        )
        .order_by(sign_in_failures.c.locked_until.desc())
        .limit(1)
    ).one_or_none()
    return None if row is None else (row.subject, row.locked_until)


def claim(conn: sa.Connection, subject: str, now: datetime) -> FailureCount:
    """The count of ``subject`` (none yet: zero, from ``now``), its row locked until the
    transaction ends, so that concurrent failures are each counted."""
    conn.execute(
        _INSERT[conn.dialect.name],
        {"subject": subject, "failures": 0, "first_failed_at": now, "locked_until": None},
    )
    row = conn.execute(
        sa.select(
            sign_in_failures.c.failures,
            sign_in_failures.c.first_failed_at,
            sign_in_failures.c.locked_until,
        )
        .where(sign_in_failures.c.subject == subject)
        .with_for_update()
    ).one()
    return FailureCount(
        row.failures,
        row.first_failed_at,
        row.locked_until,
    )


def save(conn: sa.Connection, subject: str, count: FailureCount) -> None:
    """Store the count of ``subject`` (claimed first)."""
    conn.execute(
        sa.update(sign_in_failures)
        .where(sign_in_failures.c.subject == subject)
        .values(
            failures=count.failures,
            first_failed_at=count.first_failed_at,
            locked_until=count.locked_until,
        )
    )


def clear(conn: sa.Connection, subject: str) -> None:
    """Forget the failures of ``subject`` (it signed in)."""
    conn.execute(sa.delete(sign_in_failures).where(sign_in_failures.c.subject == subject))


def delete_forgotten(conn: sa.Connection, *, before: datetime) -> int:
    """Drop the counts whose first failure and lock-out both ended before ``before``, which
    :mod:`payments_platform.sign_in_limits` would start again anyway; return how many."""
    result = conn.execute(
        sa.delete(sign_in_failures).where(
            sign_in_failures.c.first_failed_at <= before,
            sa.or_(
                sign_in_failures.c.locked_until.is_(None),
                sign_in_failures.c.locked_until <= before,
            ),
        )
    )
    return result.rowcount
