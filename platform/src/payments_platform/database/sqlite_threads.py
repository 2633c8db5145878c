"""SQLite transactions handed to a thread: the reads that are not quick, on a small pool of
reader threads, and migrations, on the writer thread.

A read that may take a while (a listing, say) would stop the event loop if it ran there; WAL
lets it run beside the writes, on a connection of its own. A migration runs on the writer
thread, where SQLite's lock may be waited for, with foreign keys checked at its end rather
than at each statement (see :meth:`~.transactions.Database.migrate`).
"""

from __future__ import annotations

from typing import TypeVar

import sqlalchemy as sa

from payments_platform.database.sqlite_connections import WRITE
from payments_platform.database.work import AFTER_COMMIT, Effects, Work

T = TypeVar("T")

SQLITE_READ_THREADS = 4
"""The reader threads, each with a connection of its own."""


def thread_transaction(
    engine: sa.Engine, work: Work[T], write: bool, foreign_keys: bool = True
) -> tuple[T, Effects]:
    """Run ``work`` in a transaction of its own on a connection of ``engine`` (blocking: call
    it on a thread); ``foreign_keys=False`` checks them once, before the commit."""
    with engine.connect() as conn:
        conn.info[WRITE] = write
        # SQLite switches foreign keys only outside a transaction, so on the driver itself.
        driver = conn.connection.driver_connection
        if not foreign_keys and driver is not None:
            driver.execute("PRAGMA foreign_keys=OFF")
        try:
            with conn.begin():
                result = work(conn)
                if not foreign_keys:
                    broken = conn.exec_driver_sql("PRAGMA foreign_key_check").fetchall()
                    if broken:
                        raise RuntimeError(f"the migration broke foreign keys: {broken}")
            return result, conn.info.get(AFTER_COMMIT, [])
        finally:
            conn.info.pop(WRITE, None)
            conn.info.pop(AFTER_COMMIT, None)
            if not foreign_keys and driver is not None:
                driver.execute("PRAGMA foreign_keys=ON")
