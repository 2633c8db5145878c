"""How every SQLite connection is set up, and how its transactions begin.

Every connection runs in WAL with ``synchronous=FULL`` and foreign keys on. The driver's own
BEGIN is taken over so that a write transaction begins ``IMMEDIATE``: writers in other processes
then queue on the database lock instead of deadlocking when a read upgrades to a write. A
connection waits up to :data:`SQLITE_BUSY_TIMEOUT_MS` for another process's lock; the event
loop's write connection waits not at all, and :func:`begin_waiting` does the waiting for it on
the writer thread.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

SQLITE_BUSY_TIMEOUT_MS = 30_000
"""How long a transaction waits for another process's lock before it fails."""

WRITE = "payments_write_transaction"
"""The key of ``Connection.info`` that marks a connection's transactions as writes."""


def prepare_sqlite(engine: sa.Engine) -> None:
    """Set up every connection ``engine`` opens, and begin its transactions, as above."""

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over BEGIN from the driver so that write transactions can be IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        # FULL: a payment acknowledged to a client survives a power cut, not only a crash.
        cursor.execute("PRAGMA synchronous=FULL")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: sa.Connection) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE" if conn.info.get(WRITE) else "BEGIN")


def driver_connection(conn: sa.Connection) -> Any:
    """The sqlite3 connection under ``conn``."""
    return conn.connection.driver_connection


def begin_waiting(conn: sa.Connection) -> sa.RootTransaction:
    """Begin a transaction on ``conn``, a connection that otherwise never waits for another
    process's lock, waiting for it up to the busy timeout (on a thread: it blocks)."""
    driver = driver_connection(conn)
    driver.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
    try:
        return conn.begin()
    finally:
        driver.execute("PRAGMA busy_timeout=0")
