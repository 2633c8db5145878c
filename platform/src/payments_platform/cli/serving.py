"""``payments serve`` and ``payments worker``: the long-running processes."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from payments_platform.cli.common import (
    STARTUP_ERROR,
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
from payments_platform.database import Database
from payments_platform.demo import DEMO_WARNING
from payments_platform.runtime import Runtime

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler


def serve(settings: Settings, *, extra_routes: Sequence[ControllerRouterHandler] = ()) -> int:
    """Serve the API as ``payments serve`` does, ``extra_routes`` beside it; the exit status."""
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from payments_platform.web.app import create_app  # noqa: PLC0415 - keeps other commands light

    listener = listen(settings.server.host, settings.server.port)
    try:
        if settings.demo:
            print(DEMO_WARNING, file=sys.stderr, flush=True)
        runtime = started_runtime(settings)
        app = create_app(runtime, extra_routes=extra_routes)
        logger.info(
            "serving on %s:%d with gateways %s",
            settings.server.host,
            settings.server.port,
            ", ".join(runtime.platform.gateways) or "(none)",
        )
        server = uvicorn.Server(
            uvicorn.Config(
                app,
                host=settings.server.host,
                port=settings.server.port,
                log_level=logging.getLogger().level,
                log_config=None,  # uvicorn's events go through the platform's redacting handler
                proxy_headers=False,
                timeout_graceful_shutdown=30,
            )
        )
        server.run(sockets=[listener])
    finally:
        listener.close()
    # uvicorn has logged why the application did not start.
    return 0 if server.started else STARTUP_ERROR


def started_runtime(settings: Settings) -> Runtime:
    """The runtime of a server or worker, its database ready: the config is checked first."""
    runtime = runtime_of(settings, observed=True)
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
    return serve(settings_of(args, host=args.host, port=args.port))


def _worker(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    on_demo_database(settings)
    runtime = started_runtime(settings)

    async def run() -> None:
        workers = runtime.workers()
        loop = asyncio.get_running_loop()

        def stop() -> None:
            for worker in workers:
                worker.stop()

        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, stop)
        try:
            await asyncio.gather(*(worker.run_forever() for worker in workers))
        finally:
            await runtime.aclose()

    asyncio.run(run())
    return 0


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
0.0.0.0:8080). Unless [worker] enabled = false, the process also runs a worker
for the jobs. The database must be at the schema this version needs (run
`payments migrate` first) unless [database] migrate_on_start = true, as in the
demo profile. On SIGTERM or SIGINT it stops taking requests, finishes those in
flight, lets started jobs end and hands claimed ones back.""",
        parents=[options.configured],
    )
    serve_parser.add_argument("--host", help="the interface to listen on (default: [server] host)")
    serve_parser.add_argument(
        "--port", type=port_number, help="the port to listen on (default: [server] port, 8080)"
    )
    serve_parser.set_defaults(run=_serve)

    worker = add_command(
        commands,
        "worker",
        "run jobs, without the API",
        """\
Run a worker and nothing else: claim the jobs that are due in the database
(initiate, refund, reconcile, expire), run them, retry failures with backoff.
Run as many as you like beside `payments serve`. On SIGTERM or SIGINT it lets
started jobs end and hands claimed ones back.""",
        parents=[options.configured],
    )
    worker.set_defaults(run=_worker)
