"""The results of a bench run: figures, ratios to the baseline, targets, the table and the JSON."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import msgspec

from bench.profile import ProfileSummary
from bench.routing_speed import RoutingSpeed
from bench.store_path import StorePathSpeed

BARE = "bare_echo"
ECHO = "echo"
REFUND = "refund"
CAPTURE = "capture"


class PerRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What the database was asked per request (counted in the server during the warm-up)."""

    statements: float
    transactions: float
    durable_commits: float
    """Transactions that wrote: one log sync each (SQLite ``synchronous=FULL``, PostgreSQL
    synchronous commit)."""


class Figure(msgspec.Struct, frozen=True, kw_only=True):
    """One measured route under load, over the measured window (warm-up excluded)."""

    key: str
    label: str
    requests_per_second: float
    """Answers that were not errors, per second."""
    p50_ms: float
    p99_ms: float
    cpu_us_per_request: float
    """CPU the server used (every process and thread of it) over completed requests."""
    database: PerRequest | None = None
    requests: int
    errors: int
    seconds: float
    workers: int = 1
    server_cores: float
    """CPU the server used, in cores (1.0 = one core busy all the time)."""
    vendor_cores: float
    generator_cores: float
    counters: dict[str, int] = msgspec.field(default_factory=dict)
    """What the scenario counted in the answers (transitions, refunds, flows, ...)."""
    stored_before: int | None = None
    """Payments stored when the measurement started."""
    problem: str | None = None
    """Why the figure cannot be trusted, if it cannot."""


class Memory(msgspec.Struct, frozen=True, kw_only=True):
    """The server's resident memory after warm-up and after the run with all payments stored."""

    after_warmup_bytes: int
    after_stored_run_bytes: int
    growth: float
    """``after_stored_run_bytes`` over ``after_warmup_bytes``."""


class Target(msgspec.Struct, frozen=True, kw_only=True):
    """A goal of the issue and whether this run met it; ``met`` is None when not measured."""

    name: str
    goal: str
    measured: str
    met: bool | None


class Report(msgspec.Struct, kw_only=True):
    """Everything one run found."""

    started_at: str
    seconds: float
    machine: dict[str, str]
    settings: dict[str, str]
    figures: list[Figure]
    routing: list[RoutingSpeed]
    memory: Memory | None
    store_path: StorePathSpeed | None = None
    """The store's path in process (``bench/store_path.py``)."""
    workers: list[Figure] = msgspec.field(default_factory=list)
    """init-payment with 1 and with 2 server processes (or why 2 were not measured)."""
    workers_note: str = ""
    targets: list[Target] = msgspec.field(default_factory=list)
    generator: str = ""
    profiles: list[ProfileSummary] = msgspec.field(default_factory=list)
    smoke_problems: list[str] | None = None
    """A smoke run's verdict (``bench/smoke.py``): what went wrong, empty if nothing; None
    for a measured run."""

    def figure(self, key: str) -> Figure | None:
        """The figure measured under ``key``."""
        return next((figure for figure in self.figures if figure.key == key), None)


def middleware_tax_us(report: Report) -> float | None:
    """The platform's echo route's CPU per request minus the bare app's."""
    bare, echo = report.figure(BARE), report.figure(ECHO)
    if bare is None or echo is None:
        return None
    return echo.cpu_us_per_request - bare.cpu_us_per_request


def capture_beside_refund(report: Report) -> str | None:
    """The full capture's CPU per request beside the full refund's, same run: the issue wants
    a capture to cost no more than a refund."""
    capture, refund = report.figure(CAPTURE), report.figure(REFUND)
    if capture is None or refund is None or not refund.cpu_us_per_request:
        return None
    ratio = capture.cpu_us_per_request / refund.cpu_us_per_request
    return (
        f"{capture.cpu_us_per_request:,.0f} us vs {refund.cpu_us_per_request:,.0f} us"
        f" CPU/request ({ratio:.2f} x)"
    )


