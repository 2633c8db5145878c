"""The commands an operator runs against a deployment: ``migrate``, ``jobs``, ``keys new``,
``config check``."""

from __future__ import annotations

import argparse
import asyncio
import getpass
import os
import sys
from collections.abc import Sequence

from payments_platform import access, jobs
from payments_platform.cli.common import (
    HelpFormat,
    Options,
    add_command,
    config_path,
    help_of,
    on_demo_database,
    runtime_of,
    settings_of,
    with_database,
    with_platform,
)
from payments_platform.config import GATEWAY_NAME, Settings
from payments_platform.database import Database, head_revision, pending_migrations
from payments_platform.jobs import JobStatus
from payments_platform.store.events import MAX_OPERATOR_LENGTH
from payments_platform.usecases.operator_actions import JobRetry, retry_dead_job
from payments_platform.usecases.operator_reads import jobs_by_status


def _migrate(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    on_demo_database(settings)
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

    with_database(settings, status if args.status else migrate)
    return 0


def _jobs(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    on_demo_database(settings)
    if args.jobs_command == "retry":
        return _retry(settings, args.job_id, args.operator or _os_user())
    statuses = (
        list(JobStatus) if args.all else [JobStatus.DEAD, JobStatus.RUNNING, JobStatus.PENDING]
    )
    found, _counts = with_platform(settings, lambda deps: jobs_by_status(deps, statuses))
    _print_jobs(sorted(found, key=lambda job: (job.run_at, job.id)))
    return 0


def _retry(settings: Settings, job_id: int, operator: str) -> int:
    """``jobs retry``: what the console's retry does, recorded in the payment's log under the
    operator's name."""
    result = with_platform(
        settings,
        lambda deps: retry_dead_job(deps, job_id, operator, via="command line"),
    )
    if result.outcome is JobRetry.RETRIED:
        print(f"job {job_id} will run again (recorded as done by {operator})")
        return 0
    if result.job is None:
        print(f"there is no job {job_id} (`payments jobs --all` lists them)", file=sys.stderr)
    else:
        print(f"job {job_id} is {result.job.status}, not dead: nothing to retry", file=sys.stderr)
    return 1


def _os_user() -> str:
    """Who runs the command, as the system knows them."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no name for the process's user (a bare container)
        name = ""
    return name if _fits(name) else f"uid {os.getuid()}"


def _fits(name: str) -> bool:
    """A name the log can record as an operator's."""
    return 0 < len(name) <= MAX_OPERATOR_LENGTH and name.isprintable()


def _operator_name(text: str) -> str:
    if not _fits(text):
        raise argparse.ArgumentTypeError(f"use 1-{MAX_OPERATOR_LENGTH} printable characters")
    return text


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


def _config_check(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    runtime = runtime_of(settings)
    asyncio.run(runtime.aclose())
    database = runtime.database.shown_url
    if args.offline:
        database += " (not checked: --offline)"
    else:
        on_demo_database(settings)
        database += f" ({_database_state(settings)})"
    source = config_path(args) or "demo profile"
    print(f"configuration OK ({source})")
    print(f"  database: {database}")
    print(f"  routing: {settings.routing.strategy}")
    for route in runtime.deps.routing.routes:
        live = runtime.deps.gateways[route.name]
        currencies = ", ".join(sorted(route.currencies))
        print(f"  gateway {route.name} ({live.type_name}, weight {route.weight:g}): {currencies}")
    for rule in settings.routing.rules:
        print(f"  rule {rule.name}: {rule.describe()}")
    warnings = runtime.rule_warnings()
    if warnings:
        print("  routing rules to review:")
        for warning in warnings:
            print(f"    {warning}")
    risks = settings.risks()
    if risks:
        print("  to review before taking real payments:" if not settings.demo else "  demo only:")
        for where, why in risks:
            print(f"    {where}: {why}")
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

    return with_database(settings, state)


def _merchant_name(text: str) -> str:
    if not GATEWAY_NAME.fullmatch(text):
        raise argparse.ArgumentTypeError("use 1-40 of a-z, 0-9, '-', '_'")
    return text


def add_commands(
    commands: argparse._SubParsersAction[argparse.ArgumentParser], options: Options
) -> None:
    """``migrate``, ``jobs``, ``keys`` and ``config``."""
    migrate = add_command(
        commands,
        "migrate",
        "create or upgrade the database schema",
        """\
Create the database schema, or upgrade it to the revision this version needs,
and list the migrations applied. Run it once per release, before the new
version's processes start.""",
        parents=[options.configured],
    )
    migrate.add_argument(
        "--status",
        action="store_true",
        help="show the schema revision and what a migration would apply; apply nothing",
    )
    migrate.set_defaults(run=_migrate)

    jobs_parser = add_command(
        commands,
        "jobs",
        "list jobs, or retry a dead one",
        """\
The outbox of jobs: list those pending, running or dead (the default command),
or run a dead job again.""",
        parents=[options.configured],
    )
    jobs_parser.set_defaults(run=_jobs, jobs_command="list", all=False)
    jobs_commands = jobs_parser.add_subparsers(title="commands", metavar="COMMAND")
    listing = jobs_commands.add_parser(
        "list",
        parents=[options.configured],
        help="list pending, running and dead jobs (the default)",
        description="List the jobs pending, running or dead, the next due first, with the"
        " last error of each.",
    )
    listing.add_argument("--all", action="store_true", help="list done jobs too")
    listing.set_defaults(jobs_command="list")
    retry = jobs_commands.add_parser(
        "retry",
        parents=[options.configured],
        help="run a dead job again",
        description="Give a dead job a fresh set of attempts, due now; a worker runs it. The"
        " payment's log records who did (--as NAME, else the system user), as it does for"
        " the console's retry.",
    )
    retry.add_argument("job_id", type=int, metavar="ID", help="the job's id, as `jobs` lists it")
    retry.add_argument(
        "--as",
        dest="operator",
        metavar="NAME",
        type=_operator_name,
        help="who retries it, as the payment's log records it (default: the system user)",
    )
    retry.set_defaults(jobs_command="retry")

    keys = add_command(
        commands,
        "keys",
        "make client API keys",
        "Client API keys. A key is shown once; the config file keeps only its hash.",
        parents=[options.logging],
    )
    keys.set_defaults(run=help_of(keys))
    keys_commands = keys.add_subparsers(title="commands", metavar="COMMAND")
    new_key = keys_commands.add_parser(
        "new",
        parents=[options.logging],
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

    config = add_command(
        commands,
        "config",
        "check a configuration",
        "Configuration commands.",
        parents=[options.logging],
    )
    config.set_defaults(run=help_of(config))
    config_commands = config.add_subparsers(title="commands", metavar="COMMAND")
    check = config_commands.add_parser(
        "check",
        parents=[options.configured],
        help="check the config as a start would",
        formatter_class=HelpFormat,
        description="""\
Check the configuration as a start would: every key, each gateway's settings
against its plugin, and (unless --offline) that the database can be reached
and is at the schema this version needs. Exits with status 0 when a start
would go ahead, 2 with the reason when it would not.""",
    )
    check.add_argument("--offline", action="store_true", help="do not connect to the database")
    check.set_defaults(run=_config_check)
