"""The ``payments`` command: run the service and operate it; ``payments --help`` lists what
it does."""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
import sys
import textwrap
from collections.abc import Awaitable, Callable, Sequence
from importlib.metadata import version
from pathlib import Path
from typing import TypeVar, get_args

import sqlalchemy as sa
from payments_plugins import ASGIApp, GatewayType, Simulator, SimulatorOptions
from payments_plugins.simulation import NotifiedStatus

from payments_platform import jobs, security
from payments_platform.config import (
    CONFIG_PATH_VARIABLE,
    GATEWAY_NAME,
    LOG_LEVEL_VARIABLE,
    ConfigError,
    Settings,
    blame_override,
    decode_plugin_settings,
    load_settings,
)
from payments_platform.database import (
    Database,
    SchemaOutOfDate,
    driver_url,
    head_revision,
    pending_migrations,
)
from payments_platform.errors import DatabaseUnavailable
from payments_platform.jobs import JobStatus
from payments_platform.logs import configure_logging
from payments_platform.plugin_host import PluginError, PluginHost
from payments_platform.runtime import (
    Runtime,
    build_runtime,
    open_database,
    secret_values,
    webhook_path,
)
from payments_platform.simulators import SimulatedVendors, simulated_settings
from payments_platform.telemetry import TelemetryError, configure_tracing
from payments_platform.usecases import utc_now

logger = logging.getLogger("payments")

T = TypeVar("T")

STARTUP_ERROR = 2
"""The exit status of every error found before a command does its work (config, database,
port, plugins); 1 is for a command that ran and found nothing to do (``jobs retry``)."""
LOG_LEVELS = ("debug", "info", "warning", "error")

DEMO_WARNING = """\
*****************************************************************************
  DEMO PROFILE: no config file was given (--config or PAYMENTS_CONFIG).
  - database: ./payments.db (SQLite), migrated automatically
  - gateways: vendor SIMULATORS served by this same process, not real vendors
  - the client API is open and webhooks are not signed
  Never take real payments with this profile.
*****************************************************************************"""


class CommandError(Exception):
    """The command cannot go on; the message says what is wrong and what to do."""


def _config_path(args: argparse.Namespace) -> Path | None:
    given = getattr(args, "config", None) or os.environ.get(CONFIG_PATH_VARIABLE)
    return Path(given) if given else None


def _settings(args: argparse.Namespace, **server: object) -> Settings:
    environ = dict(os.environ)
    for key, value in server.items():
        if value is not None:
            environ[f"PAYMENTS_SERVER__{key.upper()}"] = str(value)
    return load_settings(_config_path(args), environ)


def _log_level(args: argparse.Namespace) -> int:
    name = getattr(args, "log_level", None) or os.environ.get(LOG_LEVEL_VARIABLE) or "info"
    if name.lower() not in LOG_LEVELS:
        raise CommandError(
            f"{LOG_LEVEL_VARIABLE}={name!r} is not a log level: use one of {', '.join(LOG_LEVELS)}"
        )
    level: int = logging.getLevelName(name.upper())
    return level


def _runtime(settings: Settings, *, observed: bool = False) -> Runtime:
    if observed:
        configure_tracing(os.environ)
    plugins = PluginHost.discover()
    for failure in plugins.failures:
        logger.warning("%s", failure.describe())
    runtime = build_runtime(settings, plugins)
    # From here on, nothing configured as a secret reaches the logs; the level stays the
    # one the command was started with.
    configure_logging(runtime.secrets, level=logging.getLogger().level)
    return runtime


def _on_demo_database(settings: Settings) -> None:
    """Say so when a command is about to use the demo profile's database."""
    if settings.demo:
        url = driver_url(settings.database.url)
        shown = url.render_as_string(hide_password=True)
        if url.get_backend_name() == "sqlite" and url.database:
            shown = str(Path(url.database).absolute())
        print(
            f"payments: no --config or ${CONFIG_PATH_VARIABLE}: using the demo profile and its"
            f" database {shown}",
            file=sys.stderr,
        )


