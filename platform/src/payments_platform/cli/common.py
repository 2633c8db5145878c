"""What every command shares: its settings, its log level, its errors, its database."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
import sys
import textwrap
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import sqlalchemy as sa

from payments_platform.config import (
    CONFIG_PATH_VARIABLE,
    LOG_LEVEL_VARIABLE,
    Settings,
    load_settings,
)
from payments_platform.database import Database, driver_url
from payments_platform.errors import DatabaseUnavailable
from payments_platform.logs import configure_logging
from payments_platform.plugin_host import PluginHost
from payments_platform.runtime import Runtime, build_runtime, open_database, records_platform
from payments_platform.telemetry import configure_tracing
from payments_platform.usecases.dependencies import Dependencies

logger = logging.getLogger("payments")

T = TypeVar("T")

STARTUP_ERROR = 2
"""The exit status of every error found before a command does its work (config, database,
port, plugins); 1 is for a command that ran and found nothing to do (``jobs retry``)."""
LOG_LEVELS = ("debug", "info", "warning", "error")


class CommandError(Exception):
    """The command cannot go on; the message says what is wrong and what to do."""


def config_path(args: argparse.Namespace) -> Path | None:
    """The config file the command names (``--config``, else ``$PAYMENTS_CONFIG``), if any."""
    given = getattr(args, "config", None) or os.environ.get(CONFIG_PATH_VARIABLE)
    return Path(given) if given else None


def settings_of(args: argparse.Namespace, **server: object) -> Settings:
    """The settings a command's arguments name (``--config``, or the demo profile), with the
    environment's overrides and ``server`` values (``host``, ``port``) on top."""
    environ = dict(os.environ)
    for key, value in server.items():
        if value is not None:
            environ[f"PAYMENTS_SERVER__{key.upper()}"] = str(value)
    return load_settings(config_path(args), environ)


def log_level(args: argparse.Namespace) -> int:
    """The level ``--log-level`` (else ``$PAYMENTS_LOG_LEVEL``, else info) names."""
    name = getattr(args, "log_level", None) or os.environ.get(LOG_LEVEL_VARIABLE) or "info"
    if name.lower() not in LOG_LEVELS:
        raise CommandError(
            f"{LOG_LEVEL_VARIABLE}={name!r} is not a log level: use one of {', '.join(LOG_LEVELS)}"
        )
    level: int = logging.getLevelName(name.upper())
    return level


def runtime_of(settings: Settings, *, observed: bool = False) -> Runtime:
    """The platform the settings describe, built against the installed plugins."""
    if observed:
        configure_tracing(os.environ)
    plugins = PluginHost.discover(settings.plugins)
    # A failure that stops the start is named by the error first; the others are logged only
    # once the platform is built without them.
    runtime = build_runtime(settings, plugins)
    for failure in plugins.failures:
        logger.warning("%s", failure.describe())
    # From here on, nothing configured as a secret reaches the logs; the level stays the
    # one the command was started with.
    configure_logging(runtime.secrets, level=logging.getLogger().level)
    return runtime


def on_demo_database(settings: Settings) -> None:
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


def with_platform(settings: Settings, work: Callable[[Dependencies], Awaitable[T]]) -> T:
    """Run ``work`` on the records of the configured platform (its database at the revision
    this version needs, no gateway built), as :func:`with_database` does."""

    async def on_records(database: Database) -> T:
        await database.check_schema()
        return await work(records_platform(settings, database))

    return with_database(settings, on_records)


def with_database(settings: Settings, work: Callable[[Database], Awaitable[T]]) -> T:
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


def listen(host: str, port: int) -> socket.socket:
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


def port_number(text: str) -> int:
    """An argument that is a TCP port."""
    try:
        port = int(text)
    except ValueError:
        port = 0
    if not 1 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port: use 1-65535")
    return port


def help_of(parser: argparse.ArgumentParser) -> Callable[[argparse.Namespace], int]:
    """A command that only prints ``parser``'s help: a command group given no command."""

    def show_help(_args: argparse.Namespace) -> int:
        parser.print_help(sys.stderr)
        return STARTUP_ERROR

    return show_help


class HelpFormat(argparse.RawDescriptionHelpFormatter):
    """Descriptions keep their paragraphs; commands are listed without a ``COMMAND`` line."""

    def _format_action(self, action: argparse.Action) -> str:
        text = super()._format_action(action)
        if not isinstance(action, argparse._SubParsersAction):
            return text
        # argparse heads the list of commands with the metavar, one level up.
        _, commands = text.split("\n", 1)
        return textwrap.indent(textwrap.dedent(commands), "  ")


class Options:
    """The option sets commands take, as parent parsers."""

    def __init__(self) -> None:
        # Options common to several parsers default to SUPPRESS, so that a subcommand's parser
        # does not reset what was given before its name (`jobs --config x list`).
        self.logging = argparse.ArgumentParser(add_help=False)
        self.logging.add_argument(
            "--log-level",
            choices=LOG_LEVELS,
            metavar="LEVEL",
            default=argparse.SUPPRESS,
            help=f"log events of this level and above: {', '.join(LOG_LEVELS)}"
            f" (default: ${LOG_LEVEL_VARIABLE}, else info)",
        )
        self.configured = argparse.ArgumentParser(add_help=False, parents=[self.logging])
        self.configured.add_argument(
            "--config",
            metavar="PATH",
            default=argparse.SUPPRESS,
            help=f"the TOML config file (default: ${CONFIG_PATH_VARIABLE}; none: the demo profile)",
        )


def add_command(
    commands: argparse._SubParsersAction[argparse.ArgumentParser],
    name: str,
    summary: str,
    description: str,
    *,
    parents: list[argparse.ArgumentParser],
) -> argparse.ArgumentParser:
    """Add a command with a one-line summary (for the list) and a description (its help)."""
    return commands.add_parser(
        name, help=summary, description=description, formatter_class=HelpFormat, parents=parents
    )
