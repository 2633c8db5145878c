"""``payments serve`` and ``payments worker``: the long-running processes."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import functools
import inspect
import logging
import os
import signal
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from prometheus_client import multiprocess

from payments_platform.cli.common import (
    STARTUP_ERROR,
    CommandError,
    Options,
    add_command,
    listen,
    logger,
    on_demo_database,
    port_number,
    runtime_of,
    settings_of,
    with_database,
)
from payments_platform.config import Settings
from payments_platform.database import Database, driver_url
from payments_platform.demo import demo_warning
from payments_platform.logs import configure_logging
from payments_platform.runtime import Runtime
from payments_platform.score_refresh import ScoreRefresher
from payments_platform.telemetry import MULTIPROCESS_VARIABLE
from payments_platform.worker import Worker

if TYPE_CHECKING:
    from litestar import Litestar
    from litestar.types import ControllerRouterHandler

    from payments_platform.breaker_recorder import BreakerRecorder
    from payments_platform.worker import Worker


UVICORN_OPTIONS: dict[str, Any] = {"proxy_headers": False, "timeout_graceful_shutdown": 30}
"""The server options of ``payments serve`` besides address and logging (the bench's bare app
runs with them too)."""

WORKER_HEALTHCHECK_SECONDS = 30
"""How long a server process of several may take to answer its supervisor before it is
replaced."""
SQLITE_WORKERS_REFUSED = (
    "--workers above 1 needs PostgreSQL: on SQLite every write takes the one database lock,"
    " and processes waiting for it back off by sleeping, so one process starves the others"
    " (measured: p99 latency from 0.5 s to 1.5 s and more); run one process per SQLite file"
)

Routes = Sequence["ControllerRouterHandler"] | Callable[[], Sequence["ControllerRouterHandler"]]
"""Routes served beside the API, or a function returning them: with more than one worker, each
process builds its own app, so the function is what crosses to the process (it must be
importable)."""


def serve(settings: Settings, *, extra_routes: Routes = (), workers: int = 1) -> int:
    """Serve the API as ``payments serve`` does, ``extra_routes`` beside it; the exit status.

    ``workers`` server processes share the listening socket (bound here first, so that a port
    in use stops the start before anything else has run) and the database; each runs its own
    job worker unless ``[worker] enabled = false``.
    """
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from payments_platform.web.app import create_app  # noqa: PLC0415 - keeps other commands light

    listener = listen(settings.server.host, settings.server.port)
    try:
        if workers > 1 and driver_url(settings.database.url).get_backend_name() == "sqlite":
            raise CommandError(SQLITE_WORKERS_REFUSED)
        if settings.demo:
            banner = demo_warning(settings.server.host, settings.server.port)
            print(banner, file=sys.stderr, flush=True)
        runtime = started_runtime(settings)
        options = {
            "host": settings.server.host,
            "port": settings.server.port,
            "log_level": logging.getLogger().level,
            # uvicorn's events go through the platform's redacting handler
            "log_config": None,
            **UVICORN_OPTIONS,
        }
        if workers > 1:
            # Each process builds its own runtime; this one only checked that it can be built.
            asyncio.run(runtime.aclose())
            return _serve_processes(settings, extra_routes, workers, listener, options)
        app = create_app(runtime, extra_routes=_routes_of(extra_routes))
        logger.info(
            "serving on %s:%d with gateways %s",
            settings.server.host,
            settings.server.port,
            ", ".join(runtime.deps.gateways) or "(none)",
        )
        server = uvicorn.Server(uvicorn.Config(app, **options))
        server.run(sockets=[listener])
    finally:
        listener.close()
    # uvicorn has logged why the application did not start.
    return 0 if server.started else STARTUP_ERROR


def _routes_of(extra_routes: Routes) -> Sequence[ControllerRouterHandler]:
    return extra_routes() if callable(extra_routes) else extra_routes


def _serve_processes(
    settings: Settings,
    extra_routes: Routes,
    workers: int,
    listener: socket.socket,
    options: dict[str, Any],
) -> int:
    """Run ``workers`` server processes on ``listener`` under uvicorn's supervisor, which
    replaces a process that dies and stops them all on SIGTERM or SIGINT."""
    import uvicorn  # noqa: PLC0415 - only the server needs it
    from uvicorn.config import STARTUP_FAILURE  # noqa: PLC0415
    from uvicorn.supervisors import Multiprocess  # noqa: PLC0415

    routes: Callable[[], Sequence[ControllerRouterHandler]] | None = None
    if callable(extra_routes):
        routes = extra_routes
    elif extra_routes:
        raise CommandError("extra routes of a server with several workers must be a function")
    factory = functools.partial(_app_in_worker, settings, routes, logging.getLogger().level)
    if "timeout_worker_healthcheck" in inspect.signature(uvicorn.Config).parameters:
        # A new process imports the whole platform before it can answer the supervisor's
        # health check; on a busy machine that takes more than uvicorn's 5 s, and the
        # supervisor would kill it while it starts, again and again. (uvicorn before 0.37,
        # which the platform still allows, has no health check to lengthen.)
        options["timeout_worker_healthcheck"] = WORKER_HEALTHCHECK_SECONDS
    config = uvicorn.Config(factory, factory=True, workers=workers, **options)
    logger.info(
        "serving on %s:%d with %d worker processes",
        settings.server.host,
        settings.server.port,
        workers,
    )
    # Each process keeps its metrics in files here; /metrics, whichever process answers it,
    # adds them up (the breakers stay one series per process). Set before they start.
    with tempfile.TemporaryDirectory(prefix="payments-metrics-") as metrics:
        os.environ[MULTIPROCESS_VARIABLE] = metrics
        supervisor = Multiprocess(config, sockets=[listener])
        supervisor.run()
    failed = any(process.exitcode == STARTUP_FAILURE for process in supervisor.processes)
    return STARTUP_ERROR if failed else 0


def _app_in_worker(
    settings: Settings,
    extra_routes: Callable[[], Sequence[ControllerRouterHandler]] | None,
    level: int,
) -> Litestar:
    """The app of one server process of several (uvicorn calls it in the new process)."""
    from payments_platform.web.app import create_app  # noqa: PLC0415 - keeps other commands light

    configure_logging(level=level)
    # A process that stops leaves its in-progress gauges out of the sums from then on.
    atexit.register(multiprocess.mark_process_dead, os.getpid())
    # The schema was checked (or migrated) by the process that started this one.
    runtime = runtime_of(settings, observed=True)
    return create_app(runtime, extra_routes=extra_routes() if extra_routes else ())


def started_runtime(settings: Settings) -> Runtime:
    """The runtime of a server or worker, its database ready: the config is checked first."""
    runtime = runtime_of(settings, observed=True)
    for warning in runtime.rule_warnings():
        logger.warning("routing: %s", warning)
    try:
        prepare_database(settings)
    except BaseException:
        asyncio.run(runtime.aclose())
        raise
    return runtime


def prepare_database(settings: Settings) -> None:
    """Migrate (when configured to) or check the schema."""

    async def prepare(database: Database) -> None:
        if settings.database.migrate_on_start:
            for migration in await database.migrate():
                logger.info("applied migration %s: %s", migration.revision, migration.description)
        else:
            await database.check_schema()

    with_database(settings, prepare)


def _serve(args: argparse.Namespace) -> int:
    return serve(settings_of(args, host=args.host, port=args.port), workers=args.workers)


def _worker(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    on_demo_database(settings)
    runtime = started_runtime(settings)

    async def run() -> None:
        recorder = runtime.breaker_recorder()
        refresher = runtime.score_refresher()
        await refresher.warm()
        running: list[Worker | BreakerRecorder | ScoreRefresher] = [
            *runtime.workers(),
            *([recorder] if recorder else []),
            refresher,
        ]
        loop = asyncio.get_running_loop()

        def stop() -> None:
            for each in running:
                each.stop()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop)
        try:
            await asyncio.gather(*(each.run_forever() for each in running))
        finally:
            await runtime.aclose()

    asyncio.run(run())
    return 0


def worker_count(text: str) -> int:
    """A number of server processes: 1 or more."""
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if count < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {count}")
    return count


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], options: Options
) -> None:
    """``serve`` and ``worker``."""
    serve_parser = add_command(
        commands,
        "serve",
        "run the HTTP API (and a worker)",
        """\
