"""The database URLs the platform takes, and the driver it uses for each backend."""

from __future__ import annotations

import sqlalchemy as sa

# ``sqlite+aiosqlite`` is what earlier versions wrote in configs; it names the same database.
_DRIVERS = {"sqlite": "pysqlite", "postgresql": "asyncpg"}
_ACCEPTED = {"sqlite": {"pysqlite", "aiosqlite"}, "postgresql": {"asyncpg"}}


def driver_url(url: str) -> sa.URL:
    """The URL with the driver the platform uses for its backend.

    ``postgresql://host/db`` becomes ``postgresql+asyncpg://host/db``; ``sqlite:///x.db`` (and
    ``sqlite+aiosqlite:///x.db``) becomes ``sqlite+pysqlite:///x.db``. Other backends and drivers
    are refused.
    """
    parsed = sa.make_url(url)
    backend = parsed.get_backend_name()
    driver = _DRIVERS.get(backend)
    if driver is None:
        raise ValueError(f"database {backend!r} is not supported: use sqlite or postgresql")
    named = parsed.get_driver_name() if "+" in parsed.drivername else None
    if named is not None and named not in _ACCEPTED[backend]:
        raise ValueError(f"driver {named!r} is not supported for {backend}: leave it out")
    if backend == "sqlite" and parsed.database in (None, "", ":memory:"):
        raise ValueError("an in-memory SQLite database would lose every payment: name a file")
    return parsed.set(drivername=f"{backend}+{driver}")
