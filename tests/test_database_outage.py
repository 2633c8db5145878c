"""A database out of reach is a 503 problem the client may retry, never a 500, and nothing
recorded before it is lost."""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
import sqlalchemy as sa
from databases import admin_dsn
from payments_platform.database import sqlite_connections
from payments_plugins.testing.asgi_server import free_port

from .conftest import AppFactory, Vendor, runtime_of
from .server_process import payments


@contextlib.asynccontextmanager
async def out_of_reach(backend: str, database_url: str) -> AsyncIterator[None]:
    """SQLite: another process holds the write lock past the busy timeout. PostgreSQL: the
    database refuses connections."""
    url = sa.make_url(database_url)
    if backend == "sqlite":
        holder = sqlite3.connect(url.database or "", isolation_level=None)
        holder.execute("BEGIN IMMEDIATE")
        try:
            yield
        finally:
            holder.rollback()
            holder.close()
        return
    admin = await asyncpg.connect(admin_dsn())
    name = url.database
    try:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        await admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = $1 AND pid <> pg_backend_pid()",
            name,
        )
        yield
    finally:
        await admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')
        await admin.close()


async def test_a_database_out_of_reach_is_a_503_the_client_can_retry(
    platform: AppFactory,
    vendor: Vendor,
    backend: str,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A short wait for the lock, so that the test does not wait the production 30 s.
    monkeypatch.setattr(sqlite_connections, "SQLITE_BUSY_TIMEOUT_MS", 100)
    gateways = {"json": {"type": "json", "settings": {"base_url": vendor.base_url}}}
    async with platform(gateways) as client:
        runtime_of(client).database.engine.dispose()  # connections made before the patch
        body = {"id": str(uuid.uuid4()), "currency": "AED", "amount_fractions": 1500}
        async with out_of_reach(backend, database_url):
            refused = await client.post("/init-payment", json=body)
            unready = await client.get("/ready")

        assert refused.status_code == 503, refused.text
        assert refused.headers["content-type"] == "application/problem+json"
        assert refused.headers["retry-after"] == "1"
        problem = refused.json()
        assert problem["code"] == "database-unavailable"
        assert "same ids" in problem["detail"]
        # A write lock leaves SQLite readable (WAL); a database refusing connections is not.
        assert unready.status_code == (200 if backend == "sqlite" else 503)
        assert (await vendor.calls()).get("initiate", 0) == 0

        retried = await client.post("/init-payment", json=body)
        assert retried.status_code == 201, retried.text
        assert (await client.get(f"/payments/{body['id']}")).json()["payment"]["status"] == (
            "initiated"
        )


@pytest.mark.parametrize(
    "command",
    [["migrate"], ["jobs"], ["config", "check"], ["worker"], ["serve", "--port", str(free_port())]],
)
def test_a_command_that_cannot_reach_the_database_says_so_in_one_line_and_exits_2(
    tmp_path: Path, command: list[str]
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]
    config = tmp_path / "payments.toml"
    config.write_text(
        f'[database]\nurl = "postgresql://127.0.0.1:{closed_port}/payments"\n'
        '[security]\nauth = "none"\n'
    )

    ran = payments(*command, "--config", str(config))

    assert ran.returncode == 2
    [line] = ran.stderr.splitlines()
    assert line.startswith(
        "payments: error: cannot use the database"
        f" postgresql+asyncpg://127.0.0.1:{closed_port}/payments: "
    )
    assert "Connect call failed" in line
