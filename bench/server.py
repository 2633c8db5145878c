"""Run ``payments serve`` with the bench's own routes beside the API.

``python -m bench.server --config PATH --host H --port P [--workers N]`` reads its arguments as
``payments serve`` does and serves through the very function that command runs (settings,
schema check, runtime, uvicorn and its options, worker processes), so the bench measures the
production server. The only differences are two routes served beside the API:

* ``POST /bench/echo``: same app, same middleware, same JSON body decoding, and no use case,
  database or vendor call behind it. Minus the bare app's echo (``bench.bare``), it is what the
  middleware and the framework cost every request.
* ``POST /bench/statements``: ``{"count": true}`` starts counting the SQL statements and
  transactions this process runs, ``{"count": false}`` stops and answers the counts. The
  counting listeners are on the engine only between the two calls, so a measured run pays
  nothing for them (the bench counts during warm-ups).
"""

from __future__ import annotations

import sys
import threading
from collections.abc import Sequence
from typing import Any

import msgspec
import sqlalchemy as sa
from litestar import post
from litestar.di import NamedDependency
from litestar.types import ControllerRouterHandler
from payments_platform import cli
from payments_platform.cli.common import log_level
from payments_platform.logs import configure_logging
from payments_platform.store import sql
from payments_platform.usecases.dependencies import Dependencies
from payments_platform.web.client_input import InitPaymentBody

ECHO_PATH = "/bench/echo"
STATEMENTS_PATH = "/bench/statements"
_CONTROL = frozenset({"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE"})
_WRITES = frozenset({"INSERT", "UPDATE", "DELETE"})
_WROTE = "bench_transaction_wrote"


@post(ECHO_PATH, status_code=200, include_in_schema=False)
async def echo(data: InitPaymentBody) -> InitPaymentBody:
    """Decode an init-payment body and send it back."""
    return data


class CountRequest(msgspec.Struct, frozen=True):
    """Start (``True``) or stop (``False``) counting."""

    count: bool


class StatementCounts(msgspec.Struct, frozen=True, kw_only=True):
    """What the database was asked while counting."""

    statements: int
    """SQL statements, BEGIN, COMMIT and the like left out."""
    transactions: int
    """Commits (on SQLite one commit may carry several requests' writes: group commit)."""
    durable_commits: int
    """Commits that wrote (INSERT, UPDATE or DELETE): a log sync each."""


class _Counter:
    """Listeners on the engine's events, there only while counting."""

    def __init__(self) -> None:
        self.lock = threading.Lock()  # SQLite runs transactions on threads
        self.engine: sa.Engine | None = None
        self.statements = self.transactions = self.durable_commits = 0

    def start(self, engine: sa.Engine) -> None:
        self.stop()
        self.statements = self.transactions = self.durable_commits = 0
        self.engine = engine
        sa.event.listen(engine, "before_cursor_execute", self._statement)
        sa.event.listen(engine, "commit", self._commit)
        sql.observers.append(self._hot_statement)

    def stop(self) -> StatementCounts:
        if self.engine is not None:
            sa.event.remove(self.engine, "before_cursor_execute", self._statement)
            sa.event.remove(self.engine, "commit", self._commit)
            sql.observers.remove(self._hot_statement)
            self.engine = None
        return StatementCounts(
            statements=self.statements,
            transactions=self.transactions,
            durable_commits=self.durable_commits,
        )

    def _statement(self, conn: sa.Connection, *args: Any) -> None:
        self._hot_statement(conn, args[1])

    def _hot_statement(self, conn: sa.Connection, text: str) -> None:
        # The statements the store runs on the driver itself come here without SQLAlchemy.
        words = text.split(None, 1)
        verb = words[0].upper() if words else ""
        if verb == "COMMIT":  # a PostgreSQL transaction asyncpg committed (store.sql)
            self._commit(conn)
            return
        if verb in _CONTROL:
            return
        if verb in _WRITES:
            conn.info[_WROTE] = True
        with self.lock:
            self.statements += 1

    def _commit(self, conn: sa.Connection) -> None:
        wrote = conn.info.pop(_WROTE, False)
        with self.lock:
            self.transactions += 1
            self.durable_commits += wrote


_counter = _Counter()


@post(STATEMENTS_PATH, status_code=200, include_in_schema=False)
async def statements(
    data: CountRequest, deps: NamedDependency[Dependencies]
) -> StatementCounts | None:
    """Start counting, or stop and answer the counts."""
    if data.count:
        _counter.start(deps.database.engine)
        return None
    return _counter.stop()


def bench_routes() -> list[ControllerRouterHandler]:
    """The routes the bench adds to the app (each server process builds its own app)."""
    return [echo, statements]


def main(argv: Sequence[str] | None = None) -> int:
    """Serve like ``payments serve ARGS`` with the bench's routes added."""
    args = cli.parser().parse_args(["serve", *(sys.argv[1:] if argv is None else argv)])
    # As `payments serve` starts: logging at its level (info unless told), access log included.
    configure_logging(level=log_level(args))
    return cli.serve(
        cli.settings_of(args, host=args.host, port=args.port),
        extra_routes=bench_routes,
        workers=args.workers,
    )


if __name__ == "__main__":
    sys.exit(main())
