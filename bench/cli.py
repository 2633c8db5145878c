"""The ``python -m bench`` command line."""

from __future__ import annotations

import argparse
import signal
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import msgspec
from payments_platform.scoring import ScorePolicy

from bench import console_report, routing_report
from bench.console_bench import ConsoleOptions, run_console
from bench.processes import BenchError
from bench.profile import render
from bench.report import Report, render_table, write_json
from bench.routing_bench import RoutingOptions, run_routing
from bench.routing_world import SCENARIO_KEYS
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
ROUTING = "routing"
ROUTING_DEFAULTS: dict[str, Any] = {
    "seeds": 5,
    "output": Path("bench-results/routing.json"),
}
ROUTING_SMOKE_DEFAULTS: dict[str, Any] = {
    "seeds": 1,
    "output": Path("bench-results/routing-smoke.json"),
}
"""``routing --smoke``: each scenario's timeline compressed to about a minute, one seed."""
CONSOLE = "console"
CONSOLE_DEFAULTS: dict[str, Any] = {
    "payments": 100_000,
    "rounds": 10,
    "warmup": 2,
    "output": Path("bench-results/console.json"),
}
CONSOLE_SMOKE_DEFAULTS: dict[str, Any] = {
    "payments": 300,
    "rounds": 1,
    "warmup": 0,
    "output": Path("bench-results/console-smoke.json"),
}
"""``console --smoke``: a few hundred payments, every page and file asked for once."""


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