CPU_TARGETS_US: tuple[tuple[str, str, float], ...] = (
    ("init_payment", "init-payment", 2000),
    ("webhook", "webhook (paid transition)", 700),
    ("refund", "refund (full)", 2000),
    ("get_payment", "GET /payments/{id}", 600),
    ("echo", "echo route, all middleware", 250),
    ("health", "GET /health", 250),
)
"""Server CPU per request the issue sets for each route, in microseconds."""


def evaluate(report: Report, *, backend: str) -> list[Target]:
    """The issue's targets, judged on this run."""
    targets = []
    for key, name, limit in CPU_TARGETS_US:
        figure = report.figure(key)
        goal = f"<= {limit:,.0f} us CPU/request"
        if figure is None:
            targets.append(Target(name=name, goal=goal, measured="-", met=None))
            continue
        targets.append(
            Target(
                name=f"{name} ({backend})",
                goal=goal,
                measured=f"{figure.cpu_us_per_request:,.0f} us",
                met=figure.problem is None and figure.cpu_us_per_request <= limit,
            )
        )
    capture, refund = report.figure(CAPTURE), report.figure(REFUND)
    if capture is not None and refund is not None:
        targets.append(
            Target(
                name=f"capture (full) ({backend})",
                goal="CPU/request <= refund's (same run)",
                measured=capture_beside_refund(report) or "-",
                met=capture.problem is None
                and refund.problem is None
                and capture.cpu_us_per_request <= refund.cpu_us_per_request,
            )
        )
    small, large = report.figure("init_payment"), report.figure("init_payment_stored")
    if small is not None and large is not None:
        grown = large.cpu_us_per_request / small.cpu_us_per_request
        targets.append(
            Target(
                name=f"init-payment with {large.stored_before or 0:,} stored",
                goal=f"CPU within 10% of {small.stored_before or 0:,} stored",
                measured=f"{grown:.3f} x",
                met=large.problem is None and small.problem is None and grown <= 1.1,
            )
        )
    one = next((f for f in report.workers if f.workers == 1), None)
    two = next((f for f in report.workers if f.workers == 2), None)
    if one is not None and two is not None:
        cpu = two.cpu_us_per_request / one.cpu_us_per_request
        targets.append(
            Target(
                name="2 workers: CPU per init-payment",
                goal="within 10% of 1 worker's",
                measured=f"{cpu:.3f} x",
                met=cpu <= 1.1,
            )
        )
        targets.append(
            Target(
                name="2 workers: cores used, init-payment",
                goal="> 1 core, more req/s than 1 worker",
                measured=f"{two.server_cores:.2f} cores, {two.requests_per_second:,.0f} req/s"
                f" ({two.requests_per_second / one.requests_per_second:.2f} x)",
                met=two.server_cores > 1 and two.requests_per_second > one.requests_per_second,
            )
        )
    if report.routing:
        slowest = max(report.routing, key=lambda speed: speed.median_us)
        targets.append(
            Target(
                name=f"routing decision among {slowest.gateways} gateways",
                goal="< 50 us",
                measured=f"{slowest.median_us:.1f} us ({slowest.strategy}, median)",
                met=slowest.median_us < 50,
            )
        )
    growth = report.memory.growth if report.memory else None
    targets.append(
        Target(
            name="server RSS after the stored-payments run",
            goal="within 20% of RSS after warm-up",
            measured="-" if growth is None else f"{growth:.3f} x",
            met=None if growth is None else abs(growth - 1.0) <= 0.2,
        )
    )
    return targets


def verdict(met: bool | None) -> str:
    """A target's verdict as the tables print it."""
    return {True: "met", False: "MISSED", None: "-"}[met]


