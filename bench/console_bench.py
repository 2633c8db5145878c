"""``python -m bench console``: the operator console's pages over a hundred thousand stored
payments, each page's server time judged against the issue's half a second.

1. A database of its own (SQLite in the run's work folder, or PostgreSQL with ``--db``),
   migrated; a week of history written into it by SQL (:mod:`bench.console_seeding`), then
   checkpointed (SQLite) or vacuumed and analyzed (PostgreSQL), as a running service's would be.
2. ``payments serve`` on it, with one operator account in its config.
3. Signed in as a browser signs in: the form, its CSRF token and cookie, the session cookie.
4. Every page and partial (:mod:`bench.console_pages`) asked for ``--warmup`` times, then
   ``--rounds`` times timed, one after another; then each CSV file downloaded once.

A smoke run (``--smoke``) writes a few hundred payments and asks for every page and file once,
judging only that each answered 200.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
from payments_platform.database import Database
from payments_platform.operators import hash_password
from payments_platform.schema import metadata
from payments_plugins.testing.asgi_server import free_port

from bench import console_facts, console_seeding
from bench.console_pages import (
    ConsoleSession,
    exports,
    find_landmarks,
    idle_cpu_ms_per_second,
    pages,
)
from bench.console_report import ConsoleReport, evaluate, smoke_problems
from bench.database import BenchDatabase, bench_database
from bench.deployment import migrate, work_folder, write_console_config
from bench.processes import python_module, running
from bench.run import machine_facts
from bench.seeding import quiesce

OPERATOR = "bench"


@dataclass(frozen=True, kw_only=True)
class ConsoleOptions:
    """What the command line asked for."""

    payments: int
    db: str | None
    rounds: int
    """Timed requests per page."""
    warmup: int
    """Requests per page before the timed ones."""
    output: Path
    keep: bool
    smoke: bool = False


def run_console(options: ConsoleOptions) -> ConsoleReport:
    """Write the history, serve it, sign in and time every page; the report, its targets
    judged (a smoke run: its problems listed instead)."""
    started = time.perf_counter()
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    load_before = os.getloadavg()[0]
    with work_folder(options.keep) as workdir, bench_database(options.db, workdir) as database:
        password = secrets.token_urlsafe(18)
        config = workdir / "payments.toml"
        port = free_port()
        write_console_config(config, database, port, OPERATOR, hash_password(password))
        print(f"database: {database.display_url}; migrating ...", flush=True)
        migrate(config, workdir)
        print(f"storing {options.payments:,} payments with their history ...", flush=True)
        seeding = time.perf_counter()
        now = datetime.now(UTC)
        asyncio.run(console_seeding.write_history(database.url, options.payments, now))
        asyncio.run(quiesce(database.url))
        seeding_seconds = time.perf_counter() - seeding
        stored = asyncio.run(_row_counts(database.url))
        marks = asyncio.run(find_landmarks(database.url, now))
        version = asyncio.run(_server_version(database))
        command = python_module(
            "payments_platform.cli",
            "serve",
            f"--config={config}",
            "--host=127.0.0.1",
            f"--port={port}",
        )
        base_url = f"http://127.0.0.1:{port}"
        with running(
            "server", command, workdir=workdir, base_url=base_url, ready_path="/health"
        ) as server:
            session = ConsoleSession(server)
            try:
                session.sign_in(OPERATOR, password)
                idle = idle_cpu_ms_per_second(server, 0.5 if options.smoke else 2.0)
                figures = []
                for page in pages(marks):
                    print(f"page {page.label} ...", flush=True)
                    figures.append(
                        session.measure(page, warmup=options.warmup, rounds=options.rounds)
                    )
                files = []
                for export in exports():
                    print(f"file {export.label} ...", flush=True)
                    files.append(session.export(export))
            finally:
                session.close()
    report = ConsoleReport(
        started_at=started_at,
        seconds=time.perf_counter() - started,
        machine=machine_facts(load_before),
        settings={
            "database": database.backend,
            "database_version": version,
            "payments": str(options.payments),
            "history_days": str(console_facts.SPAN.days),
            "warmup_requests": str(options.warmup),
            "timed_requests": str(options.rounds),
            "smoke": str(options.smoke).lower(),
        },
        stored=stored,
        seeding_seconds=seeding_seconds,
        idle_cpu_ms_per_second=idle,
        pages=figures,
        exports=files,
    )
    if options.smoke:
        report.smoke_problems = smoke_problems(report)
    else:
        report.targets = evaluate(report)
    return report


async def _row_counts(url: str) -> dict[str, int]:
    """How many rows each of the platform's tables holds."""
    database = Database(url, pool_size=0)

    def read(conn: sa.Connection) -> dict[str, int]:
        return {
            name: int(conn.execute(sa.select(sa.func.count()).select_from(table)).scalar_one())
            for name, table in metadata.tables.items()
        }

    try:
        return await database.read(read)
    finally:
        await database.dispose()


async def _server_version(database: BenchDatabase) -> str:
    if database.backend == "sqlite":
        return f"SQLite {sqlite3.sqlite_version}"
    server = Database(database.url, pool_size=0)
    try:
        found = await server.read(lambda conn: conn.exec_driver_sql("SHOW server_version").scalar())
    finally:
        await server.dispose()
    return f"PostgreSQL {found}"