def _with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
    """Run ``work`` on the configured database in an event loop of its own, then close it;
    a database out of reach is a :class:`CommandError` naming it and the cause."""
    # A connection pool is bound to its event loop; a server's loop opens its own.
    database = open_database(settings, log_failures=False)

    async def run() -> T:
        try:
            return await work(database)
        finally:
            await database.dispose()

    try:
        return asyncio.run(run())
    except DatabaseUnavailable as error:
        cause = error.__cause__
        reason = getattr(cause, "orig", None) or cause or error
        raise CommandError(f"cannot use the database {database.shown_url}: {reason}") from None
    except sa.exc.DBAPIError as error:
        raise CommandError(f"the database {database.shown_url} refused: {error.orig}") from None


def _listen(host: str, port: int) -> socket.socket:
    """A socket bound to ``host:port``, so that a port in use stops the start before anything
    else has run (the database, the worker)."""
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    try:
        family, kind, proto, _, address = socket.getaddrinfo(
            host or None, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE
        )[0]
        listener = socket.socket(family, kind, proto)
    except OSError as error:
        raise CommandError(f"cannot listen on {where}: {error.strerror}") from None
    try:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(address)
    except OSError as error:
        listener.close()
        raise CommandError(
            f"cannot listen on {where}: {error.strerror} (choose another port with --port"
            " or [server] port)"
        ) from None
    return listener


