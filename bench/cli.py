"""The ``python -m bench`` command line."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.processes import BenchError
from bench.profile import render
from bench.report import Report, render_table, write_json
from bench.run import BenchOptions, run

DEFAULT_OUTPUT = Path("bench-results/latest.json")
SMOKE_OUTPUT = Path("bench-results/smoke.json")
DEFAULTS: dict[str, Any] = {
    "duration": 10.0,
    "warmup": 3.0,
    "connections": 32,
    "stored": 1_000_000,
    "baseline_stored": 10_000,
    "output": DEFAULT_OUTPUT,
}
SMOKE_DEFAULTS: dict[str, Any] = {
    "duration": 1.0,
    "warmup": 0.0,
    "connections": 8,
    "stored": 200,
    "baseline_stored": 100,
    "output": SMOKE_OUTPUT,
}
"""What ``--smoke`` runs with, unless told otherwise: a second per scenario, tiny tables."""
SMOKE_FAILED = 1
"""The exit status of a smoke run whose answers were wrong (2: the bench could not run)."""


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


def _not_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _default(name: str) -> str:
    return f"{DEFAULTS[name]}; --smoke: {SMOKE_DEFAULTS[name]}"


def parser() -> argparse.ArgumentParser:
    """The command's arguments."""
    commands = argparse.ArgumentParser(
        prog="python -m bench",
        description=(
            "Load the real server (uvicorn, as `payments serve` runs it) with wrk and report"
            " each route's server CPU per request, throughput, latency and SQL statements,"
            " beside a bare Litestar app measured in the same run, and init-payment with one"
            " and two worker processes. Traffic stays on 127.0.0.1."
        ),
    )
    commands.add_argument(
        "--smoke",
        action="store_true",
        help="run every route and scenario briefly (a second each, tiny tables, no warm-up) and"
        " judge no figure: exit 1 if a scenario made no requests or answered a status its route"
        " never should, 2 if the server (or anything else) did not start",
    )
    commands.add_argument(
        "--db",
        metavar="URL",
        help="a PostgreSQL server to run on, e.g. postgresql://127.0.0.1:5432/test; the run"
        " creates and drops a database of its own there (default: SQLite in a temporary folder)",
    )
    commands.add_argument(
        "--duration", type=_positive, help=f"seconds measured per scenario ({_default('duration')})"
    )
    commands.add_argument(
        "--warmup",
        type=_not_negative,
        help=f"seconds of warm-up per scenario; 0: none, SQL counted while measuring"
        f" ({_default('warmup')})",
    )
    commands.add_argument(
        "--connections",
        type=int,
        help=f"concurrent connections wrk keeps open ({_default('connections')})",
    )
    commands.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    commands.add_argument(
        "--stored",
        type=int,
        help=f"payments stored for the last init-payment run ({_default('stored')})",
    )
    commands.add_argument(
        "--baseline-stored",
        type=int,
        help=f"payments stored for the first init-payment run ({_default('baseline_stored')})",
    )
    commands.add_argument(
        "--output",
        type=Path,
        help=f"where to write the results as JSON ({_default('output')})",
    )
    commands.add_argument(
        "--profile",
        action="store_true",
        help="also profile the server with py-spy during extra runs of init-payment, of"
        " the init -> webhook -> refund flow, and of the full refund and the full capture",
    )
    commands.add_argument(
        "--keep", action="store_true", help="keep the work folder (database, logs, scripts)"
    )
    return commands


def options_of(args: argparse.Namespace) -> BenchOptions:
    """The run the arguments ask for: what they leave out, as a run or a smoke run has it."""
    defaults = SMOKE_DEFAULTS if args.smoke else DEFAULTS
    given = {name: getattr(args, name) for name in DEFAULTS}
    chosen = {name: defaults[name] if value is None else value for name, value in given.items()}
    return BenchOptions(
        db=args.db,
        threads=args.threads,
        profile=args.profile,
        keep=args.keep,
        smoke=args.smoke,
        **chosen,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench; print the table and write the JSON."""
    options = options_of(parser().parse_args(argv))
    # Stopped with SIGTERM, still stop the server, the vendor and the database with us.
    signal.signal(signal.SIGTERM, lambda _signal, _frame: sys.exit(128 + signal.SIGTERM))
    try:
        report = run(options)
    except BenchError as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return 2
    print()
    print(render_table(report))
    print()
    print(report.generator)
    machine = report.machine
    print(
        f"machine: {machine['cpus']} CPUs, load average {machine['load_average_1m_before']}"
        f" before and {machine['load_average_1m_after']} after the run; commit"
        f" {machine['git_commit']}; {report.seconds:.0f}s in all"
    )
    for profile in report.profiles:
        print()
        print(render(profile))
    write_json(report, options.output)
    print(f"\nresults written to {options.output}")
    return _smoke_verdict(report) if options.smoke else 0


def _smoke_verdict(report: Report) -> int:
    problems = report.smoke_problems or []
    two_workers = [figure for figure in report.workers if figure.workers == 2]
    requests = sum(figure.requests for figure in [*report.figures, *two_workers])
    if not problems:
        print(
            f"smoke: every scenario ran and answered as its route should"
            f" ({len(report.figures)} scenarios, {requests:,} requests; no figure judged)"
        )
        return 0
    print(f"smoke: FAILED, {len(problems)} problem(s):", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return SMOKE_FAILED