Serve the HTTP API on --host and --port ([server] host and port; default
0.0.0.0:8080; the demo profile, whose API is open, listens on 127.0.0.1 only).
Unless [worker] enabled = false, the process also runs a worker for the jobs.
The database must be at the schema this version needs (run `payments migrate`
first) unless [database] migrate_on_start = true, as in the demo profile. On
SIGTERM or SIGINT it stops taking requests, finishes those in flight, lets
started jobs end and hands claimed ones back.""",
        parents=[options.configured],
    )
    serve_parser.add_argument(
        "--host",
        help="the interface to listen on (default: [server] host; the demo profile: 127.0.0.1)",
    )
    serve_parser.add_argument(
        "--port", type=port_number, help="the port to listen on (default: [server] port, 8080)"
    )
    serve_parser.add_argument(
        "--workers",
        type=worker_count,
        default=1,
        help="server processes sharing the port and the database (default: 1); PostgreSQL only",
    )
    serve_parser.set_defaults(run=_serve)

    worker = add_command(
        commands,
        "worker",
        "run jobs, without the API",
        """\
Run a worker and nothing else: claim the jobs that are due in the database
(initiate, refund, reconcile, expire), run them, retry failures with backoff;
before each claim, give a reconcile job to every gateway call still without an
answer past `reconcile_after_seconds` (its process died). Run as many as you
like beside `payments serve`. On SIGTERM or SIGINT it lets started jobs end
and hands claimed ones back.""",
        parents=[options.configured],
    )
    worker.set_defaults(run=_worker)
