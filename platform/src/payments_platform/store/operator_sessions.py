"""The ``operator_sessions`` table: who is signed in to the console, until when.

A session is found by the SHA-256 of its token (the cookie's value), so the table holds nothing
that would let anyone who reads it act as an operator. Every process of the deployment reads the
same table: a sign-in works on any replica and a sign-out ends the session on all of them. Each
session keeps what ties it to its operator's password hash (``credentials_hmac``), which the
use case checks against the configured operators on every request.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import msgspec
import sqlalchemy as sa

from payments_platform.schema import operator_sessions
from payments_platform.store.sql import Reader


class OperatorSession(msgspec.Struct, frozen=True, kw_only=True):
    """A signed-in operator, as stored."""

    token_sha256: str
    operator: str
    csrf_token: str
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
    credentials_hmac: str
    """The operator's password hash it was opened with, keyed with its token."""


_READER = Reader(OperatorSession, operator_sessions)


def create(
    conn: sa.Connection,
    *,
    token_sha256: str,
    operator: str,
    csrf_token: str,
    credentials_hmac: str,
    now: datetime,
    lifetime: timedelta,
) -> None:
    """Record a new session, valid for ``lifetime`` at most."""
    conn.execute(
        sa.insert(operator_sessions),
        {
            "token_sha256": token_sha256,
            "operator": operator,
            "csrf_token": csrf_token,
            "credentials_hmac": credentials_hmac,
            "created_at": now,
            "last_seen_at": now,
            "expires_at": now + lifetime,
        },
    )


def find(
    conn: sa.Connection, token_sha256: str, *, now: datetime, idle: timedelta
) -> OperatorSession | None:
    """The session, unless it has expired or was left unused for ``idle``."""
    row = conn.execute(
        sa.select(operator_sessions).where(
            operator_sessions.c.token_sha256 == token_sha256,
            operator_sessions.c.expires_at > now,
            operator_sessions.c.last_seen_at > now - idle,
        )
    ).one_or_none()
    return None if row is None else _READER.read_row(row)


def touch(conn: sa.Connection, token_sha256: str, now: datetime) -> None:
    """The session was used at ``now``."""
    conn.execute(
        sa.update(operator_sessions)
        .where(operator_sessions.c.token_sha256 == token_sha256)
        .values(last_seen_at=now)
    )


def delete(conn: sa.Connection, token_sha256: str) -> str | None:
    """End the session (signing out); the operator whose it was, None if there was none."""
    found = conn.execute(
        sa.delete(operator_sessions)
        .where(operator_sessions.c.token_sha256 == token_sha256)
        .returning(operator_sessions.c.operator)
    ).scalar_one_or_none()
    return None if found is None else str(found)


def delete_of_operator(conn: sa.Connection, operator: str) -> int:
    """End every session of ``operator``; return how many there were."""
    result = conn.execute(
        sa.delete(operator_sessions).where(operator_sessions.c.operator == operator)
    )
    return result.rowcount


def delete_stale(conn: sa.Connection, *, now: datetime, idle: timedelta) -> int:
    """Drop the sessions that can no longer be used; return how many."""
    result = conn.execute(
        sa.delete(operator_sessions).where(
            sa.or_(
                operator_sessions.c.expires_at <= now,
                operator_sessions.c.last_seen_at <= now - idle,
            )
        )
    )
    return result.rowcount
