"""The ``payments`` command: serve, worker, migrate, jobs, keys, plugins, plugin new, config
check."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from payments_plugins import scaffold

from payments_platform import access, jobs
from payments_platform.config import (
    CONFIG_PATH_VARIABLE,
    GATEWAY_NAME,
    ConfigError,
    Settings,
    load_settings,
)
from payments_platform.database import SchemaOutOfDate
from payments_platform.demo import DEMO_WARNING
from payments_platform.errors import DatabaseUnavailable
from payments_platform.jobs import JobStatus
from payments_platform.logs import configure_logging
from payments_platform.plugin_host import PluginError, PluginHost
from payments_platform.records import utc_now
from payments_platform.runtime import Runtime, build_runtime, open_database
from payments_platform.telemetry import TelemetryError, configure_tracing

if TYPE_CHECKING:
    from litestar.types import ControllerRouterHandler

logger = logging.getLogger("payments")


def _config_path(args: argparse.Namespace) -> Path | None:
    given = args.config or os.environ.get(CONFIG_PATH_VARIABLE)
    return Path(given) if given else None


def settings_of(args: argparse.Namespace, **server: object) -> Settings:
    """The settings a command's arguments name (``--config``, or the demo profile), with the
    environment's overrides and ``server`` values (``host``, ``port``) on top."""
    environ = dict(os.environ)
    for key, value in server.items():
        if value is not None:
            environ[f"PAYMENTS_SERVER__{key.upper()}"] = str(value)
    return load_settings(_config_path(args), environ)


def _runtime(settings: Settings, *, observed: bool = False) -> Runtime:
    if observed:
        configure_tracing(os.environ)
    plugins = PluginHost.discover(settings.plugins)
    for failure in plugins.failures:
        logger.warning("%s", failure.describe())
    runtime = build_runtime(settings, plugins)
    # From here on, nothing configured as a secret reaches the logs.
    configure_logging(runtime.secrets)
    return runtime


def _serve(args: argparse.Namespace) -> int:
    serve(settings_of(args, host=args.host, port=args.port))
    return 0


def serve(settings: Settings, *, extra_routes: Sequence[ControllerRouterHandler] = ()) -> None:
    """Serve the API as ``payments serve`` does; ``extra_routes`` are served beside it."""
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from payments_platform.web.app import create_app  # noqa: PLC0415 - keeps other commands light

    if settings.demo:
        print(DEMO_WARNING, file=sys.stderr, flush=True)
    asyncio.run(_prepare_database(settings))
    runtime = _runtime(settings, observed=True)
    app = create_app(runtime, extra_routes=extra_routes)
    logger.info(
        "serving on %s:%d with gateways %s",
        settings.server.host,
        settings.server.port,
        ", ".join(runtime.platform.gateways) or "(none)",
    )
    uvicorn.run(
        app,
        host=settings.server.host,
        port=settings.server.port,
        log_level="info",
        log_config=None,  # uvicorn's events go through the platform's redacting handler
        proxy_headers=False,
        timeout_graceful_shutdown=30,
    )


async def _prepare_database(settings: Settings) -> None:
    """Migrate (when configured to) or check the schema, before the server takes requests."""
    # A connection pool is bound to its event loop; the server's loop gets its own.
    database = open_database(settings)
    try:
        if settings.database.migrate_on_start:
            await database.migrate()
        else:
            await database.check_schema()
    finally:
        await database.dispose()


