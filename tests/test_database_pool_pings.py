"""Pooled PostgreSQL connections (``database/pool_pings``): one that sat idle is pinged, and
replaced if it is dead, before a transaction gets it; one used a moment ago is not pinged."""

from __future__ import annotations

import asyncpg
import pytest
from payments_platform.database import Database, pool_pings

from .databases import admin_dsn, postgresql_only

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
