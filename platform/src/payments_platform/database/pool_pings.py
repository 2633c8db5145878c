"""Pooled PostgreSQL connections pinged before use, but only after they sat idle a while.

SQLAlchemy's ``pool_pre_ping`` pings on every checkout, and asyncpg's ping is three round trips
(BEGIN, an empty query, ROLLBACK): about 180 us of this process's CPU for each transaction, two
or three per payment. A connection the server or the network dropped is almost always one that
waited in the pool, so only those are pinged; one that fails is replaced before the transaction
starts. One that breaks while busy fails its transaction, which the client may retry (503), and
SQLAlchemy then replaces every pooled connection made before the failure.
"""

from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event

POOL_PING_IDLE_SECONDS = 5.0
"""A pooled PostgreSQL connection unused for longer is pinged before a transaction gets it."""
_CHECKED_IN_AT = "payments_checked_in_at"


def ping_when_idle(engine: sa.Engine) -> None:
    """Ping a connection of ``engine``'s pool as it is checked out, if it was idle longer than
    :data:`POOL_PING_IDLE_SECONDS`; replace it if the ping fails."""

    @event.listens_for(engine, "checkin")
    def _checked_in(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        checked_in = record.info.get(_CHECKED_IN_AT)
        if checked_in is None or time.monotonic() - checked_in < POOL_PING_IDLE_SECONDS:
            return
        try:
            dbapi_connection.ping()
        except Exception as error:
            # The pool discards this connection and checks out another (a new one if need be).
            raise sa.exc.DisconnectionError(str(error)) from error
