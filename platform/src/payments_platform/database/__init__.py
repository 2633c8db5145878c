"""The database: engines, short transactions and migrations.

SQLite (file, WAL) is the embedded default, PostgreSQL the production backend; the same code
runs on both. A transaction is a plain function of a synchronous :class:`sqlalchemy.Connection`
(:mod:`.work`) handed to :meth:`Database.write` or :meth:`Database.read`, so it cannot await
anything (a gateway call, say) while it holds locks. Each backend runs it its own way, and each
way has its reasons, given in its module:

* :mod:`.transactions`: :class:`Database`, which sends each transaction where it runs and
  answers a database out of reach with ``DatabaseUnavailable``.
* :mod:`.sqlite_writer`: SQLite's writes on the event loop, grouped into one commit whose disk
  wait happens on the writer thread; quick reads on the event loop too.
* :mod:`.sqlite_threads`: SQLite's other reads on a small pool of threads, migrations on the
  writer thread.
* :mod:`.sqlite_connections`: every SQLite connection in WAL with ``synchronous=FULL``, writes
  beginning ``IMMEDIATE``, and the wait for another process's lock.
* :mod:`.postgresql_transactions`: PostgreSQL's transactions on the event loop in one greenlet,
  on asyncpg's own transaction for a write and none for a read.
* :mod:`.pool_pings`: pooled PostgreSQL connections pinged only after they sat idle.
* :mod:`.schema_migrations`: the Alembic revisions, those pending, and the schema check.
* :mod:`.statement_spans`: a span per statement, when traces are recorded.
* :mod:`.urls`: the database URLs the platform takes.
"""

from payments_platform.database.schema_migrations import (
    Migration,
    SchemaOutOfDate,
    head_revision,
    pending_migrations,
)
from payments_platform.database.sqlite_threads import SQLITE_READ_THREADS
from payments_platform.database.transactions import Database
from payments_platform.database.urls import driver_url
from payments_platform.database.work import Work, after_commit

__all__ = [
    "SQLITE_READ_THREADS",
    "Database",
    "Migration",
    "SchemaOutOfDate",
    "Work",
    "after_commit",
    "driver_url",
    "head_revision",
    "pending_migrations",
]
