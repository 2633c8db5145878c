"""PostgreSQL transactions: on the event loop in one greenlet, on asyncpg's own transaction.

:class:`~.transactions.Database` runs :func:`postgresql_transaction` in one greenlet
(SQLAlchemy's ``greenlet_spawn``), where each call to asyncpg is awaited for the synchronous
work. SQLAlchemy's asyncpg adapter would begin a transaction at the first statement it runs
itself; the store's statements go to asyncpg directly (:mod:`payments_platform.store.sql`), so
the transaction is asyncpg's own, and SQLAlchemy (its engine in AUTOCOMMIT, leaving transactions
alone) runs its statements inside it. A read gets none: at READ COMMITTED every statement takes
its own snapshot, in a transaction or not, and BEGIN and COMMIT would be two round trips for
nothing.
"""

from __future__ import annotations

from typing import TypeVar

import sqlalchemy as sa

from payments_platform.database.work import AFTER_COMMIT, Effects, Work
from payments_platform.store import sql

T = TypeVar("T")


def postgresql_transaction(engine: sa.Engine, work: Work[T], write: bool) -> tuple[T, Effects]:
    """Run ``work`` on a connection of ``engine``: in a transaction if it ``write``\\ s, committed
    on return and rolled back if it raises; without one if it reads. Call it in a greenlet."""
    with engine.connect() as conn:
        try:
            if not write:
                return work(conn), conn.info.get(AFTER_COMMIT, [])
            transaction = sql.asyncpg_connection(conn).transaction()
            sql.call(conn, transaction.start())
            try:
                result = work(conn)
            except BaseException:
                try:
                    sql.call(conn, transaction.rollback())
                except Exception:
                    # Never back to the pool with a transaction open.
                    if not conn.invalidated:
                        conn.invalidate()
                raise
            sql.call(conn, transaction.commit())
            for observe in sql.observers:
                observe(conn, "COMMIT")
            return result, conn.info.get(AFTER_COMMIT, [])
        finally:
            conn.info.pop(AFTER_COMMIT, None)
