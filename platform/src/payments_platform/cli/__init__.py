"""The ``payments`` command: run the service and operate it; ``payments --help`` lists what
it does."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from importlib.metadata import version

from payments_plugins.contract import CONTRACT_VERSION

from payments_platform.cli import (
    notifications,
    operating,
    operators,
    plugins,
    routing,
    serving,
    simulate,
)
from payments_platform.cli.common import (
    STARTUP_ERROR,
    CommandError,
    HelpFormat,
    Options,
    help_of,
    log_level,
    settings_of,
)
from payments_platform.cli.serving import serve
from payments_platform.config import ConfigError, blame_override
from payments_platform.database import SchemaOutOfDate
from payments_platform.logs import configure_logging
from payments_platform.plugin_host import PluginError
from payments_platform.telemetry import TelemetryError

__all__ = ["main", "parser", "serve", "settings_of"]

DESCRIPTION = """\
Run the payments platform and operate it.

Commands that read a configuration take --config PATH (default: $PAYMENTS_CONFIG).
Without one they use the demo profile: SQLite in ./payments.db, vendor simulators
in the same process, the client API open. Any config key can be set from the
environment as PAYMENTS_<SECTION>__<KEY>, e.g. PAYMENTS_DATABASE__URL=...

Errors that stop a command before it starts (config, database, port, plugins)
exit with status 2."""


def parser() -> argparse.ArgumentParser:
    """The command-line interface."""
    options = Options()
    root = argparse.ArgumentParser(
        prog="payments",
        description=DESCRIPTION,
        formatter_class=HelpFormat,
        parents=[options.logging],
    )
    root.add_argument(
        "--version",
        action="version",
        version=f"payments {version('payments-platform')}, plugin contract {CONTRACT_VERSION}",
        help="print the version, and the version of the plugin contract it implements, and exit",
    )
    root.set_defaults(run=help_of(root))
    commands = root.add_subparsers(title="commands", metavar="COMMAND")
    serving.add_commands(commands, options)
    operating.add_commands(commands, options)
    routing.add_commands(commands, options)
    operators.add_commands(commands, options)
    plugins.add_commands(commands, options)
    simulate.add_commands(commands, options)
    notifications.add_commands(commands, options)
    return root


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``payments`` command."""
    args = parser().parse_args(argv)
    try:
        configure_logging(level=log_level(args))
        code: int = args.run(args)
    except ConfigError as error:
        print(f"payments: error: {blame_override(error, os.environ)}", file=sys.stderr)
        return STARTUP_ERROR
    except (CommandError, PluginError, SchemaOutOfDate, TelemetryError) as error:
        print(f"payments: error: {error}", file=sys.stderr)
        return STARTUP_ERROR
    except BrokenPipeError:
        # The reader left (`payments plugins | head`): what it did not read is not an error.
        # Python would still flush stdout at exit and complain; point it at nothing first.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141  # as a shell reports a command ended by SIGPIPE
    return code