def _count(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be 1 or more, not {text}")
    return value


def _whole(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value


def _setting(text: str) -> tuple[str, Any]:
    name, equals, value = text.partition("=")
    if not equals or not name:
        raise argparse.ArgumentTypeError(f"expected NAME=VALUE, not {text!r}")
    try:
        return name, msgspec.json.decode(value)
    except msgspec.DecodeError:
        return name, value


def _default(name: str) -> str:
    return f"{DEFAULTS[name]}; --smoke: {SMOKE_DEFAULTS[name]}"


def _routing_default(name: str) -> str:
    return f"{ROUTING_DEFAULTS[name]}; --smoke: {ROUTING_SMOKE_DEFAULTS[name]}"


def _console_default(name: str) -> str:
    return f"{CONSOLE_DEFAULTS[name]}; --smoke: {CONSOLE_SMOKE_DEFAULTS[name]}"


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
    benchmarks = commands.add_subparsers(
        dest="benchmark",
        title="other benchmarks",
        metavar=f"{{{ROUTING},{CONSOLE}}}",
        help="the routing benchmark (`python -m bench routing --help`) and the operator"
        " console's pages (`python -m bench console --help`); the options above are the"
        " server's and do not apply to them",
    )
    routing = benchmarks.add_parser(
        ROUTING,
        prog="python -m bench routing",
        help="simulate routing strategies on synthetic gateways against the oracle",
        description=(
            "Drive the real routing code (RoutingTable.decide, its score board and circuit"
            " breakers, on a simulated clock) with synthetic gateways whose acceptance rates"
            " change over simulated time, beside the decision engine's published success-rate"
            " algorithm; report each strategy's share of payments taken and its regret against"
            " an oracle, per scenario, and the CPU of a decision and of the score refresh with"
            " 10 gateways. Nothing is started; it runs in this process."
        ),
    )
    routing.add_argument(
        "--smoke",
        action="store_true",
        help="every scenario compressed to about a minute, one seed, short CPU measurements;"
        " no figure judged: exit 1 if a scenario or strategy did not run",
    )
    routing.add_argument(
        "--seeds", type=_count, help=f"seeds per scenario, averaged ({_routing_default('seeds')})"
    )
    routing.add_argument(
        "--scenario",
        action="append",
        choices=SCENARIO_KEYS,
        help="run only this scenario (repeat for several; default: all)",
    )
    routing.add_argument(
        "--policy",
        metavar="NAME=VALUE",
        type=_setting,
        action="append",
        default=[],
        help="a ScorePolicy setting for the adaptive strategy, e.g. --policy max_samples=500"
        " (repeat for several; default: the platform's defaults)",
    )
    routing.add_argument(
        "--output",
        type=Path,
        help=f"where to write the results as JSON ({_routing_default('output')})",
    )
    routing.add_argument(
        "--chart",
        type=Path,
        help="where to write the regret chart as SVG (default: beside the JSON)",
    )
    _console_parser(benchmarks)
    return commands


def _console_parser(benchmarks: Any) -> None:
    console = benchmarks.add_parser(
        CONSOLE,
        prog="python -m bench console",
        help="time every page of the operator console over stored payments",
        description=(
            "Write payments with a week of history (attempts, events, webhooks accepted and"
            " refused, operator actions, refunds, captures, notifications and their"
            " deliveries, jobs) straight into the database, start `payments serve` on it with"
            " an operator account, sign in as a browser does and ask for every console page"
            " and partial: each page's server time (its Server-Timing header), p50 and max,"
            " the client's time, the server's CPU and the size; then each CSV file once. The"
            " issue's target is 0.5 s of server time per page. Traffic stays on 127.0.0.1."
        ),
    )
    console.add_argument(
        "--smoke",
        action="store_true",
        help="a few hundred payments, every page and file asked for once; no figure judged:"
        " exit 1 if one answered other than 200, 2 if the server did not start",
    )
    console.add_argument(
        "--db",
        metavar="URL",
        help="a PostgreSQL server to run on, e.g. postgresql://127.0.0.1:5432/test; the run"
        " creates and drops a database of its own there (default: SQLite in a temporary folder)",
    )
    console.add_argument(
        "--payments",
        type=_count,
        help=f"payments stored ({_console_default('payments')})",
    )
    console.add_argument(
        "--rounds",
        type=_count,
        help=f"timed requests per page ({_console_default('rounds')})",
    )
    console.add_argument(
        "--warmup",
        type=_whole,
        help=f"requests per page before the timed ones ({_console_default('warmup')})",
    )
    console.add_argument(
        "--output",
        type=Path,
        help=f"where to write the results as JSON ({_console_default('output')})",
    )
    console.add_argument(
        "--keep", action="store_true", help="keep the work folder (database, config, server log)"
    )


def console_options_of(args: argparse.Namespace) -> ConsoleOptions:
    """The console run the arguments ask for: what they leave out, as a run or a smoke run
    has it."""
    defaults = CONSOLE_SMOKE_DEFAULTS if args.smoke else CONSOLE_DEFAULTS
    chosen = {
        name: defaults[name] if getattr(args, name) is None else getattr(args, name)
        for name in CONSOLE_DEFAULTS
    }
    return ConsoleOptions(db=args.db, keep=args.keep, smoke=args.smoke, **chosen)


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


def routing_options_of(args: argparse.Namespace) -> RoutingOptions:
    """The routing run the arguments ask for; a ScorePolicy setting that is not one, or is
    out of bounds, is an error of the command line (ValueError)."""
    defaults = ROUTING_SMOKE_DEFAULTS if args.smoke else ROUTING_DEFAULTS
    try:
        policy = msgspec.convert(dict(args.policy), ScorePolicy)
    except msgspec.ValidationError as error:
        raise ValueError(f"--policy: {error}") from None
    return RoutingOptions(
        seeds=defaults["seeds"] if args.seeds is None else args.seeds,
        scenarios=tuple(args.scenario or SCENARIO_KEYS),
        policy=policy,
        smoke=args.smoke,
    )


def main(argv: Sequence[str] | None = None) -> int:
    """Run the bench; print the table and write the JSON."""
    commands = parser()
    args = commands.parse_args(argv)
    if args.benchmark == ROUTING:
        try:
            routing = routing_options_of(args)
        except ValueError as error:
            commands.error(str(error))
        defaults = ROUTING_SMOKE_DEFAULTS if args.smoke else ROUTING_DEFAULTS
        output: Path = args.output or defaults["output"]
        return _routing_main(routing, output, args.chart or output.with_suffix(".svg"))
    # Stopped with SIGTERM, still stop the server, the vendor and the database with us.
    signal.signal(signal.SIGTERM, lambda _signal, _frame: sys.exit(128 + signal.SIGTERM))
    if args.benchmark == CONSOLE:
        return _console_main(console_options_of(args))
    options = options_of(args)
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


def _routing_main(options: RoutingOptions, output: Path, chart: Path) -> int:
    report = run_routing(options)
    print()
    print(routing_report.render_table(report))
    machine = report.machine
    print(
        f"\nmachine: {machine['cpus']} CPUs, load average {machine['load_average_1m_before']}"
        f" before and {machine['load_average_1m_after']} after the run; commit"
        f" {machine['git_commit']}; {report.seconds:.0f}s in all"
    )
    write_json(report, output)
    chart.parent.mkdir(parents=True, exist_ok=True)
    chart.write_text(routing_report.chart(report), encoding="utf-8")
    print(f"\nresults written to {output}, chart to {chart}")
    if not options.smoke:
        return 0
    problems = report.smoke_problems or []
    if not problems:
        print(
            f"smoke: every scenario ran with every strategy ({len(report.scenarios)} scenarios;"
            " no figure judged)"
        )
        return 0
    print(f"smoke: FAILED, {len(problems)} problem(s):", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return SMOKE_FAILED


def _console_main(options: ConsoleOptions) -> int:
    try:
        report = run_console(options)
    except BenchError as error:
        print(f"bench: error: {error}", file=sys.stderr)
        return 2
    print()
    print(console_report.render_table(report))
    machine = report.machine
    print(
        f"\n{report.settings['database_version']}; {report.stored.get('payments', 0):,} payments"
        f" with {sum(report.stored.values()):,} rows in all, written in"
        f" {report.seeding_seconds:.0f}s; server CPU while idle:"
        f" {report.idle_cpu_ms_per_second:.1f} ms/s"
    )
    print(
        f"machine: {machine['cpus']} CPUs, load average {machine['load_average_1m_before']}"
        f" before and {machine['load_average_1m_after']} after the run; commit"
        f" {machine['git_commit']}; {report.seconds:.0f}s in all"
    )
    write_json(report, options.output)
    print(f"\nresults written to {options.output}")
    if not options.smoke:
        missed = [target for target in report.targets if target.met is False]
        print(
            f"target: {len(report.pages) - len(missed)} of {len(report.pages)} pages within"
            f" {console_report.PAGE_TARGET_MS:.0f} ms of server time"
        )
        return 0
    problems = report.smoke_problems or []
    if not problems:
        print(
            f"smoke: every page and file answered 200 ({len(report.pages)} pages,"
            f" {len(report.exports)} files; no figure judged)"
        )
        return 0
    print(f"smoke: FAILED, {len(problems)} problem(s):", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return SMOKE_FAILED