def _figure_row(figure: Figure) -> tuple[str, ...]:
    notes = ", ".join(f"{name} {value:,}" for name, value in sorted(figure.counters.items()))
    if figure.errors:
        notes = f"{figure.errors:,} errors" + (f", {notes}" if notes else "")
    if figure.problem:
        notes = f"INVALID: {figure.problem}" + (f"; {notes}" if notes else "")
    database = figure.database
    return (
        figure.label,
        f"{figure.cpu_us_per_request:,.0f}",
        f"{figure.requests_per_second:,.0f}",
        f"{figure.p50_ms:.2f}",
        f"{figure.p99_ms:.2f}",
        f"{figure.server_cores:.2f}",
        "-" if database is None else f"{database.statements:.1f}",
        "-" if database is None else f"{database.transactions:.1f}",
        "-" if database is None else f"{database.durable_commits:.1f}",
        notes,
    )


FIGURE_HEADER = (
    "figure",
    "CPU us/req",
    "req/s",
    "p50 ms",
    "p99 ms",
    "cores",
    "stmts",
    "txns",
    "commits",
    "notes",
)


def render_table(report: Report) -> str:
    """The figures, the workers' comparison and the targets, as text tables."""
    rows = [_figure_row(figure) for figure in report.figures]
    lines = [columns(FIGURE_HEADER, rows)]
    tax = middleware_tax_us(report)
    if tax is not None:
        lines.append(
            f"middleware and framework tax (echo route - bare app): {tax:,.0f} us CPU/request"
        )
    beside = capture_beside_refund(report)
    if beside is not None:
        lines.append(f"capture (full) beside refund (full): {beside}")
    lines.append("")
    if report.workers:
        worker_rows = [
            (f"{f.label}, {f.workers} worker(s)", *_figure_row(f)[1:6], "", "", "", "")
            for f in report.workers
        ]
        lines.append(columns(FIGURE_HEADER, worker_rows))
    if report.workers_note:
        lines.append(report.workers_note)
    lines.append("")
    other: list[tuple[str, ...]] = []
    for speed in report.routing:
        other.append(
            (
                f"routing decide, {speed.gateways} gateways ({speed.strategy})",
                f"{speed.median_us:.1f} us/call (best {speed.best_us:.1f})",
            )
        )
    if report.store_path is not None:
        other.append(
            (
                "store path: read locked, change, event, attempts (in process)",
                f"{report.store_path.median_us:.1f} us CPU/payment"
                f" (best {report.store_path.best_us:.1f})",
            )
        )
    if report.memory is not None:
        warm = report.memory.after_warmup_bytes / 2**20
        after = report.memory.after_stored_run_bytes / 2**20
        other.append(
            (
                "server RSS: after warm-up -> after stored run",
                f"{warm:.1f} -> {after:.1f} MB ({report.memory.growth:.3f} x)",
            )
        )
    if other:
        lines.append(columns(("measured in passing", "value"), other))
        lines.append("")
    if report.targets:
        target_rows = [(t.name, t.goal, t.measured, verdict(t.met)) for t in report.targets]
        lines.append(columns(("target", "goal", "measured", "verdict"), target_rows))
    return "\n".join(lines).rstrip("\n")


def columns(header: tuple[str, ...], rows: Sequence[tuple[str, ...]]) -> str:
    """A text table: the first column left-aligned, the last free, the others right-aligned."""
    widths = [max(len(row[index]) for row in [header, *rows]) for index in range(len(header))]

    def line(cells: tuple[str, ...]) -> str:
        first, *rest = cells
        parts = [first.ljust(widths[0])]
        parts += [cell.rjust(width) for cell, width in zip(rest[:-1], widths[1:-1], strict=True)]
        parts.append(rest[-1])
        return "  ".join(parts).rstrip()

    rule = "  ".join("-" * width for width in widths)
    return "\n".join([line(header), rule, *(line(row) for row in rows)])


def write_json(report: msgspec.Struct, path: Path) -> None:
    """Write a report as indented JSON, creating the folder."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(msgspec.json.format(msgspec.json.encode(report), indent=2) + b"\n")
