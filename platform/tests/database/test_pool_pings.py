"""Pooled PostgreSQL connections (``database/pool_pings``): one that sat idle is pinged, and
replaced if it is dead, before a transaction gets it; one used a moment ago is not pinged."""

from __future__ import annotations

from collections.abc import Callable

import asyncpg
import pytest
import sqlalchemy as sa
from databases import admin_dsn, postgresql_only
from payments_platform.database import Database, pool_pings
from sqlalchemy.dialects.postgresql.asyncpg import AsyncAdapt_asyncpg_connection

# SQLite has no server to drop a connection.
pytestmark = postgresql_only


async def test_a_pooled_connection_dropped_while_idle_is_replaced_before_use(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pool_pings, "POOL_PING_IDLE_SECONDS", 0.0)
    database = Database(database_url)
    try:
        backend_pid = await database.read(
            lambda conn: conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        )
        admin = await asyncpg.connect(admin_dsn())
        try:
            # Returns once the backend has gone (PostgreSQL 14 and later).
            assert await admin.fetchval("SELECT pg_terminate_backend($1, 10000)", backend_pid)
        finally:
            await admin.close()
        # The pooled connection is dead; the transaction gets a live one instead of failing.
        answer = await database.read(
            lambda conn: conn.exec_driver_sql("SELECT pg_backend_pid()").scalar_one()
        )
        assert answer != backend_pid
    finally:
        await database.dispose()


@pytest.mark.parametrize(("idle_seconds", "pings"), [(3600.0, 0), (0.0, 4)])
async def test_only_a_connection_idle_for_a_while_is_pinged(
    database_url: str, monkeypatch: pytest.MonkeyPatch, idle_seconds: float, pings: int
) -> None:
    """A ping is three round trips: one on every checkout would cost each transaction about
    180 us of CPU for a connection that was fine a moment ago."""
    pinged: list[object] = []
    ping: Callable[[AsyncAdapt_asyncpg_connection], None] = AsyncAdapt_asyncpg_connection.ping

    def counted(connection: AsyncAdapt_asyncpg_connection) -> None:
        pinged.append(connection)
        ping(connection)

    monkeypatch.setattr(AsyncAdapt_asyncpg_connection, "ping", counted)
    # Idle for longer than an hour never happens here; longer than no time at all always does.
    monkeypatch.setattr(pool_pings, "POOL_PING_IDLE_SECONDS", idle_seconds)
    database = Database(database_url, pool_size=1)
    try:
        for _ in range(5):  # a new connection, then four checkouts of it from the pool
            await database.read(lambda conn: conn.execute(sa.select(1)))
    finally:
        await database.dispose()
    assert len(pinged) == pings