def _migrate(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    database = open_database(settings)

    async def run() -> None:
        try:
            await database.migrate()
        finally:
            await database.dispose()

    asyncio.run(run())
    print(f"database {database.url.render_as_string(hide_password=True)} is up to date")
    return 0


def _worker(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    asyncio.run(_prepare_database(settings))
    runtime = _runtime(settings, observed=True)

    async def run() -> None:
        worker = runtime.worker()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(signum, worker.stop)
        try:
            await worker.run_forever()
        finally:
            await runtime.aclose()

    asyncio.run(run())
    return 0


def _jobs(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    database = open_database(settings)

    async def run() -> int:
        try:
            await database.check_schema()
            if args.jobs_command == "retry":
                now = utc_now()
                revived = await database.write(lambda conn: jobs.revive(conn, args.job_id, now))
                if not revived:
                    print(f"job {args.job_id} is not dead; nothing to retry", file=sys.stderr)
                    return 1
                print(f"job {args.job_id} will run again")
                return 0
            statuses = (
                list(JobStatus)
                if args.all
                else [
                    JobStatus.PENDING,
                    JobStatus.RUNNING,
                    JobStatus.DEAD,
                ]
            )
            found = await database.read(lambda conn: jobs.list_jobs(conn, statuses))
        finally:
            await database.dispose()
        _print_jobs(found)
        return 0

    return asyncio.run(run())


def _print_jobs(found: Sequence[jobs.Job]) -> None:
    if not found:
        print("no jobs")
        return
    print(
        f"{'id':>8}  {'kind':<10} {'status':<8} {'tries':>5}  {'due (UTC)':<19}  payment / refund"
    )
    for job in found:
        tries = f"{job.attempts}/{job.max_attempts}"
        due = job.run_at.strftime("%Y-%m-%d %H:%M:%S")
        subject = str(job.payment_id) + (f" / {job.refund_id}" if job.refund_id else "")
        print(f"{job.id:>8}  {job.kind:<10} {job.status:<8} {tries:>5}  {due:<19}  {subject}")
        if job.last_error:
            print(f"{'':>10}last error: {job.last_error}")


def _new_key(args: argparse.Namespace) -> int:
    key = access.new_key()
    print(f"API key for merchant {args.merchant!r} (shown once; give it to the merchant):")
    print(f"  {key}")
    print("Add its hash to the config file:")
    print(f"  [security.merchants.{args.merchant}]")
    print(f'  key_hashes = ["{access.key_hash(key)}"]')
    return 0


def _plugins(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    host = PluginHost.discover(settings.plugins)
    types, conflicts = host.gateway_types, host.conflicts
    for plugin in host.plugins:
        print(f"{plugin.name}  ({plugin.distribution or '-'} {plugin.version or ''})".rstrip())
        for type_name in plugin.gateway_types:
            if type_name in conflicts:
                print(f"    gateway type {type_name}: CONTESTED, served by no plugin")
                continue
            gateway_type = types[type_name].type
            currencies = ", ".join(sorted(gateway_type.currencies))
            simulator = "  [simulator]" if gateway_type.simulator else ""
            print(f"    gateway type {type_name}: {currencies}{simulator}")
            if gateway_type.description:
                print(f"        {gateway_type.description}")
    for skipped in host.skipped:
        print(f"not loaded: {skipped.describe()}: {skipped.reason}")
    problems = [failure.describe() for failure in host.failures]
    problems += [f"Conflict: {conflict.describe()}" for conflict in conflicts.values()]
    problems += [
        f"plugins.load names {name!r}, which no installed plugin is" for name in host.unmatched
    ]
    for problem in problems:
        print(problem)
    if not host.plugins and not problems:
        print("no plugins loaded")
    return 1 if problems else 0


def _config_check(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    runtime = _runtime(settings)
    asyncio.run(runtime.aclose())
    source = _config_path(args) or "demo profile"
    print(f"configuration OK ({source})")
    print(f"  database: {runtime.database.url.render_as_string(hide_password=True)}")
    print(f"  routing: {settings.routing.strategy}")
    for route in runtime.platform.routing.routes:
        live = runtime.platform.gateways[route.name]
        currencies = ", ".join(sorted(route.currencies))
        print(f"  gateway {route.name} ({live.type_name}, weight {route.weight:g}): {currencies}")
    return 0


def _merchant_name(text: str) -> str:
    if not GATEWAY_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError("use 1-40 of a-z, 0-9, '-', '_'")
    return text


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--config",
        metavar="PATH",
        help=f"TOML config file (default: ${CONFIG_PATH_VARIABLE}; none: the demo profile)",
    )
    root = argparse.ArgumentParser(prog="payments", description=__doc__)
    commands = root.add_subparsers(dest="command", required=True)
    serve = commands.add_parser("serve", parents=[common], help="run the HTTP API")
    serve.add_argument("--host", help="interface to listen on (default 0.0.0.0)")
    serve.add_argument("--port", type=int, help="port to listen on (default 8080)")
    serve.set_defaults(run=_serve)
    migrate = commands.add_parser("migrate", parents=[common], help="apply database migrations")
    migrate.set_defaults(run=_migrate)
    worker = commands.add_parser("worker", parents=[common], help="run jobs, without the API")
    worker.set_defaults(run=_worker)
    jobs_parser = commands.add_parser("jobs", parents=[common], help="list or retry jobs")
    jobs_parser.set_defaults(run=_jobs, jobs_command="list", all=False)
    jobs_commands = jobs_parser.add_subparsers(dest="jobs_command")
    listing = jobs_commands.add_parser(
        "list", parents=[common], help="pending, running and dead jobs (default)"
    )
    listing.add_argument("--all", action="store_true", help="done jobs too")
    retry = jobs_commands.add_parser("retry", parents=[common], help="run a dead job again")
    retry.add_argument("job_id", type=int, metavar="ID")
    keys = commands.add_parser("keys", help="client API keys")
    keys_commands = keys.add_subparsers(dest="keys_command", required=True)
    new_key = keys_commands.add_parser("new", help="make a key and print its config entry")
    new_key.add_argument(
        "--merchant", required=True, type=_merchant_name, help="the merchant it belongs to"
    )
    new_key.set_defaults(run=_new_key)
    plugins = commands.add_parser(
        "plugins",
        parents=[common],
        help="list the plugins the config loads, their gateway types, and any problem",
        description="List the gateway plugins the config's [plugins] selection loads, with"
        " their distributions, gateway types, currencies and descriptions. Exits 1 when a"
        " plugin failed to load, two plugins register the same gateway type, or"
        " plugins.load names a plugin that is not installed.",
    )
    plugins.set_defaults(run=_plugins)
    plugin = commands.add_parser("plugin", help="write gateway plugins")
    plugin_commands = plugin.add_subparsers(dest="plugin_command", required=True)
    new_plugin = plugin_commands.add_parser(
        "new",
        help="write a new gateway plugin distribution that the conformance kit certifies",
        description="Write payments-plugin-<name>/: a settings struct, a gateway speaking to a"
        " toy REST vendor over httpx, signed webhooks, a simulator of the vendor's API, a"
        " README, and tests that run the conformance kit. It installs with pip and its tests"
        " pass as written; replace the toy wire format with your vendor's.",
    )
    scaffold.add_arguments(new_plugin)
    new_plugin.set_defaults(run=scaffold.run)
    config = commands.add_parser("config", help="configuration commands")
    config_commands = config.add_subparsers(dest="config_command", required=True)
    check = config_commands.add_parser("check", parents=[common], help="validate the config")
    check.set_defaults(run=_config_check)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``payments`` command."""
    configure_logging()
    args = parser().parse_args(argv)
    try:
        code: int = args.run(args)
    except (ConfigError, PluginError, SchemaOutOfDate, TelemetryError) as error:
        print(f"payments: error: {error}", file=sys.stderr)
        return 2
    except DatabaseUnavailable as error:
        cause = error.__cause__
        reason = getattr(cause, "orig", None) or cause or error
        print(f"payments: error: cannot use the database: {reason}", file=sys.stderr)
        return 2
    return code


if __name__ == "__main__":
    sys.exit(main())
