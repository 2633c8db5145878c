"""The database a bench run serves from: its own, created for the run and removed after it.

SQLite (the default) is a file in the run's work folder. For PostgreSQL, ``--db`` names a server
and a database to connect to (``postgresql://127.0.0.1:5432/test``); the run creates a database
of its own beside it, ``payments_bench_<random>``, and drops it at the end, so nothing of the
named database is touched.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from bench.processes import BenchError

POSTGRESQL_DRIVER = "postgresql+asyncpg"
SQLITE_FILE = "payments-bench.db"


@dataclass(frozen=True)
class BenchDatabase:
    """Where the server under test keeps its data."""

    url: str
    """SQLAlchemy URL of the database, as the platform's config takes it."""
    backend: str
    """``sqlite`` or ``postgresql``."""

    @property
    def display_url(self) -> str:
        """The URL without a password."""
        return sa.make_url(self.url).render_as_string(hide_password=True)


def postgresql_url(given: str) -> sa.URL:
    """The asyncpg URL of a ``postgresql://`` (or ``postgres://``) URL."""
    url = sa.make_url(given.replace("postgres://", "postgresql://", 1))
    if url.get_backend_name() != "postgresql":
        raise BenchError(f"--db must be a postgresql:// URL, not {url.drivername}://")
    return url.set(drivername=POSTGRESQL_DRIVER)


@contextlib.contextmanager
def bench_database(given: str | None, workdir: Path) -> Iterator[BenchDatabase]:
    """A fresh database for one run: SQLite in ``workdir``, or a PostgreSQL database of its own."""
    if given is None:
        path = workdir / SQLITE_FILE
        yield BenchDatabase(url=f"sqlite:///{path}", backend="sqlite")
        return
    server = postgresql_url(given)
    name = f"payments_bench_{secrets.token_hex(4)}"
    asyncio.run(_administer(server, f'CREATE DATABASE "{name}"'))
    try:
        yield BenchDatabase(
            url=server.set(database=name).render_as_string(hide_password=False),
            backend="postgresql",
        )
    finally:
        asyncio.run(_administer(server, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


async def _administer(server: sa.URL, statement: str) -> None:
    engine = create_async_engine(server, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text(statement))
    except OSError as error:
        raise BenchError(
            f"cannot reach PostgreSQL at {server.render_as_string()}: {error}"
        ) from None
    finally:
        await engine.dispose()
