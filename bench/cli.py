"""The ``python -m bench`` command line."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from bench.processes import BenchError
from bench.profile import render
from bench.report import render_table, write_json
from bench.run import BenchOptions, run

DEFAULT_OUTPUT = Path("bench-results/latest.json")


def _positive(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, not {text}")
    return value


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
        "--db",
        metavar="URL",
        help="a PostgreSQL server to run on, e.g. postgresql://127.0.0.1:5432/test; the run"
        " creates and drops a database of its own there (default: SQLite in a temporary folder)",
    )
    commands.add_argument(
        "--duration", type=_positive, default=10.0, help="seconds measured per scenario (10)"
    )
    commands.add_argument(
        "--warmup", type=_positive, default=3.0, help="seconds of warm-up per scenario (3)"
    )
    commands.add_argument(
        "--connections", type=int, default=32, help="concurrent connections wrk keeps open (32)"
    )
    commands.add_argument("--threads", type=int, default=2, help="wrk threads (2)")
    commands.add_argument(
        "--stored",
        type=int,
        default=1_000_000,
        help="payments stored for the last init-payment run (1000000)",
    )
    commands.add_argument(
        "--baseline-stored",
        type=int,
        default=10_000,
        help="payments stored for the first init-payment run (10000)",
    )
    commands.add_argument(
        "--output",
        type=Path,
        default=DEFAULT_OUTPUT,
        help=f"where to write the results as JSON ({DEFAULT_OUTPUT})",
    )
    commands.add_argument(
        "--profile",
        action="store_true",
        help="also profile the server with py-spy during extra runs of init-payment and of"
        " the init -> webhook -> refund flow",
    )
    commands.add_argument(
        "--keep", action="store_true", help="keep the work folder (database, logs, scripts)"
    )
    return commands


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench; print the table and write the JSON."""
    args = parser().parse_args(argv)
    options = BenchOptions(
        db=args.db,
        duration=args.duration,
        warmup=args.warmup,
        connections=args.connections,
        threads=args.threads,
        stored=args.stored,
        baseline_stored=args.baseline_stored,
        output=args.output,
        profile=args.profile,
        keep=args.keep,
    )
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
    return 0