def _serve(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415 - only the server needs it

    from payments_platform.app import create_app  # noqa: PLC0415 - keeps other commands light

    settings = _settings(args, host=args.host, port=args.port)
    listener = _listen(settings.server.host, settings.server.port)
    try:
        if settings.demo:
            print(DEMO_WARNING, file=sys.stderr, flush=True)
        runtime = _started_runtime(settings)
        app = create_app(runtime)
        logger.info(
            "serving on %s:%d with gateways %s",
            settings.server.host,
            settings.server.port,
            ", ".join(runtime.payments.gateways) or "(none)",
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


def _started_runtime(settings: Settings) -> Runtime:
    """The runtime of a server or worker, its database ready: the config is checked first."""
    runtime = _runtime(settings, observed=True)
    try:
        _prepare_database(settings)
    except BaseException:
        asyncio.run(runtime.aclose())
        raise
    return runtime


def _prepare_database(settings: Settings) -> None:
    """Migrate (when configured to) or check the schema."""

    async def prepare(database: Database) -> None:
        if settings.database.migrate_on_start:
            for migration in await database.migrate():
                logger.info("applied migration %s: %s", migration.revision, migration.description)
        else:
            await database.check_schema()

    _with_database(settings, prepare)


def _migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _on_demo_database(settings)
    head = head_revision()

    async def status(database: Database) -> None:
        current = await database.schema_revision()
        pending = pending_migrations(current)
        print(f"database {database.shown_url} is at schema revision {current or 'none'}")
        if not pending:
            print(f"nothing to apply: this version needs revision {head}")
            return
        print(f"`payments migrate` would apply, to reach revision {head}:")
        for migration in pending:
            print(f"  {migration.revision}: {migration.description}")

    async def migrate(database: Database) -> None:
        for migration in await database.migrate():
            print(f"applied {migration.revision}: {migration.description}")
        print(
            f"database {database.shown_url} is at schema revision {head},"
            " the one this version needs"
        )

    _with_database(settings, status if args.status else migrate)
    return 0


def _worker(args: argparse.Namespace) -> int:
    settings = _settings(args)
    _on_demo_database(settings)
    runtime = _started_runtime(settings)

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
    settings = _settings(args)
    _on_demo_database(settings)

    async def retry(database: Database) -> int:
        await database.check_schema()
        job_id: int = args.job_id
        if await database.write(lambda conn: jobs.revive(conn, job_id, utc_now())):
            print(f"job {job_id} will run again")
            return 0
        job = await database.read(lambda conn: jobs.find_job(conn, job_id))
        if job is None:
            print(f"there is no job {job_id} (`payments jobs --all` lists them)", file=sys.stderr)
        else:
            print(f"job {job_id} is {job.status}, not dead: nothing to retry", file=sys.stderr)
        return 1

    async def listing(database: Database) -> list[jobs.Job]:
        await database.check_schema()
        statuses = (
            list(JobStatus) if args.all else [JobStatus.PENDING, JobStatus.RUNNING, JobStatus.DEAD]
        )
        return await database.read(lambda conn: jobs.list_jobs(conn, statuses))

    if args.jobs_command == "retry":
        return _with_database(settings, retry)
    _print_jobs(_with_database(settings, listing))
    return 0


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
    key = security.new_key()
    print(f"API key for merchant {args.merchant!r} (shown once; give it to the merchant):")
    print(f"  {key}")
    print("Add its hash to the config file:")
    print(f"  [security.merchants.{args.merchant}]")
    print(f'  key_hashes = ["{security.key_hash(key)}"]')
    return 0


def _plugins(_args: argparse.Namespace) -> int:
    host = PluginHost.discover()
    types = host.gateway_types
    for plugin in host.plugins:
        print(f"{plugin.name}  ({plugin.distribution or '-'} {plugin.version or ''})".rstrip())
        for type_name in plugin.gateway_types:
            gateway_type = types[type_name].type
            currencies = ", ".join(sorted(gateway_type.currencies))
            simulator = "  [simulator]" if gateway_type.simulator else ""
            print(f"    gateway type {type_name}: {currencies}{simulator}")
    for failure in host.failures:
        print(failure.describe())
    if not host.plugins and not host.failures:
        print("no plugins installed")
    return 1 if host.failures else 0


def _config_check(args: argparse.Namespace) -> int:
    settings = _settings(args)
    runtime = _runtime(settings)
    asyncio.run(runtime.aclose())
    database = runtime.database.shown_url
    if args.offline:
        database += " (not checked: --offline)"
    else:
        _on_demo_database(settings)
        database += f" ({_database_state(settings)})"
    source = _config_path(args) or "demo profile"
    print(f"configuration OK ({source})")
    print(f"  database: {database}")
    print(f"  routing: {settings.routing.strategy}")
    for route in runtime.payments.routing.routes:
        live = runtime.payments.gateways[route.name]
        currencies = ", ".join(sorted(route.currencies))
        print(f"  gateway {route.name} ({live.type_name}, weight {route.weight:g}): {currencies}")
    return 0


def _database_state(settings: Settings) -> str:
    """What a start would find in the database; raises what would stop it."""

    async def state(database: Database) -> str:
        current = await database.schema_revision()
        if current == head_revision():
            return f"reachable, schema revision {current}"
        if not settings.database.migrate_on_start:
            await database.check_schema()
        applied = ", ".join(m.revision for m in pending_migrations(current))
        if database.missing_file is not None:
            return f"does not exist yet; a start creates it and applies {applied}"
        return f"reachable, schema revision {current or 'none'}; a start applies {applied}"

    return _with_database(settings, state)


def _simulate(args: argparse.Namespace) -> int:
    import uvicorn  # noqa: PLC0415 - only the servers need it

    settings = _settings(args)
    if settings.demo:
        raise CommandError(
            "payments simulate serves the simulators of a config file's gateways: give"
            f" --config or ${CONFIG_PATH_VARIABLE} (the demo profile serves its own)"
        )
    plugins = PluginHost.discover()
    chosen = _simulated_gateways(settings, plugins, args.gateway)
    served_at = _http_url(args.host, args.port)
    platform_url = (args.platform_url or settings.base_url).rstrip("/")
    listener = _listen(args.host, args.port)
    try:
        simulators: dict[str, ASGIApp] = {}
        types: dict[str, str] = {}
        secrets: list[str] = []
        print(f"vendor simulators at {served_at} (SIGTERM or Ctrl-C stops them)")
        for name, gateway_type, simulator in chosen:
            url = f"{served_at}/{name}"
            fitted = simulated_settings(settings.gateways[name].settings, simulator, url)
            decoded = decode_plugin_settings(
                fitted.settings, gateway_type.settings_type, f"gateways.{name}.settings"
            )
            secrets += secret_values(decoded, gateway_type)
            simulators[name] = simulator.build(
                SimulatorOptions(
                    settings=decoded,
                    webhook_url=platform_url + webhook_path(name),
                    auto_webhook_status=args.auto_webhook,
                    auto_webhook_delay=args.auto_webhook_delay,
                    payer_pays_at_once=args.payer_pays_at_once,
                )
            )
            types[name] = gateway_type.name
            print(
                f"  gateway {name} ({gateway_type.name}) at {url},"
                f" notifications to {platform_url}{webhook_path(name)}"
            )
            # Only the simulator's values are shown: the operator's may be secrets.
            needed = fitted.elsewhere | fitted.missing
            if not needed:
                print("    the config points the gateway here")
                continue
            print("    for the platform to use it, the config needs:")
            print(f"      [gateways.{name}.settings]")
            for key, value in needed.items():
                print(f"      {key} = {json.dumps(value)}")
        sys.stdout.flush()
        configure_logging(secrets, level=logging.getLogger().level)
        server = uvicorn.Server(
            uvicorn.Config(
                SimulatedVendors(simulators, types),
                host=args.host,
                port=args.port,
                log_level=logging.getLogger().level,
                log_config=None,
                timeout_graceful_shutdown=5,
            )
        )
        server.run(sockets=[listener])
    finally:
        listener.close()
    return 0 if server.started else STARTUP_ERROR


def _simulated_gateways(
    settings: Settings, plugins: PluginHost, asked: list[str] | None
) -> list[tuple[str, GatewayType, Simulator]]:
    """The gateways named (default: every enabled one whose type ships a simulator), with
    their type and its simulator."""
    if asked:
        for name in asked:
            if name not in settings.gateways:
                known = ", ".join(settings.gateways) or "none"
                raise CommandError(f"the config has no gateway {name!r} (it has: {known})")
        names = list(dict.fromkeys(asked))
    else:
        names = list(settings.enabled_gateways())
    chosen = []
    for name in names:
        gateway_type = plugins.gateway_type(settings.gateways[name].type)
        if gateway_type.simulator is not None:
            chosen.append((name, gateway_type, gateway_type.simulator))
        elif asked:
            raise ConfigError(
                f"gateway type {gateway_type.name!r} ships no simulator - at `gateways.{name}.type`"
            )
    if not chosen:
        raise CommandError(
            "no enabled gateway of the config has a type that ships a simulator"
            " (`payments plugins` marks those that do)"
        )
    return chosen


def _http_url(host: str, port: int) -> str:
    """How a process on this machine reaches ``host:port`` (a wildcard on loopback)."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 - the wildcard is reached on loopback
        host = "127.0.0.1"
    return f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"


def _merchant_name(text: str) -> str:
    if not GATEWAY_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError("use 1-40 of a-z, 0-9, '-', '_'")
    return text


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: use 1-65535")
    return port


def _seconds(text: str) -> float:
    try:
        seconds = float(text)
    except ValueError:
        seconds = -1.0
    if not 0 <= seconds <= 3600:
        raise argparse.ArgumentTypeError(f"{text!r} is not a delay: use 0-3600 seconds")
    return seconds


def _help_of(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """A command that only prints ``parser``'s help: a command group given no command."""

    def show_help(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return STARTUP_ERROR

    return show_help


class _Help(argparse.RawDescriptionHelpFormatter):
    """Descriptions keep their paragraphs; commands are listed without a ``COMMAND`` line."""

    def _format_action(self, action: argparse.Action) -> str:
        text = super()._format_action(action)
        if not isinstance(action, argparse._SubParsersAction):
            return text
        # argparse heads the list of commands with the metavar, one level up.
        _, commands = text.split("\n", 1)
        return textwrap.indent(textwrap.dedent(commands), "  ")


DESCRIPTION = """\
Run the payments platform and operate it.

Commands that read a configuration take --config PATH (default: $PAYMENTS_CONFIG).
Without one they use the demo profile: SQLite in ./payments.db, vendor simulators
in the same process, the client API open. Any config key can be set from the
environment as PAYMENTS_<SECTION>__<KEY>, e.g. PAYMENTS_DATABASE__URL=...

Errors that stop a command before it starts (config, database, port, plugins)
exit with status 2."""


def _simulate_options(simulate: argparse.ArgumentParser) -> None:
    simulate.add_argument(
        "--gateway",
        action="append",
        metavar="NAME",
        help="simulate this gateway (repeat for more; default: every enabled gateway whose"
        " type ships a simulator)",
    )
    simulate.add_argument(
        "--host", default="127.0.0.1", help="the interface to listen on (default: 127.0.0.1)"
    )
    simulate.add_argument(
        "--port", type=_port, default=9001, help="the port to listen on (default: 9001)"
    )
    simulate.add_argument(
        "--platform-url",
        metavar="URL",
        help="how the simulators reach the platform; notifications go to"
        " URL/external/<gateway name>-webhook (default: [server] public_url, else its"
        " host and port)",
    )
    simulate.add_argument(
        "--payer-pays-at-once",
        action="store_true",
        help="record every accepted payment as paid at once, posting no notification",
    )
    simulate.add_argument(
        "--auto-webhook",
        choices=get_args(NotifiedStatus),
        metavar="STATUS",
        help="post this status (paid, failed or expired) for every accepted payment",
    )
    simulate.add_argument(
        "--auto-webhook-delay",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="wait this long before posting it (default: 0)",
    )


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    # Options common to several parsers default to SUPPRESS, so that a subcommand's parser
    # does not reset what was given before its name (`jobs --config x list`).
    logging_options = argparse.ArgumentParser(add_help=False)
    logging_options.add_argument(
        "--log-level",
        choices=LOG_LEVELS,
        metavar="LEVEL",
        default=argparse.SUPPRESS,
        help=f"log events of this level and above: {', '.join(LOG_LEVELS)}"
        f" (default: ${LOG_LEVEL_VARIABLE}, else info)",
    )
    configured = argparse.ArgumentParser(add_help=False, parents=[logging_options])
    configured.add_argument(
        "--config",
        metavar="PATH",
        default=argparse.SUPPRESS,
        help=f"the TOML config file (default: ${CONFIG_PATH_VARIABLE}; none: the demo profile)",
    )

    root = argparse.ArgumentParser(
        prog="payments",
        description=DESCRIPTION,
        formatter_class=_Help,
        parents=[logging_options],
    )
    root.add_argument(
        "--version",
        action="version",
        version=f"payments {version('payments-platform')}",
        help="print the version and exit",
    )
    root.set_defaults(run=_help_of(root))
    commands = root.add_subparsers(title="commands", metavar="COMMAND")

    def command(
        name: str, summary: str, description: str, *, parents: Sequence[argparse.ArgumentParser]
    ) -> argparse.ArgumentParser:
        return commands.add_parser(
            name,
            help=summary,
            description=description,
            formatter_class=_Help,
            parents=list(parents),
        )

    serve = command(
        "serve",
        "run the HTTP API (and a worker)",
        """\
Serve the HTTP API on --host and --port ([server] host and port; default
0.0.0.0:8080). Unless [worker] enabled = false, the process also runs a worker
for the jobs. The database must be at the schema this version needs (run
`payments migrate` first) unless [database] migrate_on_start = true, as in the
demo profile. On SIGTERM or SIGINT it stops taking requests, finishes those in
flight, lets started jobs end and hands claimed ones back.""",
        parents=[configured],
    )
    serve.add_argument("--host", help="the interface to listen on (default: [server] host)")
    serve.add_argument(
        "--port", type=_port, help="the port to listen on (default: [server] port, 8080)"
    )
    serve.set_defaults(run=_serve)

    worker = command(
        "worker",
        "run jobs, without the API",
        """\
Run a worker and nothing else: claim the jobs that are due in the database
(initiate, refund, reconcile, expire), run them, retry failures with backoff.
Run as many as you like beside `payments serve`. On SIGTERM or SIGINT it lets
started jobs end and hands claimed ones back.""",
        parents=[configured],
    )
    worker.set_defaults(run=_worker)

    migrate = command(
        "migrate",
        "create or upgrade the database schema",
        """\
Create the database schema, or upgrade it to the revision this version needs,
and list the migrations applied. Run it once per release, before the new
version's processes start.""",
        parents=[configured],
    )
    migrate.add_argument(
        "--status",
        action="store_true",
        help="show the schema revision and what a migration would apply; apply nothing",
    )
    migrate.set_defaults(run=_migrate)

    jobs_parser = command(
        "jobs",
        "list jobs, or retry a dead one",
        """\
The outbox of jobs: list those pending, running or dead (the default command),
or run a dead job again.""",
        parents=[configured],
    )
    jobs_parser.set_defaults(run=_jobs, jobs_command="list", all=False)
    jobs_commands = jobs_parser.add_subparsers(title="commands", metavar="COMMAND")
    listing = jobs_commands.add_parser(
        "list",
        parents=[configured],
        help="list pending, running and dead jobs (the default)",
        description="List the jobs pending, running or dead, the next due first, with the"
        " last error of each.",
    )
    listing.add_argument("--all", action="store_true", help="list done jobs too")
    listing.set_defaults(jobs_command="list")
    retry = jobs_commands.add_parser(
        "retry",
        parents=[configured],
        help="run a dead job again",
        description="Give a dead job a fresh set of attempts, due now; a worker runs it.",
    )
    retry.add_argument("job_id", type=int, metavar="ID", help="the job's id, as `jobs` lists it")
    retry.set_defaults(jobs_command="retry")

    keys = command(
        "keys",
        "make client API keys",
        "Client API keys. A key is shown once; the config file keeps only its hash.",
        parents=[logging_options],
    )
    keys.set_defaults(run=_help_of(keys))
    keys_commands = keys.add_subparsers(title="commands", metavar="COMMAND")
    new_key = keys_commands.add_parser(
        "new",
        parents=[logging_options],
        help="make a key and print its config entry",
        description="Make a new API key for a merchant: print the key, to give to the"
        " merchant, and the [security.merchants.NAME] key_hashes line to add to the config"
        " file. Nothing is stored.",
    )
    new_key.add_argument(
        "--merchant",
        required=True,
        type=_merchant_name,
        metavar="NAME",
        help="the merchant it belongs to: 1-40 of a-z, 0-9, '-', '_'",
    )
    new_key.set_defaults(run=_new_key)

    plugins = command(
        "plugins",
        "list installed gateway plugins",
        """\
List the installed plugins (entry-point group `payments`) with their
distribution and version, and the gateway types each provides with their
currencies; [simulator] marks a type that ships a vendor simulator. Exits
with status 1 when a plugin failed to load.""",
        parents=[logging_options],
    )
    plugins.set_defaults(run=_plugins)

    config = command(
        "config",
        "check a configuration",
        "Configuration commands.",
        parents=[logging_options],
    )
    config.set_defaults(run=_help_of(config))
    config_commands = config.add_subparsers(title="commands", metavar="COMMAND")
    check = config_commands.add_parser(
        "check",
        parents=[configured],
        help="check the config as a start would",
        formatter_class=_Help,
        description="""\
Check the configuration as a start would: every key, each gateway's settings
against its plugin, and (unless --offline) that the database can be reached
and is at the schema this version needs. Exits with status 0 when a start
would go ahead, 2 with the reason when it would not.""",
    )
    check.add_argument("--offline", action="store_true", help="do not connect to the database")
    check.set_defaults(run=_config_check)

    simulate = command(
        "simulate",
        "serve vendor simulators for a config's gateways",
        """\
Serve the vendor simulators of the config's gateways in a process of their own,
each at http://HOST:PORT/<gateway name>, as a stand-in for the real vendors in
staging, tests and benchmarks. A simulator runs with the gateway's settings
from the config (and its PAYMENTS_* overrides), so it signs its notifications
with the same webhook secret the platform checks them with; it posts them to
the platform at --platform-url. It prints the settings the config needs for
the platform to call it, without showing any secret. Its control endpoints
(/<gateway name>/_simulator/...) need no key: serve it only where tests run.""",
        parents=[configured],
    )
    _simulate_options(simulate)
    simulate.set_defaults(run=_simulate)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``payments`` command."""
    args = parser().parse_args(argv)
    try:
        configure_logging(level=_log_level(args))
        code: int = args.run(args)
    except ConfigError as error:
        print(f"payments: error: {blame_override(error, os.environ)}", file=sys.stderr)
        return STARTUP_ERROR
    except (CommandError, PluginError, SchemaOutOfDate, TelemetryError) as error:
        print(f"payments: error: {error}", file=sys.stderr)
        return STARTUP_ERROR
    return code


if __name__ == "__main__":
    sys.exit(main())
